"""`loraplane redrive`: start the events waiting in the stack's dead-letter queues again."""
from .. import cli_options as opt  # light: argparse, datetime, re
from ..cli_parsers import whole


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("redrive", help="start the events in the dead-letter queues again (ingest, deployment)")
    p.add_argument("--queue", choices=["ingest", "deploy", "all"], default="all", help="which dead-letter queue")
    p.add_argument("--limit", type=whole(1, 100000), default=1000, metavar="N",
                   help="at most this many messages per queue")
    opt.stack_name(p)
    opt.output(p)
    p.set_defaults(handler=redrive)


def redrive(args) -> int:
    import boto3

    from .. import redrive as r
    from ..stack import describe, stack_name

    session = boto3.Session()
    outputs, _ = describe(stack_name(args.stack_name), session)
    sqs, sfn = session.client("sqs"), session.client("stepfunctions")
    results = []
    for queue in (["ingest", "deploy"] if args.queue == "all" else [args.queue]):
        results += r.redrive(sqs, sfn, outputs, queue, args.limit)
    print(r.render(results, args.output))
    return 1 if any(x.execution is None for x in results) else 0
