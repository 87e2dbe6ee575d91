"""The deployment's decisions (loraplane_core.deployment.decisions), pure: every outcome from a
table of snapshots, no moto, no clock. Sequences of events: test_decision_sequences.py."""
import pytest
from loraplane_core.deployment import decisions as d
from loraplane_core.deployment.payloads import AdapterPlan, BaseTarget
from loraplane_core.errors import VersionNotCatalogued
from loraplane_core.package_events import PackageChange

T0, T1, T2, T3 = "2026-01-01T10:00:00+00:00", "2026-01-01T11:00:00+00:00", "2026-01-01T12:00:00+00:00", \
    "2026-01-01T13:00:00+00:00"


def arn(n: int, group: str = "adapters") -> str:
    return f"arn:aws:sagemaker:us-east-1:1:model-package/{group}/{n}"


def v(n: int, state="registered", status="Approved", approved_at=T0, base="tiny") -> d.VersionView:
    return d.VersionView(package_arn=arn(n), version=n, sha256=f"{n:064x}", artifact_uri=f"s3://b/artifacts/bot/{n}",
                         base_model=base, state=state, registry_status=status,
                         approved_at=approved_at if status == "Approved" else "")


def change(n: int, action="approved", modified=T1, replay=False, kind="adapter", name="bot") -> PackageChange:
    status = {"approved": "Approved", "rejected": "Rejected", "none": "PendingManualApproval"}[action]
    return PackageChange(kind=kind, action=action, package_arn=arn(n, "bases" if kind == "base" else "adapters"),
                         group="g", version=n, status=status, modified=modified, name=name,
                         artifact_uri=f"s3://b/base/{n}/", replayed_by_reconciler=replay)


def snap(*versions, base="tiny", ready=True, seen=None) -> d.AdapterSnapshot:
    return d.AdapterSnapshot(adapter="bot", versions=tuple(versions), deployed_base=base, base_ready=ready, seen=seen)


ADAPTER_CASES = [
    # (why, snapshot, change, outcome, target version)
    ("first approval goes live", snap(v(1, approved_at=T1)), change(1), "deploy", 1),
    ("a newer approval replaces the live one", snap(v(1, "live"), v(2, approved_at=T1)), change(2), "deploy", 2),
    ("no base model yet", snap(v(1), base=None), change(1), "deferred", None),
    ("the endpoint cannot take it yet", snap(v(1), ready=False), change(1), "deferred", None),
    ("built for another base", snap(v(1, base="other")), change(1), "incompatible", None),
    ("already live", snap(v(1, "live", approved_at=T1)), change(1), "unchanged", None),
    ("a replay of the live one is applied again", snap(v(1, "live", approved_at=T1)), change(1, replay=True), "deploy", 1),
    ("a later approval is live", snap(v(1, "live", approved_at=T2), v(2, approved_at=T1)), change(2), "superseded", None),
    ("the registry has since rejected it: the rejection is acted on", snap(v(1, status="Rejected")), change(1),
     "rejected_not_live", None),
    ("... and so is a replay (which retires what serves)", snap(v(1, status="Rejected")), change(1, replay=True),
     "retire", None),
    ("... and a live version is taken off", snap(v(1, "live", status="Rejected")), change(1), "retire", None),
    ("a rejection the registry has since overturned deploys the approval", snap(v(1, approved_at=T2)),
     change(1, "rejected", T1), "deploy", 1),
    ("back to pending in the registry", snap(v(1, status="PendingManualApproval")), change(1), "superseded", None),
    ("a newer decision on the package was recorded", snap(v(1), seen=d.Seen("Approved", T2)), change(1), "superseded", None),
    ("rejecting the live one restores the previous approval",
     snap(v(1, approved_at=T0), v(2, "live", status="Rejected")), change(2, "rejected", T2), "deploy", 1),
    ("... the latest approval, not the highest version",
     snap(v(1, approved_at=T1), v(2, approved_at=T0), v(3, "live", status="Rejected")), change(3, "rejected", T2), "deploy", 1),
    ("... never a failed one", snap(v(1, "failed"), v(2, "live", status="Rejected")), change(2, "rejected", T2), "retire", None),
    ("... never one for another base", snap(v(1, base="other"), v(2, "live", status="Rejected")), change(2, "rejected", T2),
     "retire", None),
    ("... never a rejected one", snap(v(1, status="Rejected"), v(2, "live", status="Rejected")), change(2, "rejected", T2),
     "retire", None),
    ("rejecting the live one with the endpoint not ready retires it",
     snap(v(1), v(2, "live", status="Rejected"), ready=False), change(2, "rejected", T2), "retire", None),
    ("rejecting one that is not live", snap(v(1, "live"), v(2, status="Rejected")), change(2, "rejected"),
     "rejected_not_live", None),
    ("a replayed rejection of an adapter served with nothing live", snap(v(1, status="Rejected")),
     change(1, "rejected", replay=True), "retire", None),
    ("rejected before ingest recorded it", snap(), change(9, "rejected"), "unknown_version", None),
    ("a replay of a failed version that still serves: the latest approved that did not fail",
     snap(v(1, approved_at=T0), v(2, "failed", approved_at=T1)), change(2, replay=True), "deploy", 1),
    ("... or nothing", snap(v(2, "failed", approved_at=T1)), change(2, replay=True), "retire", None),
    ("a late replay of an older approval while a rejected version still serves: the latest approval",
     snap(v(1, "live", status="Rejected"), v(2, approved_at=T2), v(3, approved_at=T1)), change(3, replay=True),
     "deploy", 2),
    ("an older approval while a later one waits for the lock: the later one serves",
     snap(v(1, approved_at=T1), v(2, approved_at=T2)), change(1), "deploy", 2),
    ("a fresh approval of a version whose deployment failed: it is tried again",
     snap(v(1, "live", approved_at=T0), v(2, "failed", approved_at=T2)), change(2), "deploy", 2),
]


