"""`loraplane project publish` against the embedded emulator: both routes, idempotent on re-run,
a new version adds a provisioning artifact and a new template object version, nothing duplicated."""
import boto3
import pytest
import yaml

from loraplane.project import s3_templates
from loraplane.project.publish import Options, publish

STUDIO_ROLES = ["arn:aws:iam::123456789012:role/service-role/StudioExecution",
                "arn:aws:iam::123456789012:role/DataScientist"]
VISIBLE = {"Key": "sagemaker:studio-visibility", "Value": "true"}


@pytest.fixture(scope="module")
def session(emulator):
    return boto3.Session(region_name=emulator.region)


@pytest.fixture(scope="module")
def domain_id(emulator):
    sm = emulator.client("sagemaker")
    return sm.create_domain(DomainName="studio", AuthMode="IAM", DefaultUserSettings={"ExecutionRole": STUDIO_ROLES[0]},
                            SubnetIds=["subnet-1"], VpcId="vpc-1",
                            Tags=[{"Key": "team", "Value": "ml"}])["DomainArn"].rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def first(session, domain_id):
    options = Options(studio_roles=STUDIO_ROLES, sam_build=False, portfolio_name="LoRA Plane (test)",
                      product_name="LoRA Plane (test)", domain_id=domain_id, tag_domain=True)
    return options, publish(session, options)


def the_product(sc, name):
    views = sc.search_products_as_admin(Filters={"FullTextSearch": [name]})["ProductViewDetails"]
    return [v for v in views if v["ProductViewSummary"]["Name"] == name]


def test_service_catalog_route(emulator, first):
    options, report = first
    sc = emulator.client("servicecatalog")
    [portfolio] = [p for p in sc.list_portfolios()["PortfolioDetails"] if p["DisplayName"] == options.portfolio_name]
    [product] = the_product(sc, options.product_name)
    product_id = product["ProductViewSummary"]["ProductId"]
    assert VISIBLE in sc.describe_product_as_admin(Id=product_id)["Tags"]
    [artifact] = sc.list_provisioning_artifacts(ProductId=product_id)["ProvisioningArtifactDetails"]
    assert artifact["Name"] == report.version and artifact["Guidance"] == "DEFAULT"
    assert [p["Id"] for p in sc.list_portfolios_for_product(ProductId=product_id)["PortfolioDetails"]] == [portfolio["Id"]]
    [constraint] = sc.list_constraints_for_portfolio(PortfolioId=portfolio["Id"])["ConstraintDetails"]
    assert constraint["Type"] == "LAUNCH"
    assert report.launch_role_arn in sc.describe_constraint(Id=constraint["ConstraintId"])["ConstraintParameters"]
    principals = sc.list_principals_for_portfolio(PortfolioId=portfolio["Id"])["Principals"]
    assert sorted(p["PrincipalARN"] for p in principals) == sorted(STUDIO_ROLES)


def test_launch_role_and_template(emulator, first):
    _, report = first
    iam = emulator.client("iam")
    role = iam.get_role(RoleName=report.launch_role_arn.rsplit("/", 1)[1])["Role"]
    assert report.launch_role_arn == role["Arn"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in emulator.client("cloudformation").describe_stacks(
        StackName="loraplane-project-template")["Stacks"][0]["Outputs"]}
    iam.get_policy(PolicyArn=outputs["LaunchServicesPolicyArn"])
    iam.get_policy(PolicyArn=outputs["LaunchPolicyArn"])  # moto does not attach it: tests/template checks its content
    key = report.template_url.split(".amazonaws.com/", 1)[1]
    template = yaml.safe_load(emulator.client("s3").get_object(Bucket=report.artifact_bucket, Key=key)["Body"].read())
    assert "Transform" not in template and "AWS::Serverless::Function" not in str(template)
    assert {"SageMakerProjectName", "SageMakerProjectId"} <= set(template["Parameters"])
    # Projects get the organisation's permissions boundary without anyone typing it in.
    assert template["Parameters"]["PermissionsBoundaryArn"]["Default"] == outputs["PermissionsBoundaryArn"]
    for resource in template["Resources"].values():  # code lies in the artifact bucket the launch role reads
        code = resource.get("Properties", {}).get("Code") or resource.get("Properties", {}).get("Content")
        if code:
            assert code["S3Bucket"] == report.artifact_bucket and code["S3Key"].startswith("artifacts/")
            emulator.client("s3").head_object(Bucket=code["S3Bucket"], Key=code["S3Key"])


