"""`loraplane models register-base`: a Hugging Face model directory (or S3 copy) as a base model package."""
from .. import cli_options as opt  # light: argparse, datetime, re


def add_parser(subparsers) -> None:
    models = subparsers.add_parser("models", help="base models").add_subparsers(dest="action", required=True)
    rb = models.add_parser("register-base", help="register a Hugging Face model directory as a base model package")
    src = rb.add_mutually_exclusive_group(required=True)
    opt.option(rb, "--base-model-dir", "--model-dir", group=src, metavar="DIR",
               help=opt.BASE_MODEL_DIR_HELP + ": hashed, then uploaded to the stack's bucket")
    opt.option(rb, "--base-model-uri", "--s3-uri", group=src, metavar="S3_URI",
               help="an s3:// copy of such a directory, registered as it is (then --base-model-name is needed)")
    opt.option(rb, "--base-model-name", "--name", metavar="ID",
               help="base model id adapters must name in base_model_name_or_path (default: the "
                    "--base-model-dir folder's name)")
    opt.option(rb, "--image-uri", "--image", metavar="URI",
               help="serving image URI (default: the stack's ServingImageUri output - its own image, "
                    "<ServingImageRepositoryUri>:latest, unless the parameter names another)")
    rb.add_argument("--approve", action="store_true", help="approve it right away")
    opt.stack_name(rb)
    opt.output(rb, "text", "json",
               help="text: the model package ARN; json: {model_package_arn, base_model, image, approved}")
    rb.set_defaults(handler=register_base)


def register_base(args) -> int:
    import boto3

    from ..base_models import register
    from ..cli_errors import Usage
    from ..cli_output import render
    from ..cli_parsers import check_model_dir
    from ..dev.tiny import base_name_of
    from ..progress import Steps
    from ..stack import describe, stack_name

    if args.base_model_dir:
        check_model_dir(args.base_model_dir)
    if args.base_model_uri and not args.base_model_uri.startswith("s3://"):
        raise Usage(f"--base-model-uri {args.base_model_uri!r} is not an s3:// URI",
                    "Pass s3://bucket/prefix/ of the model directory, or --base-model-dir for a local one")
    name = args.base_model_name or (base_name_of(args.base_model_dir) if args.base_model_dir else None)
    if not name:
        raise Usage("--base-model-uri needs --base-model-name", "Pass the model id adapters name, e.g. "
                    "--base-model-name meta-llama/Llama-3.1-8B-Instruct")
    session = boto3.Session()
    outputs, params = describe(stack_name(args.stack_name), session)
    image = args.image_uri or outputs.get("ServingImageUri") or params.get("ServingImageUri", "")  # output: resolved
    arn = register(session, outputs, name, image, model_dir=args.base_model_dir, s3_uri=args.base_model_uri,
                   approve=args.approve, steps=Steps())
    result = {"model_package_arn": arn, "base_model": name, "image": image, "approved": args.approve}
    print(render(result, args.output, text=arn))
    return 0