@pytest.mark.parametrize("why,snapshot,decision,outcome,target", ADAPTER_CASES, ids=[c[0] for c in ADAPTER_CASES])
def test_adapter_plan(why, snapshot, decision, outcome, target):
    plan = d.plan_adapter(snapshot, decision)
    assert plan.outcome == outcome
    assert (plan.target.version if plan.target else None) == target
    live = snapshot.live()
    assert (plan.previous.version if plan.previous else None) == (live.version if live else None)


def test_every_adapter_outcome_is_covered():
    outcomes = {c[3] for c in ADAPTER_CASES}
    assert outcomes == set(AdapterPlan.model_fields["outcome"].annotation.__args__)


def test_an_approval_ingest_has_not_recorded_yet_is_retried():
    with pytest.raises(VersionNotCatalogued):
        d.plan_adapter(snap(), change(9))


@pytest.mark.parametrize("action,previous,restored", [("approved", 1, 1), ("approved", None, None), ("rejected", 1, None)])
def test_adapter_rollback_target(action, previous, restored):
    plan = AdapterPlan(adapter="bot", outcome="deploy", change=change(2, action),
                       previous=v(previous).target() if previous else None)
    target = d.adapter_rollback_target(plan)
    assert (target.version if target else None) == restored


def base(n: int) -> BaseTarget:
    return BaseTarget(package_arn=arn(n, "bases"), version=n, base_model=f"base-{n}", model_uri=f"s3://b/base/{n}/")


def bsnap(deployed=None, deployed_at="", seen=None, status=None, replacement=None) -> d.BaseSnapshot:
    return d.BaseSnapshot(deployed=deployed, deployed_approved_at=deployed_at, seen=seen, registry_status=status,
                          replacement=replacement)


BASE_CASES = [
    ("first base", bsnap(status="Approved"), change(1, kind="base"), 1),
    ("a newer base", bsnap(base(1), T0, status="Approved"), change(2, kind="base"), 2),
    ("an older approval than the one serving", bsnap(base(1), T2, status="Approved"), change(2, kind="base"), None),
    ("the one serving, approved again", bsnap(base(1), T0, status="Approved"), change(1, kind="base"), 1),
    ("the registry has since rejected it", bsnap(base(1), T0, status="Rejected"), change(2, kind="base"), None),
    ("a newer decision was recorded", bsnap(status="Approved", seen=d.Seen("Rejected", T2)), change(1, kind="base"), None),
    ("rejecting the serving base: the replacement", bsnap(base(2), T0, status="Rejected", replacement=base(1)),
     change(2, "rejected", T2, kind="base"), 1),
    ("rejecting the serving base, nothing else approved", bsnap(base(2), T0, status="Rejected"),
     change(2, "rejected", T2, kind="base"), None),
    ("rejecting a base that does not serve", bsnap(base(1), T0, status="Rejected", replacement=base(3)),
     change(2, "rejected", T2, kind="base"), None),
    ("rejecting before any base serves", bsnap(status="Rejected"), change(2, "rejected", T2, kind="base"), None),
]


@pytest.mark.parametrize("why,snapshot,decision,target", BASE_CASES, ids=[c[0] for c in BASE_CASES])
def test_base_target(why, snapshot, decision, target):
    chosen = d.base_target(snapshot, decision)
    assert (chosen.version if chosen else None) == target


@pytest.mark.parametrize("action,deployed,restored", [("approved", 1, 1), ("approved", None, None), ("rejected", 1, None)])
def test_base_rollback_target(action, deployed, restored):
    target = d.base_rollback_target(change(2, action, kind="base"), base(deployed) if deployed else None)
    assert (target.version if target else None) == restored


def test_reattach_keeps_compatible_live_versions_and_finds_one_for_the_others():
    plan = d.plan_reattach("tiny", {
        "keeps": (v(1, "live"),),
        "moves": (v(2, "live", base="old"), v(3, approved_at=T0), v(4, approved_at=T1, base="old")),
        "stops": (v(5, "live", base="old"), v(6, status="Rejected")),
        "waits": (v(7, "failed"),),
        "rejected": (v(8, "live", status="Rejected"), v(9, approved_at=T0)),  # its rejection is still queued
    })
    assert {a: x.version for a, x in plan.serve.items()} == {"keeps": 1, "moves": 3, "rejected": 9}
    assert sorted(plan.stop) == ["stops", "waits"]
    assert sorted((a, x.version) for a, x in plan.incompatible) == [("moves", 2), ("moves", 4), ("stops", 5)]


def test_drift_base_first_then_adapters():
    adapters = {"ok": (v(1, "live"),), "stale": (v(2, "live"), v(3, approved_at=T1)), "gone": (v(4, status="Rejected"),),
                "missing": (v(5),)}
    served = {"ok": f"{1:064x}", "stale": f"{2:064x}", "gone": f"{4:064x}"}
    assert d.find_drift(arn(2, "bases"), base(1), adapters, served) == [
        d.Drift("base", arn(2, "bases"), arn(1, "bases"), arn(2, "bases"))]
    assert d.find_drift(None, None, adapters, served) == []
    dep = BaseTarget(package_arn=arn(1, "bases"), version=1, base_model="tiny", model_uri="")
    drift = {x.adapter: x for x in d.find_drift(arn(1, "bases"), dep, adapters, served)}
    assert set(drift) == {"stale", "gone", "missing"}
    assert drift["stale"].replay == arn(3) and drift["gone"].expected is None and drift["gone"].replay == arn(4)
    assert drift["missing"].actual is None and drift["missing"].replay == arn(5)
