"""`loraplane reconcile`: run the scheduled reconciler now (the emulator has no scheduler), print its report."""
from .. import cli_options as opt  # light: argparse, datetime, re


def add_parser(subparsers) -> None:
    rec = subparsers.add_parser("reconcile", help="compare the registry with the endpoint now; report and repair drift")
    rec.add_argument("--report-only", action="store_true", help="report drift without repairing it")
    opt.stack_name(rec)
    opt.output(rec, "json", "table")
    rec.set_defaults(handler=reconcile)


def reconcile(args) -> int:
    """Runs the scheduled reconciler now (the emulator has no scheduler) and prints its report."""
    import json

    import boto3

    from ..cli_output import render
    from ..stack import describe, stack_name

    session = boto3.Session()
    outputs, _ = describe(stack_name(args.stack_name), session)
    resp = session.client("lambda").invoke(FunctionName=outputs["ReconcileFunctionName"],
                                           Payload=json.dumps({"repair": not args.report_only}).encode())
    payload = json.loads(resp["Payload"].read() or b"null")
    print(render(payload, args.output))
    return 1 if resp.get("FunctionError") else 0
