"""The catalog table's adapter items: one per adapter version, rejection or failure (keys:
catalog_keys.py). Writes are conditional, so a duplicate event never records (or notifies) twice.
"""
import datetime

from loraplane_core.catalog_keys import (
    adapter_items_condition,
    adapter_versions_condition,
    failure_key,
    rejection_key,
    version_key,
)
from loraplane_core.ingest.payloads import RecordRequest


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def find_version(table, adapter_name: str, sha256: str) -> dict | None:
    return table.get_item(Key=version_key(adapter_name, sha256), ConsistentRead=True).get("Item")


def item_for(req: RecordRequest, adapter_name: str) -> dict:
    v, base = req.validation, {"adapter_name": adapter_name, "recorded_at": _now()}
    if req.kind == "registered":
        assert v and req.registration
        return base | version_key(adapter_name, v.sha256) | {
            "state": "registered", "sha256": v.sha256, "config_sha256": v.config_sha256,
            "package_arn": req.registration.package_arn, "package_version": req.registration.package_version,
            "approval_status": req.registration.approval_status, "base_model": v.base_model, "rank": v.rank,
            "target_modules": v.target_modules, "source": v.source, "artifact_uri": v.artifact_uri,
        }
    if req.kind == "rejected":
        assert v
        return base | rejection_key(adapter_name, v.fingerprint) | {"state": "rejected", "reason": v.reason,
                       "message": v.message, "source": v.source}
    err = req.error
    return base | failure_key(adapter_name, req.execution or req.event.id) | {"state": "failed",
                   "reason": err.Error if err else "Unknown", "message": (err.Cause or "")[:2000] if err else ""}


def put_once(table, item: dict) -> bool:
    """True if written now, False if the same item was already recorded."""
    try:
        table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk) AND attribute_not_exists(sk)")
        return True
    except table.meta.client.exceptions.ConditionalCheckFailedException:
        return False


def all_items(table) -> list[dict]:
    items, kwargs = [], {}
    while True:
        page = table.scan(**kwargs)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def adapter_items(table, adapter_name: str) -> list[dict]:
    return table.query(KeyConditionExpression=adapter_items_condition(adapter_name))["Items"]


def version_items(table, adapter_name: str) -> list[dict]:
    return table.query(KeyConditionExpression=adapter_versions_condition(adapter_name), ConsistentRead=True)["Items"]
