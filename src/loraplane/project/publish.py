"""`loraplane project publish`: the organisation stack, the built and packaged template, then the
Service Catalog product and/or the S3 template, each step idempotent."""
import hashlib
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import build, org_stack, s3_templates, service_catalog


@dataclass
class Options:
    studio_roles: list[str]
    routes: tuple[str, ...] = ("service-catalog", "s3")
    org_stack: str = org_stack.DEFAULT_STACK
    launch_role_name: str = "LoRAPlaneProjectLaunchRole"
    portfolio_name: str = "LoRA Plane"
    product_name: str = "LoRA Plane multi-LoRA endpoint"
    owner: str = "Platform team"
    version: str | None = None  # default: a hash of the template, so an unchanged template is a no-op
    studio_origin: str = "https://*.sagemaker.aws"
    domain_id: str | None = None
    tag_domain: bool = False
    sam_build: bool = True
    build_dir: Path | None = None


@dataclass
class Report:
    version: str
    artifact_bucket: str
    launch_role_arn: str
    template_url: str
    service_catalog: dict | None = None
    s3_template: dict | None = None
    domain_tag: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def publish(session, o: Options) -> Report:
    region = session.region_name
    account = session.client("sts").get_caller_identity()["Account"]
    s3 = session.client("s3")
    org = org_stack.ensure(session.client("cloudformation"), o.org_stack, {"LaunchRoleName": o.launch_role_name})
    bucket = org["ArtifactBucketName"]
    built = None
    if o.sam_build:
        root = o.build_dir or Path(tempfile.mkdtemp(prefix="loraplane-publish-"))
        built = build.sam_build(root / "build", root / "cache")
    template = build.published_template(s3, bucket, region, account, built)
    if org.get("PermissionsBoundaryArn"):  # projects get the boundary without anyone typing it in
        template["Parameters"]["PermissionsBoundaryArn"]["Default"] = org["PermissionsBoundaryArn"]
    body = build.render(template)
    version = o.version or "sha-" + hashlib.sha256(body).hexdigest()[:12]
    key = f"service-catalog/loraplane/{version}.yaml"
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-yaml")
    url = f"https://{bucket}.s3.{region}.amazonaws.com/{key}"
    report = Report(version, bucket, org["LaunchRoleArn"], url)
    if "service-catalog" in o.routes:
        done = service_catalog.publish(
            session.client("servicecatalog"), portfolio_name=o.portfolio_name, product_name=o.product_name,
            owner=o.owner, version=version, template_url=url, launch_role_arn=org["LaunchRoleArn"],
            principals=o.studio_roles, description="Multi-LoRA SageMaker endpoint driven by the model registry")
        report.service_catalog = asdict(done)
    if "s3" in o.routes:
        cors_changed = s3_templates.ensure_cors(s3, bucket, o.studio_origin)
        version_id = s3_templates.upload(s3, bucket, body)
        report.s3_template = {"uri": f"s3://{bucket}/{s3_templates.TEMPLATE_KEY}", "version_id": version_id,
                              "cors_changed": cors_changed}
        report.domain_tag = {"key": s3_templates.DOMAIN_TAG_KEY, "value": s3_templates.location(bucket),
                             "applied": False}
        if o.tag_domain and o.domain_id:
            s3_templates.tag_domain(session.client("sagemaker"), o.domain_id, bucket)
            report.domain_tag["applied"] = True
    return report
