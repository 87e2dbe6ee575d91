"""What the registry's decisions mean for each adapter, and the catalog's record of what is live.

Version items carry `state`: registered -> live -> retired, or incompatible (built for another base
model), rejected (in the registry), or failed (approved, but its deployment failed and was rolled
back). The deployed base model is an item of its own (keys: catalog_keys.py)."""
import datetime

from . import catalog, transitions
from .catalog_keys import base_key, is_adapter_item, key_of
from .errors import VersionNotCatalogued
from .package_events import PackageChange


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# -- the deployed base model -------------------------------------------------------------------
def deployed_base(table, endpoint: str) -> dict | None:
    return table.get_item(Key=base_key(endpoint), ConsistentRead=True).get("Item")


def set_deployed_base(table, endpoint: str, target, model_name: str) -> None:
    table.put_item(Item={**base_key(endpoint), "package_arn": target.package_arn, "version": target.version,
                         "base_model": target.base_model, "model_uri": target.model_uri, "model_name": model_name,
                         "deployed_at": now_iso()})


# -- adapter versions ----------------------------------------------------------------------------
def versions(table, adapter: str) -> list[dict]:
    return sorted(catalog.version_items(table, adapter), key=lambda i: int(i["package_version"]))


def live_version(table, adapter: str) -> dict | None:
    return next((v for v in versions(table, adapter) if v.get("state") == "live"), None)


def adapter_names(table) -> list[str]:
    return sorted({i["adapter_name"] for i in catalog.all_items(table) if is_adapter_item(i)})


def set_state(table, item: dict, state: str, **attrs) -> None:
    names = {"#s": "state", **{f"#{k}": k for k in attrs}}
    values = {":s": state, ":t": now_iso(), **{f":{k}": v for k, v in attrs.items()}}
    sets = ", ".join(["#s = :s", "state_changed_at = :t", *[f"#{k} = :{k}" for k in attrs]])
    table.update_item(Key=key_of(item), UpdateExpression=f"SET {sets}",
                      ExpressionAttributeNames=names, ExpressionAttributeValues=values)


def find_item(table, adapter: str, package_arn: str) -> dict | None:
    return next((v for v in versions(table, adapter) if v["package_arn"] == package_arn), None)


def approval_time(table, item: dict, described: dict | None = None) -> str:
    """When the version was last approved, for "the latest approval wins": the transition record, or
    the registry's LastModifiedTime when the event was never seen (lost to the DLQ)."""
    seen = transitions.last_status(table, item["package_arn"]) or {}
    if seen.get("status") == "Approved":
        return seen.get("modified", "")
    if described and described.get("ModelApprovalStatus") == "Approved" and described.get("LastModifiedTime"):
        return described["LastModifiedTime"].astimezone(datetime.timezone.utc).isoformat()
    return ""


def previous_approved(table, sm, adapter: str, base_model: str, excluding: str) -> dict | None:
    """The most recently approved other version for this base model; the registry decides approval."""
    candidates = []
    for v in versions(table, adapter):
        if v["package_arn"] == excluding or v.get("base_model") != base_model or v.get("state") == "failed":
            continue  # a version whose deployment failed waits for a new approval
        described = sm.describe_model_package(ModelPackageName=v["package_arn"])
        if described["ModelApprovalStatus"] == "Approved":
            candidates.append((approval_time(table, v, described), int(v["package_version"]), v))
    return max(candidates, key=lambda c: c[:2])[2] if candidates else None


def is_stale(table, change: PackageChange) -> bool:
    """A newer decision on this package was recorded after this event: its own execution acts on it."""
    if change.replayed_by_reconciler:
        return False
    seen = transitions.last_status(table, change.package_arn) or {}
    return bool(seen) and (seen.get("status"), seen.get("modified")) != (change.status, change.modified)


def as_target(item: dict) -> dict:
    return {"package_arn": item["package_arn"], "version": int(item["package_version"]), "sha256": item["sha256"],
            "artifact_uri": item["artifact_uri"], "base_model": item.get("base_model")}


def plan_adapter(table, sm, endpoint: str, change: PackageChange) -> dict:
    """What an adapter decision changes on the endpoint: outcome deploy | retire | deferred |
    incompatible | superseded | unchanged, with the target and the version live before."""
    adapter = change.name
    live = live_version(table, adapter)
    plan = {"adapter": adapter, "outcome": "unchanged", "target": None, "previous": as_target(live) if live else None,
            "change": change.model_dump()}
    if is_stale(table, change):
        return {**plan, "outcome": "superseded"}
    item = find_item(table, adapter, change.package_arn)
    if item is None:
        if change.action == "approved":
            raise VersionNotCatalogued(f"{adapter} version {change.version} is not in the catalog yet")
        return {**plan, "outcome": "unknown_version"}
    base = deployed_base(table, endpoint)
    if change.action == "approved":
        if live and live["package_arn"] == change.package_arn and not change.replayed_by_reconciler:
            return plan
        if base is None:
            return {**plan, "outcome": "deferred"}
        if item.get("base_model") != base["base_model"]:
            return {**plan, "outcome": "incompatible"}
        if live and approval_time(table, live) > change.modified:
            return {**plan, "outcome": "superseded"}  # a later approval already went live
        return {**plan, "outcome": "deploy", "target": as_target(item)}
    # rejected
    if change.replayed_by_reconciler and not live:
        return {**plan, "outcome": "retire"}  # served, though no version should be
    if not live or live["package_arn"] != change.package_arn:
        return {**plan, "outcome": "rejected_not_live"}
    previous = previous_approved(table, sm, adapter, base["base_model"], change.package_arn) if base else None
    if previous:
        return {**plan, "outcome": "deploy", "target": as_target(previous)}
    return {**plan, "outcome": "retire"}


def manifest_entry(target: dict) -> dict:
    return {"sha256": target["sha256"], "version": target["version"], "package_arn": target["package_arn"],
            "base_model": target["base_model"]}
