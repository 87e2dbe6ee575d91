"""Lock batching: adapter decisions that wait for the endpoint lock are queued, and the holder carries
them out with its own. The queue and the waiter's side on moto's in-process DynamoDB; the holder's
steps on in-memory fakes (test_deployment_steps.py's)."""
import json
import time

import boto3
import pytest
from loraplane_core.deployment import decision_queue, decisions, endpoint_lock, outcomes, steps
from loraplane_core.deployment.payloads import (
    AcquireLock,
    AdapterPlan,
    AdapterRecord,
    AdapterTarget,
    ApplyAdapter,
    CheckAdapter,
    Rider,
    RiderSmoke,
    RollBackAdapter,
    RollBackFailedRiders,
    SmokeResult,
    TaskError,
)
from loraplane_core.errors import AdapterDeploymentFailed, LockTimeout, VersionNotCatalogued
from loraplane_core.package_events import PackageChange
from loraplane_core.settings import LockSettings
from tests.unit.test_deployment_steps import SETTINGS, ServingMode, version

EP = "ep"
LOCK = LockSettings.model_validate({**SETTINGS.model_dump(), "LOCK_WAIT_SECONDS": 600})


def change(name: str, n: int = 2, action: str = "approved") -> PackageChange:
    return PackageChange(kind="adapter", action=action, package_arn=f"arn:pkg/{name}/{n}", group="g", version=n,
                         status="Approved" if action == "approved" else "Rejected",
                         modified="2026-01-01T12:00:00+00:00", name=name)


def iso(seconds_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - seconds_ago))


@pytest.fixture
def table(in_process_aws):
    ddb = boto3.resource("dynamodb", region_name="us-east-1")
    return ddb.create_table(TableName=f"catalog-{in_process_aws}", BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}])


def queue(table, execution: str, name: str, started_at: str, expires_in: float = 600) -> None:
    decision_queue.enqueue(table, EP, execution, started_at, change(name), expires_at=int(time.time() + expires_in))


# -- the queue -----------------------------------------------------------------------------------
def test_the_holder_claims_the_oldest_decision_of_each_other_adapter(table):
    queue(table, "e3", "b", "2026-01-01T10:00:03.000Z")
    queue(table, "e1", "a", "2026-01-01T10:00:01.000Z")
    queue(table, "e2", "a", "2026-01-01T10:00:02.000Z")  # a later decision on "a": the next batch
    queue(table, "e4", "mine", "2026-01-01T10:00:04.000Z")  # the holder's own adapter: not a rider
    queue(table, "e5", "c", "2026-01-01T10:00:05.000Z", expires_in=-1)  # its waiter gives up: left alone
    queue(table, "e1", "a", "2026-01-01T10:00:01.000Z")  # a retried enqueue changes nothing
    taken = decision_queue.claim(table, EP, "holder", skip={"mine"}, now=time.time())
    assert [(q.execution, q.change.name) for q in taken] == [("e1", "a"), ("e3", "b")]
    assert decision_queue.claim(table, EP, "holder", skip={"mine"}, now=time.time(), limit=1)[0].execution == "e1"
    assert decision_queue.read(table, EP, "e2", "2026-01-01T10:00:02.000Z").get("claimed_by") is None


def test_a_claim_is_bounded_and_a_stale_claim_is_taken_over(table):
    for i in range(decision_queue.MAX_RIDERS + 5):
        queue(table, f"e{i:02d}", f"a{i:02d}", f"2026-01-01T10:00:{i:02d}.000Z")
    first = decision_queue.claim(table, EP, "h1", skip=set(), now=time.time())
    assert len(first) == decision_queue.MAX_RIDERS
    # h1 failed without settling them; h2 holds the lock now: every unsettled decision is its to take
    decision_queue.settle(table, EP, "e00", first[0].started_at, "h1", "succeeded")
    second = decision_queue.claim(table, EP, "h2", skip=set(), now=time.time(), limit=100)
    assert [q.execution for q in second] == [f"e{i:02d}" for i in range(1, decision_queue.MAX_RIDERS + 5)]
    assert not decision_queue.settle(table, EP, "e01", second[0].started_at, "h1", "failed")  # no longer h1's
    assert decision_queue.settle(table, EP, "e01", second[0].started_at, "h2", "failed")


