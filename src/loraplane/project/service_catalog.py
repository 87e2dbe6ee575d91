"""Service Catalog route, idempotent: one portfolio and one product (found by name), one
provisioning artifact per template version (the newest is the default, older ones DEPRECATED),
one launch constraint, one principal association per Studio role. Re-running adds only what is
missing."""
import hashlib
import json
from dataclasses import dataclass, field

STUDIO_VISIBILITY = {"Key": "sagemaker:studio-visibility", "Value": "true"}


def token(*parts: str) -> str:
    """IdempotencyToken ([a-zA-Z0-9][a-zA-Z0-9_-]*): the same call parts give the same token."""
    return "loraplane-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


@dataclass
class Published:
    portfolio_id: str
    product_id: str
    artifact_id: str
    created: list[str] = field(default_factory=list)  # what this run created (empty on a no-op re-run)


def _portfolio(sc, name: str, provider: str, created: list[str]) -> str:
    kwargs: dict = {}
    while True:
        page = sc.list_portfolios(**kwargs)
        for p in page.get("PortfolioDetails", []):
            if p["DisplayName"] == name:
                return p["Id"]
        if not page.get("NextPageToken"):
            break
        kwargs["PageToken"] = page["NextPageToken"]
    created.append("portfolio")
    return sc.create_portfolio(DisplayName=name, ProviderName=provider, IdempotencyToken=token("portfolio", name),
                               Description="LoRA Plane SageMaker Project templates")["PortfolioDetail"]["Id"]


def _product(sc, name: str) -> str | None:
    for view in sc.search_products_as_admin(Filters={"FullTextSearch": [name]}).get("ProductViewDetails", []):
        if view["ProductViewSummary"]["Name"] == name:
            return view["ProductViewSummary"]["ProductId"]
    return None


def _artifact_parameters(version: str, template_url: str, description: str) -> dict:
    return {"Name": version, "Description": description, "Info": {"LoadTemplateFromURL": template_url},
            "Type": "CLOUD_FORMATION_TEMPLATE"}


def _ensure_artifact(sc, product_id: str, version: str, template_url: str, description: str,
                     created: list[str]) -> str:
    artifacts = sc.list_provisioning_artifacts(ProductId=product_id)["ProvisioningArtifactDetails"]
    current = next((a for a in artifacts if a["Name"] == version), None)
    if current is None:
        created.append(f"provisioning artifact {version}")
        current = sc.create_provisioning_artifact(
            ProductId=product_id, Parameters=_artifact_parameters(version, template_url, description),
            IdempotencyToken=token(product_id, version))["ProvisioningArtifactDetail"]
        artifacts.append(current)
    # The newest version is the one Studio offers; older ones stay for projects created with them.
    for a in artifacts:
        guidance = "DEFAULT" if a["Id"] == current["Id"] else "DEPRECATED"
        if a.get("Guidance") != guidance:
            sc.update_provisioning_artifact(ProductId=product_id, ProvisioningArtifactId=a["Id"], Guidance=guidance)
    return current["Id"]


def publish(sc, *, portfolio_name: str, product_name: str, owner: str, version: str, template_url: str,
            launch_role_arn: str, principals: list[str], description: str = "") -> Published:
    created: list[str] = []
    portfolio_id = _portfolio(sc, portfolio_name, owner, created)
    product_id = _product(sc, product_name)
    if product_id is None:
        created.append("product")
        result = sc.create_product(
            Name=product_name, Owner=owner, ProductType="CLOUD_FORMATION_TEMPLATE", Description=description,
            Tags=[STUDIO_VISIBILITY], IdempotencyToken=token("product", product_name),
            ProvisioningArtifactParameters=_artifact_parameters(version, template_url, description))
        product_id = result["ProductViewDetail"]["ProductViewSummary"]["ProductId"]
        created.append(f"provisioning artifact {version}")
    elif STUDIO_VISIBILITY not in sc.describe_product_as_admin(Id=product_id).get("Tags", []):
        sc.update_product(Id=product_id, AddTags=[STUDIO_VISIBILITY])
    artifact_id = _ensure_artifact(sc, product_id, version, template_url, description, created)
    if portfolio_id not in {p["Id"] for p in sc.list_portfolios_for_product(ProductId=product_id)["PortfolioDetails"]}:
        created.append("product association")
        sc.associate_product_with_portfolio(ProductId=product_id, PortfolioId=portfolio_id)
    _ensure_launch_constraint(sc, portfolio_id, product_id, launch_role_arn, created)
    known = {p["PrincipalARN"] for p in sc.list_principals_for_portfolio(PortfolioId=portfolio_id)["Principals"]}
    for arn in principals:
        if arn not in known:
            created.append(f"principal {arn}")
            sc.associate_principal_with_portfolio(PortfolioId=portfolio_id, PrincipalARN=arn, PrincipalType="IAM")
    return Published(portfolio_id, product_id, artifact_id, created)


def _ensure_launch_constraint(sc, portfolio_id: str, product_id: str, role_arn: str, created: list[str]) -> None:
    constraints = sc.list_constraints_for_portfolio(PortfolioId=portfolio_id, ProductId=product_id)["ConstraintDetails"]
    if any(c["Type"] == "LAUNCH" for c in constraints):
        return  # one per product and portfolio (AWS refuses a second); the role ARN is stable
    created.append("launch constraint")
    sc.create_constraint(PortfolioId=portfolio_id, ProductId=product_id, Type="LAUNCH",
                         Parameters=json.dumps({"RoleArn": role_arn}), Description="LoRA Plane launch role",
                         IdempotencyToken=token(portfolio_id, product_id, "launch"))
