"""The catalog table: one item per adapter version, rejection or failure, keyed by adapter.

pk = adapter#<name>; sk = version#<sha256> | rejection#<upload fingerprint> | failure#<execution>.
Writes are conditional, so a duplicate event never records (or notifies) twice.
"""
import datetime

from boto3.dynamodb.conditions import Key

from .models import RecordRequest


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def adapter_pk(name: str) -> str:
    return f"adapter#{name}"


def find_version(table, adapter_name: str, sha256: str) -> dict | None:
    return table.get_item(Key={"pk": adapter_pk(adapter_name), "sk": f"version#{sha256}"}, ConsistentRead=True).get("Item")


def item_for(req: RecordRequest, adapter_name: str) -> dict:
    v, base = req.validation, {"pk": adapter_pk(adapter_name), "adapter_name": adapter_name, "recorded_at": _now()}
    if req.kind == "registered":
        assert v and req.registration
        return base | {
            "sk": f"version#{v.sha256}", "state": "registered", "sha256": v.sha256,
            "package_arn": req.registration.package_arn, "package_version": req.registration.package_version,
            "approval_status": req.registration.approval_status, "base_model": v.base_model, "rank": v.rank,
            "target_modules": v.target_modules, "source": v.source, "artifact_uri": v.artifact_uri,
        }
    if req.kind == "rejected":
        assert v
        return base | {"sk": f"rejection#{v.fingerprint}", "state": "rejected", "reason": v.reason,
                       "message": v.message, "source": v.source}
    err = req.error
    return base | {"sk": f"failure#{req.execution or req.event.get('id')}", "state": "failed",
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
    return table.query(KeyConditionExpression=Key("pk").eq(adapter_pk(adapter_name)))["Items"]