def test_a_taken_back_decision_keeps_an_outcome_settled_meanwhile(table):
    queue(table, "e1", "a", "2026-01-01T10:00:01.000Z")
    queue(table, "e2", "b", "2026-01-01T10:00:02.000Z")
    decision_queue.claim(table, EP, "h", skip=set(), now=time.time())
    decision_queue.settle(table, EP, "e1", "2026-01-01T10:00:01.000Z", "h", "succeeded")
    assert decision_queue.withdraw(table, EP, "e1", "2026-01-01T10:00:01.000Z")["outcome"] == "succeeded"
    assert decision_queue.withdraw(table, EP, "e2", "2026-01-01T10:00:02.000Z") is None
    assert decision_queue.withdraw(table, EP, "never-queued", "2026-01-01T10:00:03.000Z") is None
    assert [i["execution"] for i in table.scan()["Items"]] == ["e1"]  # a retried read gets the same outcome
    later = time.time() + decision_queue.SETTLED_KEPT_SECONDS + 1
    decision_queue.claim(table, EP, "h2", skip=set(), now=later)  # a later claim, once it expired
    assert not table.scan()["Items"]


def test_an_outcome_settled_after_its_waiters_own_expiry_stays_for_the_waiter_to_read(table):
    queue(table, "late", "a", "2026-01-01T10:00:01.000Z", expires_in=1)  # claimed just before its wait ends
    decision_queue.claim(table, EP, "h", skip=set(), now=time.time())
    decision_queue.settle(table, EP, "late", "2026-01-01T10:00:01.000Z", "h", "succeeded", now=time.time() + 60)
    decision_queue.claim(table, EP, "h2", skip=set(), now=time.time() + 120)  # the next holder's claim
    assert decision_queue.read(table, EP, "late", "2026-01-01T10:00:01.000Z")["outcome"] == "succeeded"


# -- the waiter ----------------------------------------------------------------------------------
class Catalog:
    def __init__(self, table):
        self.catalog = table


def wait(table, execution: str, started_at: str, name: str = "a"):
    return endpoint_lock.acquire_lock(Catalog(table), LOCK, AcquireLock(action="acquire", owner=execution,
                                                                        started_at=started_at, change=change(name)))


def claimed_by_the_holder(table, started: str) -> None:
    """"holder" holds the lock; "waiter" (started then) queues its decision; the holder claims it."""
    assert endpoint_lock.acquire(table, EP, "holder")
    assert wait(table, "waiter", started).acquired is False
    [queued] = decision_queue.claim(table, EP, "holder", skip=set(), now=time.time())
    assert queued.execution == "waiter"


def test_a_waiter_ends_with_the_outcome_the_holder_settled(table):
    assert endpoint_lock.acquire(table, EP, "holder")
    started = iso(5)
    assert wait(table, "waiter", started).acquired is False
    [queued] = decision_queue.claim(table, EP, "holder", skip=set(), now=time.time())
    assert wait(table, "waiter", started).acquired is False  # still being carried out
    decision_queue.settle(table, EP, "waiter", started, "holder", "failed")
    result = wait(table, "waiter", started)
    assert (result.acquired, result.batched, result.batched_by) == (False, "failed", "holder")
    assert wait(table, "waiter", started) == result  # a retried call (its answer lost) answers the same


def test_a_waiter_whose_decision_was_settled_just_before_it_took_the_lock_gives_the_lock_back(table, monkeypatch):
    started = iso(5)
    claimed_by_the_holder(table, started)
    decision_queue.settle(table, EP, "waiter", started, "holder", "succeeded")
    endpoint_lock.release(table, EP, "holder")
    monkeypatch.setattr(decision_queue, "read", lambda *a: None)  # it read its item just before it was settled
    result = wait(table, "waiter", started)
    assert result.batched == "succeeded" and endpoint_lock.holder(table, EP) is None


