"""The Service Catalog administration calls that publishing a SageMaker Project template makes.

moto 5.2.5 has portfolios and products (create, describe, list, delete), but keeps no provisioning
artifacts (CreateProduct answers an empty ProvisioningArtifactDetail) and has no constraints, no
principal or product associations, no CreateProvisioningArtifact, no DescribeProductAsAdmin or
SearchProductsAsAdmin. This adds them over moto's own portfolios and products, with requests
validated against botocore's model and AWS's error codes (ResourceNotFoundException,
DuplicateResourceException).
"""
import datetime
import json
import uuid
from collections import defaultdict

from . import aws_validation

# (account, region) -> state moto does not keep
_artifacts: dict = defaultdict(lambda: defaultdict(list))       # product id -> [artifact]
_product_portfolios: dict = defaultdict(lambda: defaultdict(set))  # product id -> {portfolio id}
_principals: dict = defaultdict(lambda: defaultdict(dict))      # portfolio id -> {arn: type}
_constraints: dict = defaultdict(dict)                            # constraint id -> detail


def _error(code: str, message: str):
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


def _now() -> float:
    return datetime.datetime.now(datetime.timezone.utc).timestamp()


def _params(response, operation: str) -> dict:
    raw = response.body
    params = json.loads(raw.decode() if isinstance(raw, bytes) else (raw or "{}")) if raw else {}
    found = aws_validation.problems("servicecatalog", operation, params)
    if found:
        raise _error("InvalidParametersException", aws_validation.message(found))
    return params


def _ok(body: dict):
    return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(body)


def _key(response) -> tuple[str, str]:
    return response.current_account, response.region


def _product(response, product_id: str):
    product = response.servicecatalog_backend.products.get(product_id)
    if product is None:
        raise _error("ResourceNotFoundException", f"Product {product_id} not found.")
    return product


def _portfolio(response, portfolio_id: str):
    if portfolio_id not in response.servicecatalog_backend.portfolios:
        raise _error("ResourceNotFoundException", f"Portfolio {portfolio_id} not found.")
    return response.servicecatalog_backend.portfolios[portfolio_id]


def _new_artifact(parameters: dict) -> dict:
    return {"Id": "pa-" + uuid.uuid4().hex[:13], "Name": parameters.get("Name", ""),
            "Description": parameters.get("Description", ""), "Type": parameters.get("Type", "CLOUD_FORMATION_TEMPLATE"),
            "CreatedTime": _now(), "Active": True, "Guidance": "DEFAULT", "Info": dict(parameters.get("Info", {}))}


def _detail(artifact: dict) -> dict:
    return {k: v for k, v in artifact.items() if k != "Info"}


def _summary(artifact: dict) -> dict:
    return {"Id": artifact["Id"], "Name": artifact["Name"], "Description": artifact["Description"],
            "CreatedTime": artifact["CreatedTime"]}


def _view(product) -> dict:
    return {"ProductViewSummary": product.to_dict(), "Status": "AVAILABLE", "ProductARN": product.arn,
            "CreatedTime": product.created_time.timestamp()}


def _tags(response, arn: str) -> list[dict]:
    return response.servicecatalog_backend._list_tags_for_resource(arn)  # noqa: SLF001 - moto's tag store


