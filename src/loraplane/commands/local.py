"""`loraplane local up`: the stack on the embedded AWS emulator, in the foreground."""
import signal
import threading


def add_parser(subparsers) -> None:
    local = subparsers.add_parser("local", help="the embedded AWS emulator").add_subparsers(dest="action", required=True)
    p = local.add_parser("up", help="run the stack locally in the foreground and print the environment to use")
    p.add_argument("--port", type=int, default=4566)
    p.add_argument("--no-base-model", action="store_true", help="do not register and approve the tiny base model")
    p.set_defaults(handler=up)


def up(args) -> int:
    from .. import local

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
