"""`loraplane reconcile`: run the scheduled reconciler now (the emulator has no scheduler), print its report."""


def add_parser(subparsers) -> None:
    rec = subparsers.add_parser("reconcile", help="compare the registry with the endpoint now; report and repair drift")
    rec.add_argument("--report-only", action="store_true", help="report drift without repairing it")
    rec.add_argument("--stack-name", help="default: $LORAPLANE_STACK or loraplane-local")
    rec.set_defaults(handler=reconcile)


def reconcile(args) -> int:
    """Runs the scheduled reconciler now (the emulator has no scheduler) and prints its report."""
    import json

    import boto3

    from ..stack import describe, stack_name

    session = boto3.Session()
    outputs, _ = describe(stack_name(args.stack_name), session)
    resp = session.client("lambda").invoke(FunctionName=outputs["ReconcileFunctionName"],
                                           Payload=json.dumps({"repair": not args.report_only}).encode())
    payload = json.loads(resp["Payload"].read() or b"null")
    print(json.dumps(payload, indent=2))
    return 1 if resp.get("FunctionError") else 0
