"""`loraplane status`: the stack, endpoint, base model, live adapters, lock, executions and failures at a glance."""
from .. import cli_options as opt  # light: argparse, datetime, re
from ..cli_parsers import whole


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("status", help="what serves now: endpoint, base model, live adapters, lock, executions, "
                                             "dead letters, recent failures")
    opt.stack_name(p)
    opt.output(p)
    p.add_argument("--failures", type=whole(0, 100), default=5, metavar="N", help="the last N failed executions")
    p.set_defaults(handler=status)


def status(args) -> int:
    import boto3

    from .. import status as st
    from ..stack import stack_name

    report = st.collect(boto3.Session(), stack_name(args.stack_name), failures_limit=args.failures)
    print(st.render(report, args.output))
    return 0