def test_a_retry_that_finds_its_decision_settled_gives_back_a_lock_it_still_holds(table):
    """The first try took the lock, found the decision settled, and died before its release."""
    started = iso(5)
    claimed_by_the_holder(table, started)
    decision_queue.settle(table, EP, "waiter", started, "holder", "succeeded")
    endpoint_lock.release(table, EP, "holder")
    assert endpoint_lock.acquire(table, EP, "waiter")  # ... and then the Lambda died
    assert wait(table, "waiter", started).batched == "succeeded"
    assert endpoint_lock.holder(table, EP) is None


def test_a_waiter_acts_itself_when_its_claim_went_stale(table):
    started = iso(5)
    claimed_by_the_holder(table, started)
    endpoint_lock.release(table, EP, "holder")  # the holder failed before it settled the decision
    assert wait(table, "waiter", started).acquired is True
    assert not decision_queue.read(table, EP, "waiter", started)


def test_a_waiter_times_out_only_while_no_holder_carries_its_decision_out(table):
    started = iso(LOCK.lock_wait_seconds - 1)
    assert endpoint_lock.acquire(table, EP, "holder")
    wait(table, "waiter", started)
    decision_queue.claim(table, EP, "holder", skip=set(), now=time.time())
    late = iso(LOCK.lock_wait_seconds + 5)
    queue(table, "waiter", "a", late)  # the same waiter, now past its wait, claimed by the holder
    decision_queue.claim(table, EP, "holder", skip=set(), now=0)
    assert wait(table, "waiter", late).acquired is False
    decision_queue.give_back(table, EP, "waiter", late, "holder")
    with pytest.raises(LockTimeout):
        wait(table, "waiter", late)
    assert not decision_queue.read(table, EP, "waiter", late)


def test_base_decisions_and_callers_without_a_start_time_never_queue(table):
    assert endpoint_lock.acquire(table, EP, "holder")
    base = change("tiny").model_copy(update={"kind": "base"})
    for request in (AcquireLock(action="acquire", owner="w1", started_at=iso(1), change=base),
                    AcquireLock(action="acquire", owner="w2", change=change("a"))):
        assert endpoint_lock.acquire_lock(Catalog(table), LOCK, request).acquired is False
    assert [i["pk"] for i in table.scan()["Items"]] == [endpoint_lock.lock_key(EP)["pk"]]


# -- the holder ----------------------------------------------------------------------------------
class FakeQueue:
    """The decisions waiting, as decision_queue.claim hands them out; what was given back."""
    def __init__(self, *names: str):
        self.waiting = [decision_queue.Queued(execution=f"x-{n}", started_at="t", change=change(n)) for n in names]
        self.given_back: list[str] = []

    def claim(self, table, endpoint, holder, skip, now):
        return [q for q in self.waiting if q.change.name not in skip]

    def give_back(self, table, endpoint, execution, started_at, holder):
        self.given_back.append(execution)


class Modes(ServingMode):
    """Serves what is applied; `failing` adapters report Failed."""
    failing: set[str] = set()

    def status(self, adapter, artifact_uri=None):
        return ("Failed", "refused") if adapter in self.failing else super().status(adapter, artifact_uri)


def snapshot_of(name: str, catalogued: bool = True) -> decisions.AdapterSnapshot:
    live = decisions.VersionView(**{**version(1, "live").__dict__, "package_arn": f"arn:pkg/{name}/1"})
    new = decisions.VersionView(**{**version(2, "registered").__dict__, "package_arn": f"arn:pkg/{name}/2"})
    return decisions.AdapterSnapshot(adapter=name, versions=(live, new) if catalogued else (live,),
                                     deployed_base="tiny", base_ready=True)


@pytest.fixture
def holder(monkeypatch):
    mode, queue_ = Modes({n: f"{1:064x}" for n in ("bot", "r1", "r2", "r3")}), FakeQueue("r1", "r2", "r3", "bot")

    def snapshot(c, s, ch):
        if ch.name == "r3":
            raise VersionNotCatalogued("r3 is still being recorded")
        return snapshot_of(ch.name)

    monkeypatch.setattr(steps, "serving_mode", lambda c, s: mode)
    monkeypatch.setattr(steps.snapshots, "adapter_snapshot", snapshot)
    monkeypatch.setattr(steps.endpoint_lock, "ensure_held", lambda *a, **k: None)
    monkeypatch.setattr(steps, "decision_queue", queue_)
    monkeypatch.setattr(steps.scaling, "ensure_capacity", lambda *a, **k: True)
    monkeypatch.setattr(steps.scaling, "watch_adapter", lambda *a, **k: None)
    monkeypatch.setattr(steps.scaling, "unwatch_adapter", lambda *a, **k: None)
    return mode, queue_


