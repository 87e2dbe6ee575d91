"""The catalog's record of what serves: adapter version items (their `state`) and the deployed base
model item (keys: catalog_keys.py). Reads and writes only; the decisions are in decisions.py.

Version items carry `state`: registered -> live -> retired, or incompatible (built for another base
model), rejected (in the registry), or failed (approved, but its deployment failed and was rolled
back)."""
from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from loraplane_core import catalog
from loraplane_core.catalog_keys import base_key, is_adapter_item, key_of

if TYPE_CHECKING:  # ingest's validate reads the deployed base here without the deployment's models
    from loraplane_core.deployment.payloads import BaseTarget


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# -- the deployed base model -------------------------------------------------------------------
def deployed_base(table, endpoint: str) -> dict | None:
    return table.get_item(Key=base_key(endpoint), ConsistentRead=True).get("Item")


def deployed_target(table, endpoint: str) -> BaseTarget | None:
    item = deployed_base(table, endpoint)
    if not item:
        return None
    from loraplane_core.deployment.payloads import BaseTarget  # loaded already: every deployment handler's payloads

    return BaseTarget(package_arn=item["package_arn"], version=int(item["version"]), base_model=item["base_model"],
                      model_uri=item.get("model_uri", ""))


def set_deployed_base(table, endpoint: str, target: BaseTarget, model_name: str) -> None:
    table.put_item(Item={**base_key(endpoint), "package_arn": target.package_arn, "version": target.version,
                         "base_model": target.base_model, "model_uri": target.model_uri, "model_name": model_name,
                         "deployed_at": now_iso()})


# -- adapter versions ----------------------------------------------------------------------------
def versions(table, adapter: str) -> list[dict]:
    return sorted(catalog.version_items(table, adapter), key=lambda i: int(i["package_version"]))


def adapter_names(table) -> list[str]:
    return sorted({i["adapter_name"] for i in catalog.all_items(table) if is_adapter_item(i)})


def find_item(table, adapter: str, package_arn: str) -> dict | None:
    return next((v for v in versions(table, adapter) if v["package_arn"] == package_arn), None)


def set_state(table, item: dict, state: str, **attrs) -> None:
    names = {"#s": "state", **{f"#{k}": k for k in attrs}}
    values = {":s": state, ":t": now_iso(), **{f":{k}": v for k, v in attrs.items()}}
    sets = ", ".join(["#s = :s", "state_changed_at = :t", *[f"#{k} = :{k}" for k in attrs]])
    table.update_item(Key=key_of(item), UpdateExpression=f"SET {sets}",
                      ExpressionAttributeNames=names, ExpressionAttributeValues=values)


def set_state_of(table, adapter: str, package_arn: str, state: str, **attrs) -> None:
    item = find_item(table, adapter, package_arn)
    if item is not None:
        set_state(table, item, state, **attrs)
