"""`loraplane adapters list|approve|reject|validate|upload`: the catalog's adapters, their versions, states and
rejection reasons; an adapter version's registry decision by name; an adapter folder checked offline with ingest's
rules, and uploaded where ingest picks it up."""
import sys

from .. import cli_options as opt  # light: argparse, datetime, re
from ..cli_parsers import adapter_name, positive_int


def add_parser(subparsers) -> None:
    adapters = subparsers.add_parser("adapters", help="adapters in the catalog")
    adapters = adapters.add_subparsers(dest="action", required=True)
    ls = adapters.add_parser("list", help="versions, states and rejection reasons")
    opt.stack_name(ls)
    opt.alias(ls, "--json", opt.output(ls), "json")
    ls.set_defaults(handler=list_adapters)
    decisions = (("approve", "Approved", "make it live"), ("reject", "Rejected", "take it off the endpoint"))
    for verb, status, what in decisions:
        p = adapters.add_parser(verb, help=f"set an adapter version {status} in the registry ({what})")
        p.add_argument("name", metavar="NAME", type=adapter_name,
                       help="the adapter's name (its folder under adapters/)")
        p.add_argument("--version", type=positive_int, metavar="N",
                       help="the model package version, as adapters list shows it (default: the latest)")
        if verb == "reject":
            p.add_argument("--reason", help="why: the registry's ApprovalDescription (default: none)")
        opt.stack_name(p)
        opt.output(p)
        p.set_defaults(handler=decide, status=status)
    add_validate(adapters)
    add_upload(adapters)


def add_validate(adapters) -> None:
    p = adapters.add_parser("validate",
                            help="check an adapter folder offline with the rules ingest applies (exit 1 if rejected)")
    p.add_argument("path", metavar="DIR", help="what save_pretrained wrote, or an adapter.tar.gz")
    opt.option(p, "--base-model-dir", "--base", required=True, metavar="DIR", help=opt.BASE_MODEL_DIR_HELP)
    opt.option(p, "--base-model-name", "--base-name", metavar="ID",
               help="the base model id adapters must name (default: the --base-model-dir folder's name, as "
                    "`models register-base` names it)")
    opt.option(p, "--max-lora-rank", "--max-rank", type=positive_int, default=64, metavar="N",
               help="the stack's MaxLoraRank")
    opt.option(p, "--max-adapter-bytes", "--max-bytes", type=positive_int, default=536870912, metavar="BYTES",
               help="the stack's MaxAdapterBytes")
    opt.output(p)
    p.set_defaults(handler=validate)


def add_upload(adapters) -> None:
    p = adapters.add_parser("upload",
                            help="upload an adapter folder to s3://<AdapterBucketName>/adapters/<name>/ (ingest "
                                 "validates and registers it)")
    p.add_argument("path", metavar="DIR", help="what save_pretrained wrote, or an adapter.tar.gz")
    opt.option(p, "--adapter", "--name", required=True, type=adapter_name, metavar="NAME",
               help="the adapter's name: 1-30 of [a-z0-9-], starting and ending with a letter or digit")
    p.add_argument("--no-validate", action="store_true",
                   help="upload without checking it first against the stack's base model and limits")
    opt.option(p, "--base-model-dir", "--base", metavar="DIR",
               help="validate against this base model directory (default: the stack's deployed base model)")
    opt.stack_name(p)
    opt.output(p)
    p.set_defaults(handler=upload)


def list_adapters(args) -> int:
    import boto3

    from ..adapters_list import collect, render
    from ..stack import describe, stack_name

    session = boto3.Session()
    outputs, _ = describe(stack_name(args.stack_name), session)
    table = session.resource("dynamodb").Table(outputs["CatalogTableName"])
    print(render(collect(table, session.client("sagemaker"), outputs.get("EndpointName"),
                                outputs.get("ServingMode", "inference-components")), args.output == "json"))
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

    result = check(args.path, Policy(max_rank=args.max_lora_rank, max_bytes=args.max_adapter_bytes),
                   offline_base(args.base_model_dir, args.base_model_name))
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
        base = offline_base(args.base_model_dir) if args.base_model_dir else stack_base(session, outputs)
        result = check(args.path, stack_policy(params), base)
        if not result["valid"]:
            raise CliError(f"ingest would reject {args.path}: {result['reason']}: {result['message']}",
                           "Fix the adapter, or pass --no-validate to upload it anyway")
        print(render_check(result, "table"), file=sys.stderr)
    done = send(session.client("s3"), outputs["AdapterBucketName"], args.adapter, args.path)
    if args.output == "json":
        print(json.dumps(done, indent=2))
    else:
        print(done["source"])
    print(f"Uploaded {args.adapter}; ingest validates and registers it within seconds (a new version when the weights "
          f"are new). Follow it with: loraplane adapters list  (a rejection shows there with its reason)",
          file=sys.stderr)
    return 0
