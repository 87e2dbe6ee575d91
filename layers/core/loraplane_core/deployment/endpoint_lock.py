"""One endpoint change at a time: a lease in the catalog table, taken with a conditional write.

The lease expires (a crashed execution cannot block the endpoint forever) after longer than any
deployment may take; its owner is the Step Functions execution name, so a retried acquire by the
same execution succeeds. The AcquireEndpointLock / ReleaseEndpointLock tasks are here too (the
endpoint_lock function imports this module, not all of deployment/steps.py: cold start). While an
adapter decision waits, it sits in the decision queue, where the holder may carry it out for it
(decision_queue.py)."""
import datetime
import time

from loraplane_core.aws import AwsClients
from loraplane_core.catalog_keys import lock_key
from loraplane_core.deployment import decision_queue
from loraplane_core.deployment.payloads import AcquireLock, LockResult, ReleaseLock
from loraplane_core.errors import LockLost, LockTimeout
from loraplane_core.settings import LockSettings

LEASE_SECONDS = 3 * 3600


def lease_for(deployment_timeout_seconds: int) -> int:
    """Longer than the longest change: a base update and its rollback, each with its deadline."""
    return max(LEASE_SECONDS, 2 * deployment_timeout_seconds + 3600)


def acquire(table, endpoint: str, owner: str, now: float | None = None, lease_seconds: int = LEASE_SECONDS) -> bool:
    now = now or time.time()
    try:
        table.put_item(
            Item={**lock_key(endpoint), "owner": owner, "expires_at": int(now + lease_seconds), "taken_at": int(now)},
            ConditionExpression="attribute_not_exists(pk) OR #o = :me OR expires_at < :now",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":me": owner, ":now": int(now)},
        )
        return True
    except table.meta.client.exceptions.ConditionalCheckFailedException:
        return False


def release(table, endpoint: str, owner: str) -> bool:
    """False if the lock was not ours (expired and taken by another): nothing to release."""
    try:
        table.delete_item(Key=lock_key(endpoint), ConditionExpression="#o = :me",
                          ExpressionAttributeNames={"#o": "owner"}, ExpressionAttributeValues={":me": owner})
        return True
    except table.meta.client.exceptions.ConditionalCheckFailedException:
        return False


def holder(table, endpoint: str) -> dict | None:
    return table.get_item(Key=lock_key(endpoint), ConsistentRead=True).get("Item")


def ensure_held(table, endpoint: str, owner: str, now: float | None = None) -> None:
    """Fencing: a step that changes the endpoint first checks its execution still holds the lock."""
    held = holder(table, endpoint) or {}
    if held.get("owner") != owner or int(held.get("expires_at", 0)) < (now or time.time()):
        raise LockLost(f"{endpoint}: the lock is held by {held.get('owner')}, not {owner}")


# -- the tasks AcquireEndpointLock / ReleaseEndpointLock ------------------------------------------
def waited_seconds(started_at: str | None, now: datetime.datetime | None = None) -> float:
    if not started_at:
        return 0.0
    started = datetime.datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    return ((now or datetime.datetime.now(datetime.timezone.utc)) - started).total_seconds()


def acquire_lock(c: AwsClients, s: LockSettings, request: AcquireLock) -> LockResult:
    """Takes the lock, or says to wait; an adapter decision waits in the queue, and ends with the
    outcome a holder settled it with (`batched`) instead of taking the lock. A settled outcome stays
    in the queue until it expires: a retried call answers the same."""
    table, endpoint = c.catalog, s.endpoint_name
    queues = request.change is not None and request.change.kind == "adapter" and bool(request.started_at)
    queued = decision_queue.read(table, endpoint, request.owner, request.started_at) if queues else None
    if queued and queued.get("outcome"):
        release(table, endpoint, request.owner)  # a retry after a settled-after-acquire whose release failed
        return settled(queued)
    if acquire(table, endpoint, request.owner, lease_seconds=lease_for(s.deployment_timeout_seconds)):
        if queues and (queued := decision_queue.withdraw(table, endpoint, request.owner, request.started_at)):
            release(table, endpoint, request.owner)  # settled between the read and the acquire
            return settled(queued)
        return LockResult(acquired=True)
    if waited_seconds(request.started_at) > s.lock_wait_seconds:
        held = holder(table, endpoint) or {}
        # A decision the holder has taken on waits for its outcome (the holder's lease bounds it).
        if not queued or decision_queue.withdraw_unless_claimed_by(table, endpoint, request.owner, request.started_at,
                                                               held.get("owner")):
            raise LockTimeout(f"{endpoint} is held by {held.get('owner')} for longer than {s.lock_wait_seconds}s")
        queued = decision_queue.read(table, endpoint, request.owner, request.started_at)
        if queued and queued.get("outcome"):
            return settled(queued)  # settled just now
    elif queues and queued is None:
        started = time.time() - waited_seconds(request.started_at)
        decision_queue.enqueue(table, endpoint, request.owner, request.started_at, request.change,
                               expires_at=int(started + s.lock_wait_seconds))
    return LockResult(acquired=False)


def settled(queued: dict) -> LockResult:
    return LockResult(acquired=False, batched=queued["outcome"], batched_by=queued.get("claimed_by"))


def release_lock(c: AwsClients, s: LockSettings, request: ReleaseLock) -> LockResult:
    return LockResult(released=release(c.catalog, s.endpoint_name, request.owner))
