"""Deployment steps around their I/O, on in-memory fakes (no moto): what a failure half-way
through an adapter change leaves serving."""
import pytest
from loraplane_core.deployment import decisions, steps
from loraplane_core.deployment.payloads import AdapterTarget, ApplyAdapter
from loraplane_core.package_events import PackageChange
from loraplane_core.settings import Settings

SETTINGS = Settings(project_name="p", project_id="i", adapter_bucket="b", catalog_table="catalog", idempotency_table="x",
                    topic_arn="t", adapter_group="g", base_group="bg", serving_image_uri="img",
                    endpoint_name="ep", execution_role_arn="arn:aws:iam::1:role/endpoint")


class Clients:  # every store and service sits behind a fake below
    catalog = sagemaker = s3 = None


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


def fake_world(monkeypatch, served: dict[str, str], *versions: decisions.VersionView) -> FlakyMode:
    """The step's stores and services as fakes: this serving mode, this snapshot, the lock held."""
    mode = FlakyMode(served)
    snap = decisions.AdapterSnapshot(adapter="bot", versions=versions, deployed_base="tiny", base_ready=True)
    monkeypatch.setattr(steps, "serving_mode", lambda c, s: mode)
    monkeypatch.setattr(steps.snapshots, "adapter_snapshot", lambda c, s, change: snap)
    monkeypatch.setattr(steps.endpoint_lock, "ensure_held", lambda *a, **k: None)
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
