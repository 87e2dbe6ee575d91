"""`loraplane doctor`: a pre-flight of the account and the deployed stack, one line per check."""
from .. import cli_options as opt  # light: argparse, datetime, re


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "doctor", help="pre-flight of the account and the stack: credentials, quota, image, storage, registry, runtime")
    opt.stack_name(p)
    opt.output(p)
    p.set_defaults(handler=doctor)


def doctor(args) -> int:
    import boto3

    from ..doctor import run as d
    from ..stack import stack_name

    checks = d.run(boto3.Session(), stack_name(args.stack_name))
    print(d.render(checks, args.output))
    return 1 if d.failed(checks) else 0
