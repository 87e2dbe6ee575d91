"""`loraplane usage`: tokens in and out per adapter per hour (CloudWatch, from the serving container's metrics)."""
from .. import cli_options as opt  # light: argparse, datetime, re


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("usage", help="requests, prompt and generated tokens per adapter per hour "
                                            "(CloudWatch; hourly sums kept 455 days)")
    p.add_argument("--adapter", metavar="NAME", help="one adapter, _base for the base model (default: all)")
    p.add_argument("--since", default="7d", help="how far back: <N>h, <N>d or <N>w, 1h..455d")
    opt.stack_name(p)
    opt.output(p, "table", "json", "csv",
               help="table: totals per adapter; json: totals and hours; csv: one row per adapter and hour")
    p.set_defaults(handler=usage)


def usage(args) -> int:
    import boto3

    from .. import usage as u
    from ..stack import stack_name

    since = u.parse_since(args.since)
    adapter = u.check_adapter(args.adapter) if args.adapter is not None else None
    report = u.collect(boto3.Session(), stack_name(args.stack_name), since, adapter)
    print(u.render(report, args.output))
    return 0
