"""`loraplane adapters approve|reject`: an adapter version's registry decision by name, not by ARN.
The catalog maps an adapter's name to its model packages (ingest records each registration with the
package ARN and version); the registry holds the decision, and the deployment acts on it."""
import json

from .cli_errors import NotFound

VERBS = {"Approved": "approve", "Rejected": "reject"}
MAX_REGISTRY_SCAN = 500  # packages read when the catalog has no record of the adapter (bounded: N API calls)


def version_items(table, sm, group: str, adapter: str) -> list[dict]:
    """[{version, package_arn}] of the adapter, oldest first: from the catalog, else (a registration
    the catalog never recorded) from the packages' adapter_name metadata in the registry."""
    from loraplane_core import catalog

    found = [{"version": int(i["package_version"]), "package_arn": i["package_arn"]}
             for i in catalog.version_items(table, adapter)]
    if not found:
        pages = sm.get_paginator("list_model_packages").paginate(
            ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending",
            PaginationConfig={"MaxItems": MAX_REGISTRY_SCAN})
        for page in pages:
            for p in page["ModelPackageSummaryList"]:
                d = sm.describe_model_package(ModelPackageName=p["ModelPackageArn"])
                if d.get("CustomerMetadataProperties", {}).get("adapter_name") == adapter:
                    found.append({"version": int(d["ModelPackageVersion"]), "package_arn": d["ModelPackageArn"]})
    return sorted(found, key=lambda v: v["version"])


def choose(table, sm, group: str, stack: str, adapter: str, version: int | None) -> dict:
    """The adapter's latest version, or the given one; NotFound with the way out otherwise."""
    from loraplane_core import catalog

    versions = version_items(table, sm, group, adapter)
    if not versions:
        if catalog.adapter_items(table, adapter):  # only rejected or failed uploads
            raise NotFound(f"adapter {adapter} has no registered version: its uploads were rejected or failed",
                           "`loraplane adapters list` shows why; upload fixed files to register one")
        raise NotFound(f"no adapter {adapter} in stack {stack}",
                       "`loraplane adapters list` shows the adapters (or pass --stack-name / set LORAPLANE_STACK)")
    if version is None:
        return versions[-1]
    chosen = next((v for v in versions if v["version"] == version), None)
    if chosen is None:
        listed = ", ".join(str(v["version"]) for v in versions)
        raise NotFound(f"adapter {adapter} has no version {version} (its versions: {listed})",
                       "Pass one of those to --version, or leave --version out for the latest")
    return chosen


def decide(session, outputs: dict, stack: str, adapter: str, status: str, version: int | None = None,
           reason: str | None = None) -> dict:
    from loraplane_core.adapters.reasons import AdapterRejected
    from loraplane_core.adapters.upload_layout import check_adapter_name

    from .cli_errors import Usage

    try:
        check_adapter_name(adapter)
    except AdapterRejected as e:
        raise Usage(str(e), "Pass the adapter's name as `loraplane adapters list` shows it") from None
    if reason is not None and len(reason) > 1024:  # ApprovalDescription's limit in the SageMaker API
        raise Usage(f"--reason is {len(reason)} characters; the registry keeps at most 1024", "Shorten it")
    missing = [k for k in ("CatalogTableName", "AdapterModelPackageGroupName") if k not in outputs]
    if missing:
        raise NotFound(f"stack {stack} has no output {', '.join(missing)} (deployed from an older template?)",
                       "Update the stack: sam build && sam deploy")
    sm = session.client("sagemaker")
    table = session.resource("dynamodb").Table(outputs["CatalogTableName"])
    chosen = choose(table, sm, outputs["AdapterModelPackageGroupName"], stack, adapter, version)
    arn = chosen["package_arn"]
    before = sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"]
    if before != status:  # the same status again would be no transition: nothing to deploy, nothing to send
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status,
                                **({"ApprovalDescription": reason} if reason else {}))
    return {"adapter": adapter, "version": chosen["version"], "package_arn": arn, "previous_status": before,
            "approval_status": status, "changed": before != status}


def render(result: dict, output: str) -> str:
    if output == "json":
        return json.dumps(result, indent=2)
    what = f"adapter {result['adapter']} version {result['version']}"
    if not result["changed"]:
        return f"Adapter {what.removeprefix('adapter ')} is already {result['approval_status']}: nothing to do.\n" \
               f"{result['package_arn']}"
    then = ("The deployment makes it live shortly" if result["approval_status"] == "Approved" else
            "If it was live, the previous approved version becomes live again (none left: the adapter is retired)")
    return (f"{result['approval_status']} {what} (was {result['previous_status']}).\n{result['package_arn']}\n"
            f"{then}: `loraplane status` or `loraplane adapters list` shows it.")
