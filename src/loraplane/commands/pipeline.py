"""`loraplane pipeline start`: upload a dataset (and the training code) and start the stack's fine-tuning pipeline."""


def add_parser(subparsers) -> None:
    pipeline = subparsers.add_parser("pipeline", help="the stack's fine-tuning pipeline").add_subparsers(
        dest="action", required=True)
    ps = pipeline.add_parser("start", help="upload a dataset (and the training code) and start a fine-tuning run")
    ps.add_argument("--name", required=True, help="adapter name: the result is uploaded to adapters/<name>/")
    ps.add_argument("--data", required=True, help="training JSONL (prompt/completion lines)")
    ps.add_argument("--eval-data", help="held-out JSONL (default: every 5th line of --data)")
    ps.add_argument("--base-model-uri", help="s3:// Hugging Face directory (default: the base model the endpoint serves)")
    ps.add_argument("--base-model-name", help="base_model_name_or_path (default: the served base model's name)")
    for flag, kind in (("--rank", int), ("--alpha", int), ("--epochs", int), ("--lr", float), ("--target-modules", str),
                       ("--max-length", int), ("--seed", int), ("--instance-type", str),
                       ("--processing-instance-type", str), ("--max-eval-loss", float)):
        ps.add_argument(flag, type=kind, help="pipeline parameter (default: the pipeline's)")
    ps.add_argument("--stack-name", help="default: $LORAPLANE_STACK or loraplane-local")
    ps.set_defaults(handler=start_run)


def start_run(args) -> int:
    import boto3

    from ..pipeline_run import RunRequest, start
    from ..stack import describe, stack_name

    session = boto3.Session()
    outputs, _ = describe(stack_name(args.stack_name), session)
    hyper = {"Rank": args.rank, "Alpha": args.alpha, "Epochs": args.epochs, "LearningRate": args.lr,
             "TargetModules": args.target_modules, "MaxLength": args.max_length, "Seed": args.seed,
             "TrainingInstanceType": args.instance_type, "ProcessingInstanceType": args.processing_instance_type,
             "MaxEvalLoss": args.max_eval_loss}
    arn = start(session, outputs, RunRequest(args.name, args.data, args.eval_data, args.base_model_uri,
                                             args.base_model_name, hyper))
    print(arn)
    print(f"# follow it: aws sagemaker list-pipeline-execution-steps --pipeline-execution-arn {arn}")
    print(f"# experiment: {outputs['TrainingPipelineName']}, trial {args.name}-<execution id> (SageMaker Studio > Experiments)")
    return 0
