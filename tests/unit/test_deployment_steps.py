"""Deployment steps around their I/O, on in-memory fakes (no moto): what a failure half-way
through an adapter change leaves serving."""
import pytest
from loraplane_core.deployment import decisions, steps
from loraplane_core.deployment.payloads import AdapterTarget, ApplyAdapter, CheckAdapter
from loraplane_core.errors import DeploymentTimedOut
from loraplane_core.package_events import PackageChange
from loraplane_core.settings import Settings
from tests.unit.recorder import Recorder

SETTINGS = Settings(project_name="p", project_id="i", adapter_bucket="b", catalog_table="catalog", idempotency_table="x",
                    topic_arn="t", adapter_group="g", base_group="bg", serving_image_uri="img",
                    endpoint_name="ep", execution_role_arn="arn:aws:iam::1:role/endpoint")


class Clients:  # every store and service sits behind a fake below
    catalog = sagemaker = s3 = autoscaling = cloudwatch = None


CLIENTS = Clients()


class FlakyMode:
    """A serving mode whose next apply fails once after half its work (files copied, manifest not)."""
    def __init__(self, served: dict[str, str]):
        self.served, self.fail_next = dict(served), True

    def apply(self, adapter, artifact_uri, entry):
        self.served[adapter] = entry.sha256
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("manifest write failed")

    def remove(self, adapter):
        self.served.pop(adapter, None)


def version(n: int, state: str) -> decisions.VersionView:
    return decisions.VersionView(package_arn=f"arn:pkg/{n}", version=n, sha256=f"{n:064x}", artifact_uri=f"s3://b/{n}",
                                 base_model="tiny", state=state, registry_status="Approved",
                                 approved_at=f"2026-01-01T1{n}:00:00+00:00")


class EmptyQueue:
    """No decision waits for the lock (lock batching: test_lock_batching.py)."""
    def claim(self, *a, **k):
        return []


def fake_world(monkeypatch, served: dict[str, str], *versions: decisions.VersionView) -> FlakyMode:
    """The step's stores and services as fakes: this serving mode, this snapshot, the lock held."""
    mode = FlakyMode(served)
    snap = decisions.AdapterSnapshot(adapter="bot", versions=versions, deployed_base="tiny", base_ready=True)
    monkeypatch.setattr(steps, "serving_mode", lambda c, s: mode)
    monkeypatch.setattr(steps.snapshots, "adapter_snapshot", lambda c, s, change: snap)
    monkeypatch.setattr(steps.endpoint_lock, "ensure_held", lambda *a, **k: None)
    monkeypatch.setattr(steps, "decision_queue", EmptyQueue())
    return mode


@pytest.fixture
def world(monkeypatch):
    return fake_world(monkeypatch, {"bot": f"{1:064x}"}, version(1, "live"), version(2, "registered"))


def test_an_apply_that_fails_half_way_puts_back_what_served(world):
    change = PackageChange(kind="adapter", action="approved", package_arn="arn:pkg/2", group="g", version=2,
                           status="Approved", modified="2026-01-01T12:00:00+00:00", name="bot")
    request = ApplyAdapter(action="apply", owner="exec", change=change)
    with pytest.raises(ConnectionError):
        steps.apply_adapter(CLIENTS, SETTINGS, request)
    assert world.served == {"bot": f"{1:064x}"}  # version 1 serves again, not half of version 2
    plan = steps.apply_adapter(CLIENTS, SETTINGS, request)  # the state's retry
    assert plan.outcome == "deploy" and world.served == {"bot": f"{2:064x}"}
    assert plan.target == AdapterTarget(package_arn="arn:pkg/2", version=2, sha256=f"{2:064x}", artifact_uri="s3://b/2",
                                        base_model="tiny")


def test_a_failed_change_after_a_rejection_never_puts_the_rejected_version_back(monkeypatch):
    """Rejecting live v2 falls back to v1; that apply fails half-way: nothing serves, not v2."""
    rejected = decisions.VersionView(**{**version(2, "live").__dict__, "registry_status": "Rejected", "approved_at": ""})
    mode = fake_world(monkeypatch, {"bot": f"{2:064x}"}, version(1, "registered"), rejected)
    change = PackageChange(kind="adapter", action="rejected", package_arn="arn:pkg/2", group="g", version=2,
                           status="Rejected", modified="2026-01-01T13:00:00+00:00", name="bot")
    with pytest.raises(ConnectionError):
        steps.apply_adapter(CLIENTS, SETTINGS, ApplyAdapter(action="apply", owner="exec", change=change))
    assert mode.served == {}


# -- ScaleToZero: a deployment made while the endpoint is at 0 copies wakes it -----------------------
class ServingMode(FlakyMode):
    """Applies without failing; every adapter component it has is in service."""
    def __init__(self, served):
        super().__init__(served)
        self.fail_next = False

    def status(self, adapter, artifact_uri=None):
        return ("InService", None) if adapter in self.served else ("Missing", None)

    def statuses(self, wanted):
        return {adapter: self.status(adapter, uri) for adapter, uri in wanted.items()}


