"""`loraplane demo`: the whole journey on the local stack (loraplane.demo)."""


def add_parser(subparsers) -> None:
    demo = subparsers.add_parser("demo", help="the whole journey on the local stack: ingest, approvals, the endpoint")
    demo.set_defaults(handler=run_demo)


def run_demo(args) -> int:
    from ..demo import run

    return run()
