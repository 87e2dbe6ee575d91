"""Random sequences of registry decisions, delivered late, out of order, duplicated and replayed
by the reconciler, through the deployment's pure decisions (detect -> plan -> apply -> record) on
in-memory fakes of the catalog, the registry and the endpoint. After every delivery: a rejected
version never goes live, a duplicate never changes the endpoint; once everything is delivered, the
endpoint serves the most recently approved version that is not rejected (or nothing)."""
from dataclasses import dataclass, field

from hypothesis import given, note, settings
from hypothesis import strategies as st
from loraplane_core.deployment import decisions as d
from loraplane_core.deployment.outcomes import state_changes
from loraplane_core.package_events import PackageChange

PENDING = "PendingManualApproval"


def arn(n: int) -> str:
    return f"arn:aws:sagemaker:us-east-1:1:model-package/adapters/{n}"


def at(t: int) -> str:
    return f"2026-01-01T{10 + t // 60:02d}:{t % 60:02d}:00+00:00"


@dataclass
class World:
    """The registry (status, modified), the catalog (state, transition records) and the endpoint."""
    versions: int
    registry: dict[int, tuple[str, str]] = field(default_factory=dict)  # status, LastModifiedTime
    since: dict[int, str] = field(default_factory=dict)  # when the status last changed
    states: dict[int, str] = field(default_factory=dict)
    seen: dict[int, d.Seen] = field(default_factory=dict)
    served: int | None = None
    clock: int = 0

    def __post_init__(self):
        for n in range(1, self.versions + 1):
            self.registry[n] = (PENDING, at(0))
            self.states[n] = "registered"

    def decide(self, n: int, status: str) -> PackageChange:
        """The user approves or rejects version n: the registry changes now, the event comes later.
        (An update that keeps the status, e.g. of the description, is a decision of its own time:
        out of scope here, as the event cannot tell it from an approval.)"""
        self.clock += 1
        self.since[n] = at(self.clock)
        self.registry[n] = (status, at(self.clock))
        return self.change(n)

    def change(self, n: int, replay: bool = False) -> PackageChange:
        status, modified = self.registry[n]
        return PackageChange(kind="adapter", action={"Approved": "approved", "Rejected": "rejected"}.get(status, "none"),
                             package_arn=arn(n), group="adapters", version=n, status=status, modified=modified,
                             name="bot", replayed_by_reconciler=replay)

    def record_transition(self, c: PackageChange) -> bool:
        """transitions.record_transition's ConditionExpression, on a dict."""
        s = self.seen.get(c.version)
        if s and not (c.status != s.status and (c.modified > s.modified or (c.modified == s.modified and c.status != PENDING))):
            return False
        self.seen[c.version] = d.Seen(c.status, c.modified)
        return True

    def view(self, n: int) -> d.VersionView:
        status, modified = self.registry[n]
        s = self.seen.get(n)  # snapshots.approved_at: the recorded approval, else LastModifiedTime
        approved_at = "" if status != "Approved" else (s.modified if s and s.status == "Approved" else modified)
        return d.VersionView(package_arn=arn(n), version=n, sha256=f"{n:064x}", artifact_uri=f"s3://b/{n}",
                             base_model="tiny", state=self.states[n], registry_status=status, approved_at=approved_at,
                             registry_modified=modified)

    def snapshot(self, c: PackageChange) -> d.AdapterSnapshot:
        return d.AdapterSnapshot(adapter="bot", versions=tuple(self.view(n) for n in self.registry),
                                 deployed_base="tiny", base_ready=True, seen=self.seen.get(c.version))

    def deliver(self, c: PackageChange) -> str | None:
        """One deployment execution: DetectTransition, then (under the lock) plan, apply, record."""
        if not c.replayed_by_reconciler and (not self.record_transition(c) or c.action == "none"):
            note(f"v{c.version} {c.status}@{c.modified[11:16]} dropped by the transition check")
            return None
        plan = d.plan_adapter(self.snapshot(c), c)
        note(f"v{c.version} {c.status}@{c.modified[11:16]}{' replay' if c.replayed_by_reconciler else ''} -> "
             f"{plan.outcome} {plan.target.version if plan.target else ''} (registry {self.registry})")
        if plan.outcome == "deploy":
            assert self.registry[plan.target.version][0] == "Approved", "a version not approved went live"
            self.served = plan.target.version
        elif plan.outcome == "retire":
            self.served = None
        live = {arn(n) for n, s in self.states.items() if s == "live"}
        for package, state, _ in state_changes(plan, live):
            self.states[int(package.rsplit("/", 1)[1])] = state
        return plan.outcome

    def reconcile(self) -> list[PackageChange]:
        """The reconciler's replays (started now, delivered later)."""
        adapters = {"bot": tuple(self.view(n) for n in self.registry)}
        served = {"bot": f"{self.served:064x}"} if self.served else {}
        deployed = d.BaseTarget(package_arn="base", version=1, base_model="tiny", model_uri="")
        return [self.change(int(x.replay.rsplit("/", 1)[1]), replay=True)
                for x in d.find_drift("base", deployed, adapters, served) if x.replay]

    def expected(self) -> int | None:
        approved = [(self.since[n], n) for n, (status, _) in self.registry.items() if status == "Approved"]
        return max(approved)[1] if approved else None


