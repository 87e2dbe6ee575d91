"""Adapter decisions waiting for the endpoint lock, so that one holder carries out several (lock
batching). A deployment that finds the lock taken queues its decision here. The holder's
ApplyAdapterDecision claims up to MAX_RIDERS of them, carries each out (its own plan, check, smoke
test, rollback, record and notification) and settles each with its outcome before it releases the
lock. The waiter then ends with that outcome instead of taking the lock.

A claim whose holder no longer holds the lock (it failed, or gave the decision back) is stale: the
waiter takes the lock and acts itself. A queued decision expires when its waiter would give up
(LOCK_WAIT_SECONDS after its start): no holder takes it on after that."""
import logging
import time
from dataclasses import dataclass

from loraplane_core.catalog_keys import key_of, queue_condition, queue_key
from loraplane_core.package_events import PackageChange

logger = logging.getLogger(__name__)
MAX_RIDERS = 9  # decisions a holder takes on besides its own: one acquisition stays short, and the
# batch stays well within Step Functions' 256 KiB state (tests/unit/test_lock_batching.py)
MAX_QUEUE_READ = 200  # queued decisions read per claim (a page or two)
OUTCOMES = ("succeeded", "failed")
SETTLED_KEPT_SECONDS = 3600  # a settled outcome stays at least this long for its waiter to read


@dataclass(frozen=True)
class Queued:
    execution: str
    started_at: str
    change: PackageChange


def _conditional(table, call, **kwargs) -> bool:
    """False when the condition failed: someone else changed the item first."""
    try:
        call(**kwargs)
        return True
    except table.meta.client.exceptions.ConditionalCheckFailedException:
        return False


def enqueue(table, endpoint: str, execution: str, started_at: str, change: PackageChange, expires_at: int) -> None:
    """Queues the decision once (a retried call changes nothing)."""
    _conditional(table, table.put_item, ConditionExpression="attribute_not_exists(pk)",
                 Item={**queue_key(endpoint, started_at, execution), "execution": execution, "adapter": change.name,
                       "started_at": started_at, "change": change.model_dump_json(), "expires_at": int(expires_at)})


def read(table, endpoint: str, execution: str, started_at: str) -> dict | None:
    return table.get_item(Key=queue_key(endpoint, started_at, execution), ConsistentRead=True).get("Item")


def withdraw_unless_claimed_by(table, endpoint: str, execution: str, started_at: str, holder: str | None) -> bool:
    """Out of the queue unless `holder` (who holds the lock now) has taken it on, or it is settled."""
    return _conditional(table, table.delete_item, Key=queue_key(endpoint, started_at, execution),
                        ConditionExpression="attribute_not_exists(outcome) AND "
                                            "(attribute_not_exists(claimed_by) OR claimed_by <> :h)",
                        ExpressionAttributeValues={":h": holder or ""})


def withdraw(table, endpoint: str, execution: str, started_at: str) -> dict | None:
    """After its waiter took the lock: out of the queue, unless a holder settled it meanwhile
    (then that item, whose outcome stands). A settled item stays, so that a retried read gets the
    same outcome; a later claim deletes it once expired."""
    key = queue_key(endpoint, started_at, execution)
    if _conditional(table, table.delete_item, Key=key, ConditionExpression="attribute_not_exists(outcome)"):
        return None
    return table.get_item(Key=key, ConsistentRead=True).get("Item")


def claim(table, endpoint: str, holder: str, skip: set[str], now: float, limit: int = MAX_RIDERS) -> list[Queued]:
    """The oldest unsettled decisions, one per adapter and none on an adapter in `skip`, claimed for
    `holder` (who holds the lock: any earlier claim is stale). Oldest first; a later decision on the
    same adapter waits for the next acquisition."""
    taken: list[Queued] = []
    seen = set(skip)
    for item in _items(table, endpoint):
        if len(taken) >= limit:
            break
        if int(item.get("expires_at", 0)) < now:  # settled long ago, or its waiter is gone
            _conditional(table, table.delete_item, Key=key_of(item), ConditionExpression="expires_at < :now",
                         ExpressionAttributeValues={":now": int(now)})
            continue
        if "outcome" in item or item.get("execution") == holder or item.get("adapter") in seen:
            continue
        seen.add(item.get("adapter"))
        try:
            change = PackageChange.model_validate_json(item["change"])
        except (KeyError, ValueError):
            logger.warning("queued decision of %s is malformed: left to its own execution", item.get("execution"))
            continue
        if _conditional(table, table.update_item, Key=key_of(item), UpdateExpression="SET claimed_by = :h",
                        ConditionExpression="attribute_exists(pk) AND attribute_not_exists(outcome)",
                        ExpressionAttributeValues={":h": holder}):
            taken.append(Queued(execution=item["execution"], started_at=item["started_at"], change=change))
    return taken


def waiting(table, endpoint: str) -> list[dict]:
    """The queued decisions, oldest first (at most MAX_QUEUE_READ): for `loraplane status`."""
    return list(_items(table, endpoint))


def _items(table, endpoint: str):
    """The queue's items, oldest first, read a page at a time as they are used: MAX_QUEUE_READ at most."""
    kwargs, read_so_far = {"KeyConditionExpression": queue_condition(endpoint), "ConsistentRead": True,
                           "Limit": 100}, 0
    while True:
        page = table.query(**kwargs)
        for item in page.get("Items", []):
            if read_so_far >= MAX_QUEUE_READ:
                return
            read_so_far += 1
            yield item
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def give_back(table, endpoint: str, execution: str, started_at: str, holder: str) -> None:
    """Gives a decision back: its own execution acts on it once it takes the lock."""
    _conditional(table, table.update_item, Key=queue_key(endpoint, started_at, execution),
                 UpdateExpression="REMOVE claimed_by", ConditionExpression="claimed_by = :h",
                 ExpressionAttributeValues={":h": holder})


def settle(table, endpoint: str, execution: str, started_at: str, holder: str, outcome: str,
           now: float | None = None) -> bool:
    """The outcome its waiter ends with, kept SETTLED_KEPT_SECONDS at least (its waiter may have waited
    past its own expiry while claimed). False: the decision is no longer this holder's to settle."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome {outcome!r} is not one of {OUTCOMES}")
    kept = int((now or time.time()) + SETTLED_KEPT_SECONDS)
    return _conditional(table, table.update_item, Key=queue_key(endpoint, started_at, execution),
                        UpdateExpression="SET outcome = :o, expires_at = :e", ConditionExpression="claimed_by = :h",
                        ExpressionAttributeValues={":o": outcome, ":h": holder, ":e": kept})