class Handlers:
    """Methods added to moto's ServiceCatalogResponse (dispatched by action name)."""

    def create_product(self):
        params = _params(self, "CreateProduct")
        product = self.servicecatalog_backend.create_product(
            name=params["Name"], owner=params["Owner"], description=params.get("Description"),
            distributor=params.get("Distributor"), support_description=params.get("SupportDescription"),
            support_email=params.get("SupportEmail"), support_url=params.get("SupportUrl"),
            product_type=params["ProductType"], tags=params.get("Tags", []),
            provisioning_artifact_parameters=params.get("ProvisioningArtifactParameters"),
            idempotency_token=params.get("IdempotencyToken"), accept_language=params.get("AcceptLanguage"))
        artifacts = _artifacts[_key(self)][product.id]
        if not artifacts and params.get("ProvisioningArtifactParameters"):
            artifacts.append(_new_artifact(params["ProvisioningArtifactParameters"]))
        return _ok({"ProductViewDetail": _view(product),
                    "ProvisioningArtifactDetail": _detail(artifacts[0]) if artifacts else {},
                    "Tags": _tags(self, product.arn)})

    def describe_product_as_admin(self):
        params = _params(self, "DescribeProductAsAdmin")
        product = self.servicecatalog_backend.describe_product(None, params.get("Id"), params.get("Name"))
        return _ok({"ProductViewDetail": _view(product), "Tags": _tags(self, product.arn), "TagOptions": [],
                    "Budgets": [], "ProvisioningArtifactSummaries": [
                        _summary(a) for a in _artifacts[_key(self)][product.id]]})

    def search_products_as_admin(self):
        params = _params(self, "SearchProductsAsAdmin")
        words = [w.lower() for w in params.get("Filters", {}).get("FullTextSearch", [])]
        products = self.servicecatalog_backend.products.values()
        if params.get("PortfolioId"):
            _portfolio(self, params["PortfolioId"])
            products = [p for p in products if params["PortfolioId"] in _product_portfolios[_key(self)][p.id]]
        found = [p for p in products if all(w in f"{p.name} {p.description or ''}".lower() for w in words)]
        return _ok({"ProductViewDetails": [_view(p) for p in found]})

    def update_product(self):
        params = _params(self, "UpdateProduct")
        product = _product(self, params["Id"])
        for field, attr in (("Name", "name"), ("Owner", "owner"), ("Description", "description")):
            if field in params:
                setattr(product, attr, params[field])
        if params.get("AddTags"):
            self.servicecatalog_backend._tag_resource(product.arn, params["AddTags"])  # noqa: SLF001
        if params.get("RemoveTags"):
            self.servicecatalog_backend.tagger.untag_resource_using_names(product.arn, params["RemoveTags"])
        return _ok({"ProductViewDetail": _view(product), "Tags": _tags(self, product.arn)})

    def create_provisioning_artifact(self):
        params = _params(self, "CreateProvisioningArtifact")
        _product(self, params["ProductId"])
        artifact = _new_artifact(params["Parameters"])
        _artifacts[_key(self)][params["ProductId"]].append(artifact)
        return _ok({"ProvisioningArtifactDetail": _detail(artifact), "Info": artifact["Info"], "Status": "AVAILABLE"})

    def list_provisioning_artifacts(self):
        params = _params(self, "ListProvisioningArtifacts")
        _product(self, params["ProductId"])
        return _ok({"ProvisioningArtifactDetails": [_detail(a) for a in _artifacts[_key(self)][params["ProductId"]]]})

    def update_provisioning_artifact(self):
        params = _params(self, "UpdateProvisioningArtifact")
        _product(self, params["ProductId"])
        artifact = next((a for a in _artifacts[_key(self)][params["ProductId"]]
                         if a["Id"] == params["ProvisioningArtifactId"]), None)
        if artifact is None:
            raise _error("ResourceNotFoundException", f"Provisioning artifact {params['ProvisioningArtifactId']} not found.")
        for field in ("Name", "Description", "Active", "Guidance"):
            if field in params:
                artifact[field] = params[field]
        return _ok({"ProvisioningArtifactDetail": _detail(artifact), "Info": artifact["Info"], "Status": "AVAILABLE"})

    def associate_product_with_portfolio(self):
        params = _params(self, "AssociateProductWithPortfolio")
        _product(self, params["ProductId"])
        _portfolio(self, params["PortfolioId"])
        _product_portfolios[_key(self)][params["ProductId"]].add(params["PortfolioId"])
        return _ok({})

    def list_portfolios_for_product(self):
        params = _params(self, "ListPortfoliosForProduct")
        _product(self, params["ProductId"])
        ids = _product_portfolios[_key(self)][params["ProductId"]]
        return _ok({"PortfolioDetails": [json.loads(json.dumps(_portfolio(self, i).to_dict(), default=str))
                                         for i in sorted(ids)]})

    def associate_principal_with_portfolio(self):
        params = _params(self, "AssociatePrincipalWithPortfolio")
        _portfolio(self, params["PortfolioId"])
        _principals[_key(self)][params["PortfolioId"]][params["PrincipalARN"]] = params["PrincipalType"]
        return _ok({})

    def list_principals_for_portfolio(self):
        params = _params(self, "ListPrincipalsForPortfolio")
        _portfolio(self, params["PortfolioId"])
        return _ok({"Principals": [{"PrincipalARN": arn, "PrincipalType": kind}
                                   for arn, kind in _principals[_key(self)][params["PortfolioId"]].items()]})

    def create_constraint(self):
        params = _params(self, "CreateConstraint")
        _product(self, params["ProductId"])
        _portfolio(self, params["PortfolioId"])
        if params["ProductId"] not in _product_portfolios[_key(self)] or \
                params["PortfolioId"] not in _product_portfolios[_key(self)][params["ProductId"]]:
            raise _error("ResourceNotFoundException", "The product is not associated with the portfolio.")
        json.loads(params["Parameters"])  # AWS refuses parameters that are not JSON
        same = [c for c in _constraints[_key(self)].values() if c["ProductId"] == params["ProductId"]
                and c["PortfolioId"] == params["PortfolioId"] and c["Type"] == params["Type"]]
        if same and params["Type"] == "LAUNCH":
            raise _error("DuplicateResourceException", "A launch constraint already exists for this product and portfolio.")
        detail = {"ConstraintId": "cons-" + uuid.uuid4().hex[:13], "Type": params["Type"],
                  "Description": params.get("Description", ""), "Owner": self.current_account,
                  "ProductId": params["ProductId"], "PortfolioId": params["PortfolioId"],
                  "Parameters": params["Parameters"]}
        _constraints[_key(self)][detail["ConstraintId"]] = detail
        return _ok({"ConstraintDetail": {k: v for k, v in detail.items() if k != "Parameters"},
                    "ConstraintParameters": detail["Parameters"], "Status": "AVAILABLE"})

    def list_constraints_for_portfolio(self):
        params = _params(self, "ListConstraintsForPortfolio")
        _portfolio(self, params["PortfolioId"])
        found = [{k: v for k, v in c.items() if k != "Parameters"} for c in _constraints[_key(self)].values()
                 if c["PortfolioId"] == params["PortfolioId"]
                 and params.get("ProductId") in (None, c["ProductId"])]
        return _ok({"ConstraintDetails": found})

    def describe_constraint(self):
        params = _params(self, "DescribeConstraint")
        detail = _constraints[_key(self)].get(params["Id"])
        if detail is None:
            raise _error("ResourceNotFoundException", f"Constraint {params['Id']} not found.")
        return _ok({"ConstraintDetail": {k: v for k, v in detail.items() if k != "Parameters"},
                    "ConstraintParameters": detail["Parameters"], "Status": "AVAILABLE"})


def install() -> None:
    from moto.servicecatalog.responses import ServiceCatalogResponse

    for name, method in vars(Handlers).items():
        if not name.startswith("_"):
            setattr(ServiceCatalogResponse, name, method)