def next_of_some_package(data, queue: list[PackageChange]) -> PackageChange:
    """The oldest pending event of a drawn package: one package's events arrive in order (a
    decision's time is known only from the order of its package's events: the event carries no
    previous status and the registry no approval time); packages interleave freely."""
    packages = sorted({c.version for c in queue})
    version = data.draw(st.sampled_from(packages))
    return queue.pop(next(i for i, c in enumerate(queue) if c.version == version))


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_any_order_of_decisions_ends_with_the_latest_approval_live(data):
    world = World(versions=data.draw(st.integers(1, 4), label="versions"))
    queue: list[PackageChange] = []  # decisions' events in flight
    delivered: list[PackageChange] = []  # EventBridge may deliver any of these again, at any time
    replays: list[PackageChange] = []  # the reconciler's, in flight
    changed: set[tuple[int, str]] = set()  # events that changed the endpoint

    def deliver(event: PackageChange) -> None:
        outcome = world.deliver(event)
        if outcome in ("deploy", "retire") and not event.replayed_by_reconciler:
            key = (event.version, event.modified)
            assert key not in changed, "one decision, delivered twice, changed the endpoint twice"
            changed.add(key)

    for _ in range(data.draw(st.integers(1, 30), label="steps")):
        step = data.draw(st.sampled_from(["decide", "deliver", "deliver", "duplicate", "reconcile", "replay"]))
        if step == "decide":
            n = data.draw(st.integers(1, world.versions))
            flip = "Rejected" if world.registry[n][0] == "Approved" else "Approved"
            status = data.draw(st.sampled_from(["Approved", "Rejected"])) if world.registry[n][0] == PENDING else flip
            queue.append(world.decide(n, status))
        elif step == "deliver" and queue:
            event = next_of_some_package(data, queue)
            delivered.append(event)
            deliver(event)
        elif step == "duplicate" and delivered:
            deliver(data.draw(st.sampled_from(delivered)))
        elif step == "reconcile":
            replays += world.reconcile()
        elif step == "replay" and replays:
            deliver(replays.pop(data.draw(st.integers(0, len(replays) - 1))))
    while queue or replays:  # everything still in flight arrives
        if queue and (not replays or data.draw(st.booleans())):
            deliver(next_of_some_package(data, queue))
        else:
            deliver(replays.pop(0))
    assert world.served == world.expected()
    live = [n for n, s in world.states.items() if s == "live"]
    assert live == ([world.served] if world.served else [])
    assert not world.reconcile(), "drift left after every decision was delivered"
