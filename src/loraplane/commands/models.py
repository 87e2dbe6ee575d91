"""`loraplane models register-base`: a Hugging Face model directory (or S3 copy) as a base model package."""
import sys


def add_parser(subparsers) -> None:
    models = subparsers.add_parser("models", help="base models").add_subparsers(dest="action", required=True)
    rb = models.add_parser("register-base", help="register a Hugging Face model directory as a base model package")
    src = rb.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-dir")
    src.add_argument("--s3-uri")
    rb.add_argument("--name", help="base model id adapters must name in base_model_name_or_path (default: folder name)")
    rb.add_argument("--image", help="serving image URI (default: the stack's ServingImageUri output - its own "
                    "image, <ServingImageRepositoryUri>:latest, unless the parameter names another)")
    rb.add_argument("--approve", action="store_true", help="approve it right away")
    rb.add_argument("--stack-name")
    rb.set_defaults(handler=register_base)


def register_base(args) -> int:
    import boto3

    from ..base_models import register
    from ..dev.tiny import base_name_of
    from ..stack import describe, stack_name

    session = boto3.Session()
    outputs, params = describe(stack_name(args.stack_name), session)
    name = args.name or (base_name_of(args.model_dir) if args.model_dir else None)
    if not name:
        print("error: --name is required with --s3-uri", file=sys.stderr)
        return 2
    image = args.image or outputs.get("ServingImageUri") or params.get("ServingImageUri", "")  # output: resolved
    arn = register(session, outputs, name, image,
                   model_dir=args.model_dir, s3_uri=args.s3_uri, approve=args.approve)
    print(arn)
    return 0