class NoClients:  # every store and service sits behind a fake
    catalog = sagemaker = s3 = autoscaling = cloudwatch = None


C = NoClients()


def apply(name: str = "bot"):
    return steps.apply_adapter(C, SETTINGS, ApplyAdapter(action="apply", owner="exec", change=change(name)))


def test_the_holder_applies_the_queued_decisions_with_its_own_and_gives_back_what_it_cannot_plan(holder):
    mode, queue_ = holder
    plan = apply()
    assert [r.execution for r in plan.riders] == ["x-r1", "x-r2"] and plan.has_riders and plan.needs_check
    assert mode.served == {n: f"{2:064x}" for n in ("bot", "r1", "r2")} | {"r3": f"{1:064x}"}
    assert queue_.given_back == ["x-r3"]  # its own execution retries it
    assert all(r.plan.deadline == plan.deadline and r.plan.outcome == "deploy" for r in plan.riders)


def test_a_rider_that_fails_its_check_is_noted_while_the_batch_goes_on(holder):
    mode, _ = holder
    mode.failing = {"r2"}
    plan = steps.check_adapter(C, SETTINGS, CheckAdapter(action="check", deployment=apply()), poll_seconds=0)
    assert plan.ready and plan.riders[0].plan.ready and plan.riders[0].error is None
    assert plan.riders[1].error == TaskError(Error="AdapterDeploymentFailed", Cause="adapter r2: Failed refused")
    mode.failing = {"bot"}
    with pytest.raises(AdapterDeploymentFailed):  # this execution's own change: RollBackAdapter
        steps.check_adapter(C, SETTINGS, CheckAdapter(action="check", deployment=apply()), poll_seconds=0)


def test_a_transient_error_in_a_riders_check_is_retried_not_held_against_the_rider(holder, monkeypatch):
    from botocore.exceptions import ClientError

    def throttled(*a, **k):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "DescribeEndpoint")

    plan = apply()
    monkeypatch.setattr(steps.scaling, "ensure_capacity", throttled)
    with pytest.raises(ClientError):  # the state's Retry runs CheckAdapter again
        steps.check_adapter(C, SETTINGS, CheckAdapter(action="check", deployment=plan), poll_seconds=0)


def test_riders_left_when_the_time_for_them_is_spent_are_given_back(holder, monkeypatch):
    _, queue_ = holder
    monkeypatch.setattr(steps, "RIDERS_SECONDS", -1)
    plan = apply()
    assert plan.riders == [] and queue_.given_back == ["x-r1", "x-r2", "x-r3"]


def test_rolling_back_the_holders_change_puts_back_every_rider_and_gives_it_back(holder):
    mode, queue_ = holder
    plan = apply()
    queue_.given_back.clear()
    steps.rollback_adapter(C, SETTINGS, RollBackAdapter(action="rollback", owner="exec", deployment=plan))
    assert mode.served == {n: f"{1:064x}" for n in ("bot", "r1", "r2", "r3")}
    assert queue_.given_back == ["x-r1", "x-r2"]


