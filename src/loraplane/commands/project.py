"""`loraplane project publish | delete`: the stack as a SageMaker Project template, and its teardown."""
import sys

from .. import cli_options as opt  # light: argparse, datetime, re
from ..cli_parsers import timeout_seconds


def add_parser(subparsers) -> None:
    project = subparsers.add_parser("project", help="the stack as a SageMaker Project template").add_subparsers(
        dest="action", required=True)
    pub = project.add_parser("publish", help="publish the template (Service Catalog product and/or S3 template)")
    pub.add_argument("--studio-role", action="append", metavar="ARN",
                     help="Studio execution role given access to the portfolio (repeat for several; needed for the "
                          "Service Catalog route) (default: none)")
    pub.add_argument("--route", choices=["both", "service-catalog", "s3"], default="both",
                     help="where Studio finds the template")
    pub.add_argument("--org-stack-name", default="loraplane-project-template",
                     help="stack of project_template/template.yaml (artifact bucket, launch role)")
    pub.add_argument("--launch-role-name", default="LoRAPlaneProjectLaunchRole", help="the product's launch role")
    pub.add_argument("--portfolio-name", default="LoRA Plane", help="the Service Catalog portfolio")
    pub.add_argument("--product-name", default="LoRA Plane multi-LoRA endpoint", help="the Service Catalog product")
    pub.add_argument("--owner", default="Platform team", help="the product's owner")
    opt.option(pub, "--product-version", "--version", metavar="NAME",
               help="provisioning artifact name (default: sha-<hash of the template>)")
    pub.add_argument("--studio-origin", default="https://*.sagemaker.aws", help="origin the bucket CORS rule allows")
    pub.add_argument("--domain-id", help="SageMaker domain whose S3 templates location to set (default: none)")
    pub.add_argument("--tag-domain", action="store_true", help="apply the domain tag (else it is printed)")
    pub.add_argument("--no-build", action="store_true", help="package the source folders without `sam build` "
                                                              "(the emulator only: the layer lacks its dependencies)")
    pub.add_argument("--build-dir", metavar="DIR", help="where `sam build` writes (default: a temporary folder)")
    opt.output(pub, "json", "table")
    pub.set_defaults(handler=publish_template)
    dele = project.add_parser("delete", help="tear down the endpoint the control plane created, then delete the stack")
    opt.stack_name(dele, required=True)
    dele.add_argument("--timeout", type=timeout_seconds, default=3600, metavar="SECONDS",
                      help="seconds to wait for everything to go")
    dele.add_argument("--force", action="store_true", help="even while a deployment runs")
    opt.output(dele, "json", "table")
    dele.set_defaults(handler=delete_stack)


def publish_template(args) -> int:
    from pathlib import Path

    import boto3

    from ..project.publish import Options, publish

    from ..cli_errors import Usage
    from ..cli_output import render

    routes = ("service-catalog", "s3") if args.route == "both" else (args.route,)
    if "service-catalog" in routes and not args.studio_role:
        raise Usage("--studio-role is required for the Service Catalog route",
                    "Pass --studio-role ARN (repeat for several), or --route s3")
    report = publish(boto3.Session(), Options(
        studio_roles=args.studio_role or [], routes=routes, org_stack=args.org_stack_name,
        launch_role_name=args.launch_role_name, portfolio_name=args.portfolio_name, product_name=args.product_name,
        owner=args.owner, version=args.product_version, studio_origin=args.studio_origin, domain_id=args.domain_id,
        tag_domain=args.tag_domain, sam_build=not args.no_build,
        build_dir=Path(args.build_dir) if args.build_dir else None))
    print(render(report.as_dict(), args.output))
    if report.domain_tag and not report.domain_tag["applied"]:
        print(f"# Studio lists S3 templates once the domain carries the tag: aws sagemaker add-tags --resource-arn "
              f"<domain arn> --tags Key={report.domain_tag['key']},Value={report.domain_tag['value']}", file=sys.stderr)
    return 0


def delete_stack(args) -> int:
    import boto3

    from ..cli_errors import CliError
    from ..cli_output import render
    from ..progress import Steps
    from ..project.delete import delete, running_deployments
    from ..stack import describe

    session = boto3.Session()
    outputs, _ = describe(args.stack_name, session)
    if running_deployments(session, outputs) and not args.force:
        raise CliError("a deployment is running", "Wait for it, or pass --force (the teardown waits for the "
                                                  "endpoint lock)")
    print(render({"deleted": delete(session, args.stack_name, timeout_s=args.timeout, steps=Steps())}, args.output))
    return 0
