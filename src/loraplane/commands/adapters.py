"""`loraplane adapters list`: the catalog's adapters, their versions, states and rejection reasons."""


def add_parser(subparsers) -> None:
    adapters = subparsers.add_parser("adapters", help="adapters in the catalog").add_subparsers(dest="action", required=True)
    ls = adapters.add_parser("list", help="versions, states and rejection reasons")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--stack-name", help="default: $LORAPLANE_STACK or loraplane-local")
    ls.set_defaults(handler=list_adapters)


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
