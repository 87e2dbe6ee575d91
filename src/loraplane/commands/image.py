"""`loraplane image build`: build the serving image with the stack's CodeBuild project (no local Docker)."""
from .. import cli_options as opt  # light: argparse, datetime, re
from ..cli_parsers import poll_seconds


def add_parser(subparsers) -> None:
    image = subparsers.add_parser("image", help="the serving image").add_subparsers(dest="action", required=True)
    b = image.add_parser("build", help="build and push the serving image with the stack's CodeBuild project")
    b.add_argument("--no-wait", action="store_true", help="start the build and return (default: follow it to the end)")
    b.add_argument("--poll-seconds", type=poll_seconds, default=10, metavar="SECONDS",
                   help="how often to check the build, 1-300")
    opt.stack_name(b)
    opt.output(b)
    b.set_defaults(handler=build)


def build(args) -> int:
    """Errors the user can fix (no stack, credentials, a refused StartBuild) are raised: the CLI's
    error layer (cli_errors) prints them as one line."""
    import boto3

    from ..image import build as b
    from ..stack import describe, stack_name

    from ..cli_errors import NotFound
    from ..image.dockerfile import DOCKERFILE

    if not DOCKERFILE.is_file():  # an installed copy of loraplane without the repository next to it
        raise NotFound(f"no serving image Dockerfile at {DOCKERFILE}",
                       "Run it from a checkout of the repository installed with `make install` (pip install -e .)")
    name, session = stack_name(args.stack_name), boto3.Session()
    outputs, _ = describe(name, session)
    b.check_outputs(outputs, name)
    source = b.source_zip()
    s3, codebuild = session.client("s3"), session.client("codebuild")
    bucket = outputs["AdapterBucketName"]
    uploaded = b.upload(s3, bucket, source)
    b.stderr(f"source: {len(source.files)} files, {len(source.data) / 1024:.0f} KiB -> s3://{bucket}/{source.key}"
             + ("" if uploaded else " (already there)"))
    started = b.start(codebuild, outputs, source)
    b.stderr(f"started {started['id']} (project {outputs['ImageBuildProject']}, tag {source.tag})")
    if args.no_wait:
        print(b.render(b.result(started, outputs, source), args.output))
        return 0
    result = b.result(b.follow(codebuild, started["id"], b.stderr, interval=args.poll_seconds), outputs, source)
    print(b.render(result, args.output))
    if result.status == "SUCCEEDED":
        b.stderr(f"pushed {result.image_uri} and {result.latest_uri}")
        return 0
    for text in b.log_tail(session.client("logs"), result.logs):
        b.stderr(f"  | {text}")
    b.stderr(b.failure_line(result))
    return 1