class BaseAtZero:
    """The base component scaled to zero; a requested copy arrives when `arrive()` is called."""
    def __init__(self):
        self.desired = self.current = 0
        self.status, self.updates = "InService", []

    def describe_inference_component(self, InferenceComponentName):
        assert InferenceComponentName == "p-i-base"
        return {"InferenceComponentStatus": self.status,
                "RuntimeConfig": {"DesiredCopyCount": self.desired, "CurrentCopyCount": self.current}}

    def update_inference_component_runtime_config(self, InferenceComponentName, DesiredRuntimeConfig):
        self.updates.append(DesiredRuntimeConfig)
        self.desired, self.status = DesiredRuntimeConfig["CopyCount"], "Updating"

    def arrive(self):
        self.current, self.status = self.desired, "InService"


class ScaledClients:
    catalog = s3 = None

    def __init__(self):
        self.sagemaker = BaseAtZero()
        policies = [{"PolicyName": "p-i-invocations", "PolicyARN": "arn:tt"},
                    {"PolicyName": "p-i-scale-from-zero", "PolicyARN": "arn:step"}]
        self.autoscaling = Recorder({"describe_scaling_policies": {"ScalingPolicies": policies}})
        self.cloudwatch = Recorder({"describe_alarms": {"MetricAlarms": [{"AlarmName": "found"}]}})


TO_ZERO = SETTINGS.model_copy(update={"scale_to_zero": True})
APPROVE_V2 = PackageChange(kind="adapter", action="approved", package_arn="arn:pkg/2", group="g", version=2,
                           status="Approved", modified="2026-01-01T12:00:00+00:00", name="bot")


@pytest.fixture
def at_zero(monkeypatch):
    mode = ServingMode({"bot": f"{1:064x}"})
    fake_world(monkeypatch, {}, version(1, "live"), version(2, "registered"))
    monkeypatch.setattr(steps, "serving_mode", lambda c, s: mode)
    return ScaledClients()


def test_an_approval_at_zero_copies_wakes_the_base_and_puts_an_alarm_on_the_adapter(at_zero):
    plan = steps.apply_adapter(at_zero, TO_ZERO, ApplyAdapter(action="apply", owner="exec", change=APPROVE_V2))
    assert plan.outcome == "deploy" and at_zero.sagemaker.updates == [{"CopyCount": 1}]
    [(op, alarm)] = at_zero.cloudwatch.calls
    assert op == "put_metric_alarm" and alarm["AlarmActions"] == ["arn:step"]
    assert alarm["AlarmName"].startswith("p-i-scale-from-zero-bot-")


def test_the_check_reports_ready_only_once_a_base_copy_serves(at_zero):
    plan = steps.apply_adapter(at_zero, TO_ZERO, ApplyAdapter(action="apply", owner="exec", change=APPROVE_V2))
    assert steps.check_adapter(at_zero, TO_ZERO, CheckAdapter(action="check", deployment=plan),
                               poll_seconds=0).ready is False  # the adapter is in service, no copy of the base
    at_zero.sagemaker.arrive()
    assert steps.check_adapter(at_zero, TO_ZERO, CheckAdapter(action="check", deployment=plan),
                               poll_seconds=0).ready is True
    assert at_zero.sagemaker.updates == [{"CopyCount": 1}]  # asked once


def test_the_check_asks_again_when_the_copy_was_taken_back_and_keeps_its_deadline(at_zero):
    plan = steps.apply_adapter(at_zero, TO_ZERO, ApplyAdapter(action="apply", owner="exec", change=APPROVE_V2))
    at_zero.sagemaker.desired, at_zero.sagemaker.status = 0, "InService"  # auto scaling removed it meanwhile
    late = plan.model_copy(update={"deadline": 0})
    with pytest.raises(DeploymentTimedOut):
        steps.check_adapter(at_zero, TO_ZERO, CheckAdapter(action="check", deployment=late), poll_seconds=0)
    assert at_zero.sagemaker.updates == [{"CopyCount": 1}, {"CopyCount": 1}]


def test_retiring_an_adapter_deletes_its_alarm(at_zero, monkeypatch):
    rejected = decisions.VersionView(**{**version(1, "live").__dict__, "registry_status": "Rejected",
                                        "approved_at": ""})
    monkeypatch.setattr(steps.snapshots, "adapter_snapshot", lambda c, s, change: decisions.AdapterSnapshot(
        adapter="bot", versions=(rejected,), deployed_base="tiny", base_ready=True))
    change = PackageChange(kind="adapter", action="rejected", package_arn="arn:pkg/1", group="g", version=1,
                           status="Rejected", modified="2026-01-01T13:00:00+00:00", name="bot")
    plan = steps.apply_adapter(at_zero, TO_ZERO, ApplyAdapter(action="apply", owner="exec", change=change))
    assert plan.outcome == "retire" and at_zero.sagemaker.updates == []
    assert [op for op, _ in at_zero.cloudwatch.calls] == ["describe_alarms", "delete_alarms"]
