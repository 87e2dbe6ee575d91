"""`loraplane pipeline start`: upload a dataset (and the training code) and start the stack's fine-tuning pipeline."""
from .. import cli_options as opt  # light: argparse, datetime, re
from ..cli_parsers import adapter_name, number, positive_int, seed

# flag, its type, the pipeline parameter it sets (pipelines/build_pipeline.py)
HYPERPARAMETERS = (("--rank", positive_int, "Rank"), ("--alpha", positive_int, "Alpha"),
                   ("--epochs", positive_int, "Epochs"), ("--lr", number(0, above=True), "LearningRate"),
                   ("--target-modules", str, "TargetModules"), ("--max-length", positive_int, "MaxLength"),
                   ("--seed", seed, "Seed"), ("--instance-type", str, "TrainingInstanceType"),
                   ("--processing-instance-type", str, "ProcessingInstanceType"),
                   ("--max-eval-loss", number(0, above=True), "MaxEvalLoss"))


def add_parser(subparsers) -> None:
    pipeline = subparsers.add_parser("pipeline", help="the stack's fine-tuning pipeline").add_subparsers(
        dest="action", required=True)
    ps = pipeline.add_parser("start", help="upload a dataset (and the training code) and start a fine-tuning run")
    opt.option(ps, "--adapter", "--name", required=True, type=adapter_name, metavar="NAME",
               help="the adapter to train: the result is uploaded to adapters/<NAME>/")
    ps.add_argument("--data", required=True, metavar="JSONL", help="training JSONL (prompt/completion lines)")
    ps.add_argument("--eval-data", metavar="JSONL", help="held-out JSONL (default: every 5th line of --data)")
    ps.add_argument("--base-model-uri", metavar="S3_URI",
                    help="s3:// Hugging Face directory (default: the base model the endpoint serves)")
    ps.add_argument("--base-model-name", metavar="ID",
                    help="base_model_name_or_path (default: the served base model's name)")
    for flag, kind, _ in HYPERPARAMETERS:
        ps.add_argument(flag, type=kind, help="pipeline parameter (default: the pipeline's)")
    opt.stack_name(ps)
    opt.output(ps, "text", "json", help="text: the pipeline execution ARN; json: {pipeline_execution_arn, "
                                        "pipeline, adapter}")
    ps.set_defaults(handler=start_run)


def start_run(args) -> int:
    import sys

    import boto3
    from loraplane_training.dataset import DatasetError

    from ..cli_errors import Usage
    from ..cli_output import render
    from ..pipeline_run import RunRequest, start
    from ..progress import Steps
    from ..stack import describe, stack_name

    session = boto3.Session()
    outputs, _ = describe(stack_name(args.stack_name), session)
    hyper = {param: getattr(args, flag[2:].replace("-", "_")) for flag, _, param in HYPERPARAMETERS}
    request = RunRequest(args.adapter, args.data, args.eval_data, args.base_model_uri, args.base_model_name, hyper)
    try:
        arn = start(session, outputs, request, steps=Steps())
    except DatasetError as e:
        raise Usage(str(e), "Fix the dataset: one {\"prompt\": ..., \"completion\": ...} object per line") from None
    result = {"pipeline_execution_arn": arn, "pipeline": outputs["TrainingPipelineName"], "adapter": args.adapter}
    print(render(result, args.output, text=arn))
    print(f"# follow it: aws sagemaker list-pipeline-execution-steps --pipeline-execution-arn {arn}", file=sys.stderr)
    print(f"# experiment: {outputs['TrainingPipelineName']}, trial {args.adapter}-<execution id> "
          "(SageMaker Studio > Experiments)", file=sys.stderr)
    return 0