def test_s3_route(emulator, first, domain_id):
    _, report = first
    s3, bucket = emulator.client("s3"), report.artifact_bucket
    assert s3.get_object_tagging(Bucket=bucket, Key=s3_templates.TEMPLATE_KEY)["TagSet"] == [VISIBLE]
    [rule] = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert rule["AllowedMethods"] == ["GET", "HEAD"] and rule["AllowedOrigins"] == ["https://*.sagemaker.aws"]
    sm = emulator.client("sagemaker")
    tags = sm.list_tags(ResourceArn=sm.describe_domain(DomainId=domain_id)["DomainArn"])["Tags"]
    assert {"Key": "sagemaker:projectS3TemplatesLocation", "Value": f"s3://{bucket}/studio-templates/"} in tags


def test_republish_is_idempotent_and_a_new_version_updates(emulator, session, first):
    # A product of its own: the other tests see the fixture's product as it was published.
    options = Options(**{**first[0].__dict__, "portfolio_name": "LoRA Plane (republish)",
                         "product_name": "LoRA Plane (republish)"})
    report = publish(session, options)
    again = publish(session, options)
    assert again.service_catalog["created"] == [] and again.version == report.version
    assert again.s3_template["version_id"] == report.s3_template["version_id"]
    assert not again.s3_template["cors_changed"]

    newer = publish(session, Options(**{**options.__dict__, "version": "v2"}))
    assert newer.service_catalog["created"] == ["provisioning artifact v2"]
    sc = emulator.client("servicecatalog")
    [product] = the_product(sc, options.product_name)
    artifacts = sc.list_provisioning_artifacts(ProductId=product["ProductViewSummary"]["ProductId"])
    assert {a["Name"]: a["Guidance"] for a in artifacts["ProvisioningArtifactDetails"]} == {
        report.version: "DEPRECATED", "v2": "DEFAULT"}
    assert len([p for p in sc.list_portfolios()["PortfolioDetails"] if p["DisplayName"] == options.portfolio_name]) == 1
    assert len(sc.list_principals_for_portfolio(PortfolioId=newer.service_catalog["portfolio_id"])["Principals"]) == 2
    s3 = emulator.client("s3")
    versions = s3.list_object_versions(Bucket=report.artifact_bucket, Prefix=s3_templates.TEMPLATE_KEY)["Versions"]
    assert len(versions) == 1  # same template content: no new object version, whatever the artifact name


@pytest.mark.slow
def test_published_code_is_what_sam_build_built(emulator, tmp_path):
    """The route AWS gets: `sam build` output (the layer with its dependencies), packaged by content."""
    import io
    import zipfile

    from loraplane.project import build

    s3 = emulator.client("s3")
    s3.create_bucket(Bucket="built-artifacts")
    template = build.published_template(s3, "built-artifacts", emulator.region, "123456789012",
                                        build.sam_build(tmp_path / "build", tmp_path / "cache"))
    zips = {}
    for logical_id, r in template["Resources"].items():
        code = r["Properties"].get("Content") or r["Properties"].get("Code")
        if code:
            body = s3.get_object(Bucket=code["S3Bucket"], Key=code["S3Key"])["Body"].read()
            zips[r["Type"]] = zips.get(r["Type"], []) + [zipfile.ZipFile(io.BytesIO(body)).namelist()]
    [layer] = zips["AWS::Lambda::LayerVersion"]
    assert "python/loraplane_core/teardown.py" in layer and any(n.startswith("python/pydantic/") for n in layer)
    assert all("app.py" in names for names in zips["AWS::Lambda::Function"])