def test_a_failed_batch_never_removes_what_the_holders_own_decision_left_serving(holder, monkeypatch):
    """Rejecting a version that was never live changes nothing; its rider's failure rolls back only the rider."""
    mode, queue_ = holder
    rejected = change("bot", n=3, action="rejected").model_copy(update={"package_arn": "arn:pkg/bot/3"})
    snap = snapshot_of("bot")
    monkeypatch.setattr(steps.snapshots, "adapter_snapshot", lambda c, s, ch: snap if ch.name == "bot" else (
        snapshot_of(ch.name, ch.name != "r3")))
    rejected_view = decisions.VersionView(**{**version(3, "registered").__dict__, "package_arn": "arn:pkg/bot/3",
                                             "registry_status": "Rejected", "approved_at": ""})
    snap = decisions.AdapterSnapshot(adapter="bot", versions=(*snap.versions, rejected_view), deployed_base="tiny",
                                     base_ready=True)
    plan = steps.apply_adapter(C, SETTINGS, ApplyAdapter(action="apply", owner="exec", change=rejected))
    assert plan.outcome == "rejected_not_live" and plan.needs_check
    rollback = steps.rollback_adapter(C, SETTINGS, RollBackAdapter(action="rollback", owner="exec", deployment=plan))
    assert mode.served["bot"] == f"{1:064x}"  # still serving its live version
    assert rollback.changed is False  # RecordFailure marks no version failed for it


def test_settling_rolls_back_the_riders_that_failed_their_check_or_smoke_test(holder):
    mode, _ = holder
    plan = apply()
    plan = plan.model_copy(update={"riders": [plan.riders[0].model_copy(update={"error": TaskError(Error="X")}),
                                              plan.riders[1]]})
    smoke = SmokeResult(prompt="p", base="b", adapter="a", riders={"x-r2": RiderSmoke(error="answers like the base")})
    request = RollBackFailedRiders(action="rollback_riders", owner="exec", deployment=plan, smoke=smoke)
    settled = steps.rollback_failed_riders(C, SETTINGS, request)
    assert [(r.error.Error, r.rollback.restored) for r in settled.riders] == [("X", 1), ("SmokeTestFailed", 1)]
    assert mode.served == {n: f"{1:064x}" for n in ("r1", "r2", "r3")} | {"bot": f"{2:064x}"}


def test_only_riders_need_a_check_when_the_holders_decision_changes_nothing(holder, monkeypatch):
    unchanged = decisions.AdapterSnapshot(adapter="bot", versions=(version(2, "live"),), deployed_base="tiny",
                                          base_ready=True)
    monkeypatch.setattr(steps.snapshots, "adapter_snapshot",
                        lambda c, s, ch: unchanged if ch.name == "bot" else snapshot_of(ch.name, ch.name != "r3"))
    plan = steps.apply_adapter(C, SETTINGS, ApplyAdapter(action="apply", owner="exec", change=change("bot").model_copy(
        update={"package_arn": "arn:pkg/2"})))
    assert plan.outcome == "unchanged" and plan.needs_check and [r.plan.outcome for r in plan.riders] == ["deploy"] * 2


# -- recording -----------------------------------------------------------------------------------
def rider(name: str, error: TaskError | None = None) -> Rider:
    target = AdapterTarget(package_arn=f"arn:pkg/{name}/2", version=2, sha256="2" * 64, artifact_uri="s3://b/2")
    return Rider(execution=f"x-{name}", started_at="t", error=error,
                 plan=AdapterPlan(adapter=name, outcome="deploy", change=change(name), target=target))


def test_each_rider_is_recorded_notified_and_settled_as_its_own_deployment(monkeypatch):
    published, settled = [], []

    class Sns:
        def publish(self, **kwargs):
            published.append(json.loads(kwargs["Message"]))

    class Clients:
        sns, catalog = Sns(), None

    monkeypatch.setattr(outcomes, "record_adapter", lambda c, r: (f"{r.deployment.adapter} live", {
        "event": "deployment.deploy", "smoke": r.smoke.model_dump() if r.smoke else None}))
    monkeypatch.setattr(outcomes, "record_failure", lambda c, r: (
        f"{r.change.name} failed", {"event": "deployment.failed", "error": r.error.Error}))
    monkeypatch.setitem(outcomes.RECORDERS, AdapterRecord, outcomes.record_adapter)
    monkeypatch.setitem(outcomes.RECORDERS, outcomes.FailureRecord, outcomes.record_failure)
    monkeypatch.setattr(outcomes.decision_queue, "settle", lambda *a: settled.append((a[2], a[4], a[5])) or True)
    riders = [rider("r1"), rider("r2", TaskError(Error="SmokeTestFailed"))]
    own = rider("bot").plan.model_copy(update={"riders": riders})
    smoke = SmokeResult(prompt="p", base="b", adapter="x", riders={"x-r1": RiderSmoke(adapter="y")})
    record = AdapterRecord(kind="adapter", execution="exec", change=change("bot"), deployment=own, smoke=smoke)
    outcomes.record_deployment(Clients(), SETTINGS, record)
    assert [(m["event"], m.get("carried_out_by")) for m in published] == [
        ("deployment.deploy", None), ("deployment.deploy", "exec"), ("deployment.failed", "exec")]
    assert published[1]["smoke"]["adapter"] == "y"
    assert settled == [("x-r1", "exec", "succeeded"), ("x-r2", "exec", "failed")]


