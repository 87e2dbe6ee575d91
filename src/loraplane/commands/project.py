"""`loraplane project publish | delete`: the stack as a SageMaker Project template, and its teardown."""
import sys


def add_parser(subparsers) -> None:
    project = subparsers.add_parser("project", help="the stack as a SageMaker Project template").add_subparsers(
        dest="action", required=True)
    pub = project.add_parser("publish", help="publish the template (Service Catalog product and/or S3 template)")
    pub.add_argument("--studio-role", action="append", metavar="ARN",
                     help="Studio execution role given access to the portfolio (repeat for several)")
    pub.add_argument("--route", choices=["both", "service-catalog", "s3"], default="both")
    pub.add_argument("--org-stack-name", default="loraplane-project-template",
                     help="stack of project_template/template.yaml (artifact bucket, launch role)")
    pub.add_argument("--launch-role-name", default="LoRAPlaneProjectLaunchRole")
    pub.add_argument("--portfolio-name", default="LoRA Plane")
    pub.add_argument("--product-name", default="LoRA Plane multi-LoRA endpoint")
    pub.add_argument("--owner", default="Platform team")
    pub.add_argument("--version", help="provisioning artifact name (default: sha-<hash of the template>)")
    pub.add_argument("--studio-origin", default="https://*.sagemaker.aws", help="origin the bucket CORS rule allows")
    pub.add_argument("--domain-id", help="SageMaker domain whose S3 templates location to set")
    pub.add_argument("--tag-domain", action="store_true", help="apply the domain tag (else it is printed)")
    pub.add_argument("--no-build", action="store_true", help="package the source folders without `sam build` "
                                                              "(the emulator only: the layer lacks its dependencies)")
    pub.add_argument("--build-dir", help="where `sam build` writes (default: a temporary folder)")
    pub.set_defaults(handler=publish_template)
    dele = project.add_parser("delete", help="tear down the endpoint the control plane created, then delete the stack")
    dele.add_argument("--stack-name", required=True)
    dele.add_argument("--timeout", type=float, default=3600, help="seconds to wait for everything to go")
    dele.add_argument("--force", action="store_true", help="even while a deployment runs")
    dele.set_defaults(handler=delete_stack)


def publish_template(args) -> int:
    import json
    from pathlib import Path

    import boto3

    from ..project.publish import Options, publish

    routes = ("service-catalog", "s3") if args.route == "both" else (args.route,)
    if "service-catalog" in routes and not args.studio_role:
        print("error: --studio-role is required for the Service Catalog route", file=sys.stderr)
        return 2
    report = publish(boto3.Session(), Options(
        studio_roles=args.studio_role or [], routes=routes, org_stack=args.org_stack_name,
        launch_role_name=args.launch_role_name, portfolio_name=args.portfolio_name, product_name=args.product_name,
        owner=args.owner, version=args.version, studio_origin=args.studio_origin, domain_id=args.domain_id,
        tag_domain=args.tag_domain, sam_build=not args.no_build, build_dir=Path(args.build_dir) if args.build_dir else None))
    print(json.dumps(report.as_dict(), indent=2))
    if report.domain_tag and not report.domain_tag["applied"]:
        print(f"# Studio lists S3 templates once the domain carries the tag: aws sagemaker add-tags --resource-arn "
              f"<domain arn> --tags Key={report.domain_tag['key']},Value={report.domain_tag['value']}", file=sys.stderr)
    return 0


def delete_stack(args) -> int:
    import json

    import boto3

    from ..project.delete import delete, running_deployments
    from ..stack import describe

    session = boto3.Session()
    outputs, _ = describe(args.stack_name, session)
    if running_deployments(session, outputs) and not args.force:
        print("error: a deployment is running; wait for it (or pass --force: the teardown waits for the endpoint lock)",
              file=sys.stderr)
        return 1
    print(json.dumps({"deleted": delete(session, args.stack_name, timeout_s=args.timeout)}, indent=2))
    return 0
