"""`loraplane adapters list|approve|reject|validate|upload`: the catalog's adapters, their versions, states and
rejection reasons; an adapter version's registry decision by name; an adapter folder checked offline with ingest's
rules, and uploaded where ingest picks it up."""
import sys

from ..cli_parsers import Defaults as DEFAULTS  # light: argparse, datetime, re

STACK_HELP = "the stack (default: $LORAPLANE_STACK or loraplane-local)"


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
    add_validate(adapters)
    add_upload(adapters)


def add_validate(adapters) -> None:
    p = adapters.add_parser("validate", formatter_class=DEFAULTS,
                            help="check an adapter folder offline with the rules ingest applies (exit 1 if rejected)")
    p.add_argument("path", metavar="DIR", help="what save_pretrained wrote, or an adapter.tar.gz")
    p.add_argument("--base", required=True, metavar="DIR", help="the base model's Hugging Face directory (config.json)")
    p.add_argument("--base-name", help="the base model id adapters must name (default: the --base folder's name, "
                                       "as `models register-base` names it)")
    p.add_argument("--max-rank", type=int, default=64, help="the stack's MaxLoraRank")
    p.add_argument("--max-bytes", type=int, default=536870912, help="the stack's MaxAdapterBytes")
    p.add_argument("--output", choices=["table", "json"], default="table")
    p.set_defaults(handler=validate)


def add_upload(adapters) -> None:
    from ..cli_parsers import adapter_name

    p = adapters.add_parser("upload", formatter_class=DEFAULTS,
                            help="upload an adapter folder to s3://<AdapterBucketName>/adapters/<name>/ (ingest "
                                 "validates and registers it)")
    p.add_argument("path", metavar="DIR", help="what save_pretrained wrote, or an adapter.tar.gz")
    p.add_argument("--name", required=True, type=adapter_name,
                   help="the adapter's name: 1-30 of [a-z0-9-], starting and ending with a letter or digit")
    p.add_argument("--no-validate", action="store_true",
                   help="upload without checking it first against the stack's base model and limits")
    p.add_argument("--base", metavar="DIR", help="validate against this base model directory instead of the "
                                                 "stack's deployed base model")
    p.add_argument("--stack-name", help=STACK_HELP)
    p.add_argument("--output", choices=["table", "json"], default="table")
    p.set_defaults(handler=upload)


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


def validate(args) -> int:
    from loraplane_core.adapters.validation import Policy

    from ..adapter_files import check, offline_base, render_check

    result = check(args.path, Policy(max_rank=args.max_rank, max_bytes=args.max_bytes),
                   offline_base(args.base, args.base_name))
    print(render_check(result, args.output))
    return 0 if result["valid"] else 1


def upload(args) -> int:
    import json

    import boto3

    from ..adapter_files import check, check_source, offline_base, render_check, stack_base, stack_policy
    from ..adapter_files import upload as send
    from ..cli_errors import CliError
    from ..stack import describe, stack_name

    check_source(args.path)
    session = boto3.Session()
    outputs, params = describe(stack_name(args.stack_name), session)
    if not args.no_validate:
        base = offline_base(args.base) if args.base else stack_base(session, outputs)
        result = check(args.path, stack_policy(params), base)
        if not result["valid"]:
            raise CliError(f"ingest would reject {args.path}: {result['reason']}: {result['message']}",
                           "Fix the adapter, or pass --no-validate to upload it anyway")
        print(render_check(result, "table"), file=sys.stderr)
    done = send(session.client("s3"), outputs["AdapterBucketName"], args.name, args.path)
    if args.output == "json":
        print(json.dumps(done, indent=2))
    else:
        print(done["source"])
    print(f"Uploaded {args.name}; ingest validates and registers it within seconds (a new version when the weights "
          f"are new). Follow it with: loraplane adapters list  (a rejection shows there with its reason)",
          file=sys.stderr)
    return 0
