"""The `loraplane` command."""
import argparse
import os
import signal
import sys
import threading


def cmd_local_up(args) -> int:
    from . import local

    stack = local.up(port=args.port)
    base = None if args.no_base_model else local.register_tiny_base(stack)
    env = stack.emulator.environment() | {"LORAPLANE_STACK": local.LOCAL_STACK}
    print(f"LoRA Plane local stack '{local.LOCAL_STACK}' is up ({stack.deploy_seconds:.1f}s). Use it with:\n")
    for key, value in env.items():
        print(f"export {key}={value}")
    print(f"\n# adapter bucket : {stack.outputs['AdapterBucketName']}")
    print(f"# model packages : {stack.outputs['AdapterModelPackageGroupName']} (adapters), "
          f"{stack.outputs['BaseModelPackageGroupName']} (base)")
    endpoint = stack.outputs["EndpointName"]
    if base:
        print(f"# base model     : tiny-llama, approved ({base});")
        print(f"#                  the endpoint {endpoint} comes up in about a minute (aws sagemaker describe-endpoint)")
    print(f"# try            : aws s3 cp --recursive my-adapter/ s3://{stack.outputs['AdapterBucketName']}/adapters/my-adapter/")
    print(f"#                  aws sagemaker list-model-packages --model-package-group-name "
          f"{stack.outputs['AdapterModelPackageGroupName']}")
    print("#                  aws sagemaker update-model-package --model-package-arn ARN --model-approval-status Approved")
    print("#                  loraplane adapters list --json   (the invoke arguments of each live adapter)")
    print(f"#                  aws sagemaker-runtime invoke-endpoint --endpoint-name {endpoint} "
          "--inference-component-name NAME --content-type application/json \\")
    print("#                      --body '{\"inputs\": \"Hello\"}' out.json   (AWS CLI v2: --cli-binary-format raw-in-base64-out)")
    print("\nPress Ctrl-C to stop.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    stack.emulator.stop()
    return 0


def cmd_adapters_list(args) -> int:
    import boto3

    from .adapters_list import collect, render
    from .stack import describe, stack_name

    session = boto3.Session()
    outputs, _ = describe(stack_name(args.stack_name), session)
    table = session.resource("dynamodb").Table(outputs["CatalogTableName"])
    print(render(collect(table, session.client("sagemaker"), outputs.get("EndpointName"),
                                outputs.get("ServingMode", "inference-components")), args.json))
    return 0


def cmd_models_register_base(args) -> int:
    import boto3

    from .base_models import register
    from .dev.tiny import base_name_of
    from .stack import describe, stack_name

    session = boto3.Session()
    outputs, params = describe(stack_name(args.stack_name), session)
    name = args.name or (base_name_of(args.model_dir) if args.model_dir else None)
    if not name:
        print("error: --name is required with --s3-uri", file=sys.stderr)
        return 2
    arn = register(session, outputs, name, args.image or params.get("ServingImageUri", ""),
                   model_dir=args.model_dir, s3_uri=args.s3_uri, approve=args.approve)
    print(arn)
    return 0


def cmd_reconcile(args) -> int:
    """Runs the scheduled reconciler now (the emulator has no scheduler) and prints its report."""
    import json

    import boto3

    from .stack import describe, stack_name

    session = boto3.Session()
    outputs, _ = describe(stack_name(args.stack_name), session)
    resp = session.client("lambda").invoke(FunctionName=outputs["ReconcileFunctionName"],
                                           Payload=json.dumps({"repair": not args.report_only}).encode())
    payload = json.loads(resp["Payload"].read() or b"null")
    print(json.dumps(payload, indent=2))
    return 1 if resp.get("FunctionError") else 0


def cmd_dev_tiny_model(args) -> int:
    from .dev.tiny import build_tiny_model

    print(build_tiny_model(args.dir, seed=args.seed))
    return 0


def cmd_dev_tiny_adapter(args) -> int:
    from .dev.tiny import build_tiny_adapter

    print(build_tiny_adapter(args.base, args.out, seed=args.seed, rank=args.rank,
                             target_modules=tuple(args.target_modules.split(",")), base_name=args.base_name))
    return 0


def cmd_serve(args) -> int:
    from .serve import ServeOptions, run, sagemaker_options

    if args.sagemaker:
        run(sagemaker_options(dict(os.environ)))
    if not args.model:
        print("error: --model is required", file=sys.stderr)
        return 2
    run(ServeOptions(
        model_dir=args.model, adapter_source=args.adapter_source, adapter_manifest=args.adapter_manifest,
        port=args.port, host=args.host,
        base_name=args.base_name, dtype=args.dtype, max_lora_rank=args.max_lora_rank,
        gpu_adapter_memory=args.gpu_adapter_memory, cpu_adapter_memory=args.cpu_adapter_memory,
        max_loras=args.max_loras, max_cpu_loras=args.max_cpu_loras, disk_cache=args.disk_cache,
        pinned=tuple(n for n in (args.pin or "").split(",") if n), max_model_len=args.max_model_len,
        preload=tuple(n for n in (args.preload or "").split(",") if n),
    ))
    return 0


def cmd_project_publish(args) -> int:
    import json
    from pathlib import Path

    import boto3

    from .project.publish import Options, publish

    routes = ("service-catalog", "s3") if args.route == "both" else (args.route,)
    if "service-catalog" in routes and not args.studio_role:
        print("error: --studio-role is required for the Service Catalog route", file=sys.stderr)
        return 2
    report = publish(boto3.Session(), Options(
        studio_roles=args.studio_role or [], routes=routes, org_stack=args.org_stack_name,
        launch_role_name=args.launch_role_name, portfolio_name=args.portfolio_name, product_name=args.product_name,
        owner=args.owner, version=args.version, studio_origin=args.studio_origin, domain_id=args.domain_id,
        tag_domain=args.tag_domain, sam_build=not args.no_build, build_dir=Path(args.build_dir) if args.build_dir else None))
    print(json.dumps(report.as_dict(), indent=2))
    if report.domain_tag and not report.domain_tag["applied"]:
        print(f"# Studio lists S3 templates once the domain carries the tag: aws sagemaker add-tags --resource-arn "
              f"<domain arn> --tags Key={report.domain_tag['key']},Value={report.domain_tag['value']}", file=sys.stderr)
    return 0


def cmd_project_delete(args) -> int:
    import json

    import boto3

    from .project.delete import delete, running_deployments
    from .stack import describe

    session = boto3.Session()
    outputs, _ = describe(args.stack_name, session)
    if running_deployments(session, outputs) and not args.force:
        print("error: a deployment is running; wait for it (or pass --force: the teardown waits for the endpoint lock)",
              file=sys.stderr)
        return 1
    print(json.dumps({"deleted": delete(session, args.stack_name, timeout_s=args.timeout)}, indent=2))
    return 0


def cmd_train(args) -> int:
    from .train import run

    return run(args)


def cmd_pipeline_start(args) -> int:
    import boto3

    from .pipeline_run import RunRequest, start
    from .stack import describe, stack_name

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


def cmd_demo(args) -> int:
    from .demo import run

    return run()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="loraplane", description="LoRA Plane: many LoRA adapters on one SageMaker endpoint.")
    sub = p.add_subparsers(dest="command", required=True)

    local = sub.add_parser("local", help="the embedded AWS emulator").add_subparsers(dest="action", required=True)
    up = local.add_parser("up", help="run the stack locally in the foreground and print the environment to use")
    up.add_argument("--port", type=int, default=4566)
    up.add_argument("--no-base-model", action="store_true", help="do not register and approve the tiny base model")
    up.set_defaults(func=cmd_local_up)

    adapters = sub.add_parser("adapters", help="adapters in the catalog").add_subparsers(dest="action", required=True)
    ls = adapters.add_parser("list", help="versions, states and rejection reasons")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--stack-name", help="default: $LORAPLANE_STACK or loraplane-local")
    ls.set_defaults(func=cmd_adapters_list)

    models = sub.add_parser("models", help="base models").add_subparsers(dest="action", required=True)
    rb = models.add_parser("register-base", help="register a Hugging Face model directory as a base model package")
    src = rb.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-dir")
    src.add_argument("--s3-uri")
    rb.add_argument("--name", help="base model id adapters must name in base_model_name_or_path (default: folder name)")
    rb.add_argument("--image", help="serving image URI (default: the stack's ServingImageUri)")
    rb.add_argument("--approve", action="store_true", help="approve it right away")
    rb.add_argument("--stack-name")
    rb.set_defaults(func=cmd_models_register_base)

    dev = sub.add_parser("dev", help="developer tools").add_subparsers(dest="action", required=True)
    tm = dev.add_parser("tiny-model", help="build a tiny Llama-style base model offline")
    tm.add_argument("dir")
    tm.add_argument("--seed", type=int, default=0)
    tm.set_defaults(func=cmd_dev_tiny_model)
    ta = dev.add_parser("tiny-adapter", help="build a PEFT LoRA adapter for a base model offline")
    ta.add_argument("--base", required=True)
    ta.add_argument("--out", required=True)
    ta.add_argument("--seed", type=int, default=0)
    ta.add_argument("--rank", type=int, default=8)
    ta.add_argument("--target-modules", default="q_proj,v_proj")
    ta.add_argument("--base-name", help="base_model_name_or_path to record (default: the base folder's name)")
    ta.set_defaults(func=cmd_dev_tiny_adapter)

    serve = sub.add_parser("serve", help="the serving container's server (vLLM + adapters on demand), outside Docker")
    serve.add_argument("--model", help="Hugging Face model directory of the base model")
    serve.add_argument("--adapter-source", help="s3://bucket/prefix/ or a directory with one folder per adapter")
    serve.add_argument("--adapter-manifest", metavar="URI",
                       help="on-demand mode: s3://bucket/live/manifest.json or a file; only the adapters (and "
                            "versions) it names are served (re-read every $LORAPLANE_MANIFEST_TTL_SECONDS, default 5)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--base-name", help="base model id adapters must name (default: the model folder's name)")
    serve.add_argument("--dtype", default="auto", help="auto: bfloat16 on a GPU, float32 on the CPU")
    serve.add_argument("--max-lora-rank", type=int, default=64)
    serve.add_argument("--gpu-adapter-memory", help="budget for GPU adapter slots, e.g. 2GiB (see docs/serving.md)")
    serve.add_argument("--cpu-adapter-memory", help="budget for the CPU adapter tier")
    serve.add_argument("--max-loras", type=int, help="GPU adapter slots (overrides --gpu-adapter-memory)")
    serve.add_argument("--max-cpu-loras", type=int, help="CPU-tier adapters (overrides --cpu-adapter-memory)")
    serve.add_argument("--disk-cache", default="10GiB", help="bytes of adapters kept on local disk")
    serve.add_argument("--pin", help="comma-separated adapters never evicted from the disk cache; loaded at start")
    serve.add_argument("--preload", help="comma-separated adapters fetched and loaded at start")
    serve.add_argument("--max-model-len", type=int)
    serve.add_argument("--sagemaker", action="store_true", help="take everything from SageMaker's environment")
    serve.set_defaults(func=cmd_serve)

    rec = sub.add_parser("reconcile", help="compare the registry with the endpoint now; report and repair drift")
    rec.add_argument("--report-only", action="store_true", help="report drift without repairing it")
    rec.add_argument("--stack-name", help="default: $LORAPLANE_STACK or loraplane-local")
    rec.set_defaults(func=cmd_reconcile)
    project = sub.add_parser("project", help="the stack as a SageMaker Project template").add_subparsers(
        dest="action", required=True)
    pub = project.add_parser("publish", help="publish the template (Service Catalog product and/or S3 template)")
    pub.add_argument("--studio-role", action="append", metavar="ARN",
                     help="Studio execution role given access to the portfolio (repeat for several)")
    pub.add_argument("--route", choices=["both", "service-catalog", "s3"], default="both")
    pub.add_argument("--org-stack-name", default="loraplane-project-template",
                     help="stack of project_template/template.yaml (artifact bucket, launch role)")
    pub.add_argument("--launch-role-name", default="LoRAPlaneProjectLaunchRole")
    pub.add_argument("--portfolio-name", default="LoRA Plane")
    pub.add_argument("--product-name", default="LoRA Plane multi-LoRA endpoint")
    pub.add_argument("--owner", default="Platform team")
    pub.add_argument("--version", help="provisioning artifact name (default: sha-<hash of the template>)")
    pub.add_argument("--studio-origin", default="https://*.sagemaker.aws", help="origin the bucket CORS rule allows")
    pub.add_argument("--domain-id", help="SageMaker domain whose S3 templates location to set")
    pub.add_argument("--tag-domain", action="store_true", help="apply the domain tag (else it is printed)")
    pub.add_argument("--no-build", action="store_true", help="package the source folders without `sam build` "
                                                              "(the emulator only: the layer lacks its dependencies)")
    pub.add_argument("--build-dir", help="where `sam build` writes (default: a temporary folder)")
    pub.set_defaults(func=cmd_project_publish)
    dele = project.add_parser("delete", help="tear down the endpoint the control plane created, then delete the stack")
    dele.add_argument("--stack-name", required=True)
    dele.add_argument("--timeout", type=float, default=3600, help="seconds to wait for everything to go")
    dele.add_argument("--force", action="store_true", help="even while a deployment runs")
    dele.set_defaults(func=cmd_project_delete)

    from .train import add_arguments as train_arguments

    tr = sub.add_parser("train", help="fine-tune a LoRA adapter with PEFT on a prompt/completion JSONL file")
    train_arguments(tr)
    tr.set_defaults(func=cmd_train)
    pipeline = sub.add_parser("pipeline", help="the stack's fine-tuning pipeline").add_subparsers(dest="action", required=True)
    ps = pipeline.add_parser("start", help="upload a dataset (and the training code) and start a fine-tuning run")
    ps.add_argument("--name", required=True, help="adapter name: the result is uploaded to adapters/<name>/")
    ps.add_argument("--data", required=True, help="training JSONL (prompt/completion lines)")
    ps.add_argument("--eval-data", help="held-out JSONL (default: every 5th line of --data)")
    ps.add_argument("--base-model-uri", help="s3:// Hugging Face directory (default: the approved base model's)")
    ps.add_argument("--base-model-name", help="base_model_name_or_path (default: the approved base model's name)")
    for flag, kind in (("--rank", int), ("--alpha", int), ("--epochs", int), ("--lr", float), ("--target-modules", str),
                       ("--max-length", int), ("--seed", int), ("--instance-type", str),
                       ("--processing-instance-type", str), ("--max-eval-loss", float)):
        ps.add_argument(flag, type=kind, help="pipeline parameter (default: the pipeline's)")
    ps.add_argument("--stack-name", help="default: $LORAPLANE_STACK or loraplane-local")
    ps.set_defaults(func=cmd_pipeline_start)
    demo = sub.add_parser("demo", help="the whole journey on the local stack: ingest, approvals, the endpoint")
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
