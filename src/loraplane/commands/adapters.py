"""`loraplane adapters list|approve|reject`: the catalog's adapters, their versions, states and rejection
reasons; and an adapter version's registry decision by name."""


def add_parser(subparsers) -> None:
    adapters = subparsers.add_parser("adapters", help="adapters in the catalog").add_subparsers(dest="action", required=True)
    ls = adapters.add_parser("list", help="versions, states and rejection reasons")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--stack-name", help="default: $LORAPLANE_STACK or loraplane-local")
    ls.set_defaults(handler=list_adapters)
    decisions = (("approve", "Approved", "make it live"), ("reject", "Rejected", "take it off the endpoint"))
    for verb, status, what in decisions:
        p = adapters.add_parser(verb, help=f"set an adapter version {status} in the registry ({what})")
        p.add_argument("name", help="the adapter's name (its folder under adapters/)")
        p.add_argument("--version", type=int, help="the model package version (default: the latest)")
        if verb == "reject":
            p.add_argument("--reason", help="why: the registry's ApprovalDescription")
        p.add_argument("--stack-name", help="default: $LORAPLANE_STACK or loraplane-local")
        p.add_argument("--output", choices=["table", "json"], default="table")
        p.set_defaults(handler=decide, status=status)


def list_adapters(args) -> int:
    import boto3

    from ..adapters_list import collect, render
    from ..stack import describe, stack_name

    session = boto3.Session()
    outputs, _ = describe(stack_name(args.stack_name), session)
    table = session.resource("dynamodb").Table(outputs["CatalogTableName"])
    print(render(collect(table, session.client("sagemaker"), outputs.get("EndpointName"),
                                outputs.get("ServingMode", "inference-components")), args.json))
    return 0


def decide(args) -> int:
    import boto3

    from ..approvals import decide, render
    from ..stack import describe, stack_name

    session, name = boto3.Session(), stack_name(args.stack_name)
    outputs, _ = describe(name, session)
    result = decide(session, outputs, name, args.name, args.status, args.version, getattr(args, "reason", None))
    print(render(result, args.output))
    return 0
