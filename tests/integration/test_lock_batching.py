"""Lock batching in the emulator: approvals that wait for the endpoint lock are carried out by one
holder, under one acquisition, each still checked, smoke-tested, recorded and notified on its own.
Which execution takes the lock first is up to timing, so the test asserts what holds either way."""
import time

from loraplane.waiting import wait_until
from loraplane_core.catalog_keys import lock_key, queue_condition
from loraplane_core.deployment import endpoint_lock
from tests.integration.test_deployment import (  # noqa: F401
    answers,
    decide,
    endpoint,
    executions,
    states_entered,
    upload_version,
    version_state,
    wait_deployments_idle,
    zero_effect_copy,
)

HOLDER = "test-holds-the-lock"


def queued(stack) -> list[dict]:
    return stack.table.query(KeyConditionExpression=queue_condition(stack.outputs["EndpointName"]),
                             ConsistentRead=True)["Items"]


def waiting(stack, adapters: list[str]) -> list[dict]:
    """The unsettled queued decisions on these adapters (other tests' settled ones stay until they expire)."""
    return [q for q in queued(stack) if q["adapter"] in adapters and not q.get("outcome")]


def hand_over(stack, execution: str) -> None:
    """In one conditional write, so that no other waiter takes the lock in between."""
    now = int(time.time())
    stack.table.put_item(Item={**lock_key(stack.outputs["EndpointName"]), "owner": execution, "taken_at": now,
                               "expires_at": now + endpoint_lock.LEASE_SECONDS},
                         ConditionExpression="#o = :h", ExpressionAttributeNames={"#o": "owner"},
                         ExpressionAttributeValues={":h": HOLDER})


def queue_then_hand_over(stack, items: dict[str, dict], to: str) -> str:
    """Approves every item while the test holds the lock, waits for all to queue, then passes the lock
    to `to`'s execution (as if it had taken it next). That execution's name."""
    name = stack.outputs["EndpointName"]
    assert endpoint_lock.acquire(stack.table, name, HOLDER)  # another change holds the endpoint
    try:
        for item in items.values():
            decide(stack, item, "Approved")
        wait_until(lambda: len(waiting(stack, list(items))) == len(items), timeout=120, interval=1,
                   what=f"the {len(items)} decisions to queue")
        holder = next(q["execution"] for q in waiting(stack, [to]))
        hand_over(stack, holder)
        return holder
    finally:  # never leave the session's endpoint locked
        endpoint_lock.release(stack.table, name, HOLDER)


def test_queued_approvals_go_live_under_one_lock_and_a_failing_rider_alone_rolls_back(stack, endpoint, make_adapter,
                                                                                      notifications):
    good = {name: upload_version(stack, make_adapter(seed=seed), name)
            for name, seed in (("batch-a", 71), ("batch-b", 72), ("batch-c", 73))}
    bad = upload_version(stack, zero_effect_copy(make_adapter(seed=74)), "batch-bad")  # fails its smoke test
    wait_deployments_idle(stack)
    since = time.time()
    # batch-a's execution takes the lock next: it carries out the other three
    holder = queue_then_hand_over(stack, {**good, "batch-bad": bad}, to="batch-a")
    wait_until(lambda: all(version_state(stack, n, i["package_arn"]) == "live" for n, i in good.items())
               and version_state(stack, "batch-bad", bad["package_arn"]) == "failed", timeout=600, interval=1,
               what="three versions live and one failed")
    wait_deployments_idle(stack)

    mine = [e for e in executions(stack) if e["startDate"].timestamp() >= since - 1]
    ended = {e["name"]: (e["status"], states_entered(stack, e["executionArn"])) for e in mine}
    ended = {n: (status, states[-1]) for n, (status, states) in ended.items() if "AcquireEndpointLock" in states}
    others = sorted(v for n, v in ended.items() if n != holder)  # besides: NoNewDecision of pending events
    assert ended[holder] == ("SUCCEEDED", "Deployed") and others == [
        ("FAILED", "FailedInBatch"), ("SUCCEEDED", "DeployedInBatch"), ("SUCCEEDED", "DeployedInBatch")], ended
    assert not waiting(stack, [*good, "batch-bad"])  # all settled (kept until they expire)
    assert all(answers(stack, n) for n in good) and not answers(stack, "batch-bad")
    sent = [n["message"] for n in notifications() if str(n["message"].get("adapter_name")).startswith("batch-")
            or n["message"].get("package_arn") == bad["package_arn"]]
    assert sorted((m["adapter_name"], m.get("carried_out_by")) for m in sent if m["event"] == "deployment.deploy") == [
        ("batch-a", None), ("batch-b", holder), ("batch-c", holder)]
    [failed] = [m for m in sent if m["event"] == "deployment.failed"]
    assert failed["error"] == "SmokeTestFailed" and failed["carried_out_by"] == holder
    assert failed["rollback"]["restored"] is None  # it had no version live before