def test_a_failed_batch_marks_no_version_of_a_decision_that_changed_nothing(monkeypatch):
    marked = []
    monkeypatch.setattr(outcomes.transitions, "mark_deploy_failed", lambda table, ch: marked.append(ch))

    class Table:
        def put_item(self, **kwargs):
            pass

    class Clients:
        catalog = Table()

    record = outcomes.FailureRecord(kind="failed", execution="exec", change=change("bot"),
                                    error=TaskError(Error="States.TaskFailed"),
                                    rollback=outcomes.AdapterRollback(restored=1, changed=False))
    subject, body = outcomes.record_failure(Clients(), record)
    assert marked == [] and body["event"] == "deployment.failed"


def test_when_the_base_model_does_not_answer_a_holder_that_changed_nothing_leaves_the_failure_to_its_riders(
        monkeypatch):
    from loraplane_core.deployment import smoke

    class Mode:
        def invoke_args(self, adapter):
            return {"EndpointName": "ep", **({"CustomAttributes": f"adapter={adapter}"} if adapter else {})}

    class Runtime:
        def invoke_endpoint(self, **kwargs):
            raise ConnectionError("no answer")

    class Clients:
        runtime = Runtime()

    monkeypatch.setattr(smoke, "serving_mode", lambda c, s: Mode())
    monkeypatch.setattr(smoke.time, "sleep", lambda seconds: None)
    result = smoke.smoke_adapter(Clients(), SETTINGS, None, [rider("r1")], wait_seconds=0)
    assert "the base model" in result.riders["x-r1"].error
    with pytest.raises(smoke.SmokeTestFailed):  # a holder that deploys fails itself (RollBackAdapter)
        smoke.smoke_adapter(Clients(), SETTINGS, "bot", [rider("r1")], wait_seconds=0)


def test_a_full_batch_fits_a_state_machine_payload():
    """Step Functions passes at most 256 KiB between states: a plan with every rider, each with the
    longest names and URIs a package allows, stays well under it."""
    long = "x" * 63
    target = AdapterTarget(package_arn="arn:aws:sagemaker:us-east-1:123456789012:model-package/" + "g" * 63 + "/99",
                           version=99, sha256="f" * 64, artifact_uri="s3://" + "b" * 63 + "/" + "k" * 900,
                           base_model="m" * 256, requests_per_second=1.5, tokens_per_minute=10**6)
    ch = change(long).model_copy(update={"package_arn": target.package_arn, "artifact_uri": target.artifact_uri,
                                         "reason": "r" * 1024})
    plan = AdapterPlan(adapter=long, outcome="deploy", change=ch, target=target, previous=target)
    error = TaskError(Error="E", Cause="c" * steps.MAX_CAUSE)
    riders = [Rider(execution="e" * 80, started_at=iso(0), plan=plan, error=error)
              for _ in range(decision_queue.MAX_RIDERS)]
    size = len(plan.model_copy(update={"riders": riders}).model_dump_json())
    assert size < 96 * 1024, size


def test_status_shows_the_decisions_waiting_for_the_lock():
    from loraplane.status import lines_of

    held = {"held": True, "owner": "exec", "age_seconds": 42, "expired": False, "expires_at": "later", "queued": 3,
            "carried_by_holder": 2}
    assert lines_of("lock", held)[1] == "3 adapter decisions waiting, 2 carried out by the holder"
    assert lines_of("lock", {"held": False, "queued": 0}) == ["free"]
    assert lines_of("lock", {"held": False}) == ["free"]  # a report from before the queue
