"""Real approval transitions, once: a conditional write keyed on the package ARN remembers the
last status seen. A duplicate or replayed event (same status, or an older decision) writes
nothing and so deploys nothing."""
from __future__ import annotations

from typing import TYPE_CHECKING

from loraplane_core.catalog_keys import approval_key

if TYPE_CHECKING:  # ingest's validate reads last_status here without the deployment's models
    from loraplane_core.deployment.payloads import TransitionResult
    from loraplane_core.package_events import PackageChange, PackageStateChange


def record_transition(table, change: PackageChange) -> bool:
    """True if this event changes the package's known status (first sight counts as a change)."""
    try:
        table.put_item(
            Item={**approval_key(change.package_arn), "status": change.status, "modified": change.modified,
                  "kind": change.kind, "name": change.name, "version": change.version},
            # Same status = duplicate; an older decision arriving late = replay out of order. Times
            # have one-second precision: within the same second, the creation's Pending event (which
            # may arrive last) never overrides a decision.
            ConditionExpression="attribute_not_exists(pk) OR (#s <> :s AND (#m < :m OR (#m = :m AND :s <> :pending)))",
            ExpressionAttributeNames={"#s": "status", "#m": "modified"},
            ExpressionAttributeValues={":s": change.status, ":m": change.modified, ":pending": "PendingManualApproval"},
        )
        return True
    except table.meta.client.exceptions.ConditionalCheckFailedException:
        return False


def mark_deploy_failed(table, change: PackageChange) -> bool:
    """Remembers that this approval's deployment failed (a new approval clears it: new `modified`).
    False when the record holds another decision (a newer one, or this was a reconciler replay of an
    event never recorded): that decision is not the one that failed."""
    try:
        table.update_item(Key=approval_key(change.package_arn), UpdateExpression="SET deploy_failed = :m",
                          ConditionExpression="#m = :m", ExpressionAttributeNames={"#m": "modified"},
                          ExpressionAttributeValues={":m": change.modified})
        return True
    except table.meta.client.exceptions.ConditionalCheckFailedException:
        return False


def last_status(table, package_arn: str) -> dict | None:
    return table.get_item(Key=approval_key(package_arn), ConsistentRead=True).get("Item")


def detect(table, s, event: PackageStateChange) -> TransitionResult:
    """The deployment state machine's first step: is this event a decision to act on, now?"""
    # Loaded already by the handler (its request is a TransitionRequest): imported here, not at the top.
    from loraplane_core.deployment.payloads import TransitionResult
    from loraplane_core.package_events import change_of

    change = change_of(event, s.base_group, s.adapter_group)
    if change is None:
        return TransitionResult(proceed=False, why="not one of this project's model package groups")
    if change.replayed_by_reconciler:
        return TransitionResult(proceed=change.action != "none", why="replayed by the reconciler", change=change)
    if not record_transition(table, change):
        return TransitionResult(proceed=False, why=f"no transition: already {change.status}, or an older event",
                                change=change)
    if change.action == "none":
        return TransitionResult(proceed=False, why=f"{change.status}: nothing to deploy", change=change)
    return TransitionResult(proceed=True, why=f"now {change.status}", change=change)
