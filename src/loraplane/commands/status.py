"""`loraplane status`: the stack, endpoint, base model, live adapters, lock, executions and failures at a glance."""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("status", help="what serves now: endpoint, base model, live adapters, lock, executions, "
                                             "dead letters, recent failures")
    p.add_argument("--stack-name", help="default: $LORAPLANE_STACK or loraplane-local")
    p.add_argument("--output", choices=["table", "json"], default="table")
    p.add_argument("--failures", type=int, default=5, metavar="N", help="the last N failed executions (default: 5)")
    p.set_defaults(handler=status)


def status(args) -> int:
    import boto3

    from .. import status as st
    from ..stack import stack_name

    report = st.collect(boto3.Session(), stack_name(args.stack_name), failures_limit=max(0, args.failures))
    print(st.render(report, args.output))
    return 0
