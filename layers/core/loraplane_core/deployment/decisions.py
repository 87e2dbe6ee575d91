"""The deployment's decisions, pure: snapshots of the catalog and the registry in, what to do out.
No I/O here (snapshots.py reads, steps.py acts); tests/unit/test_decisions*.py run them without moto.

The rule they keep: an adapter's live version is the most recently approved version, built for the
base model the endpoint serves, that the registry has not rejected and whose deployment did not
fail. An event (or a reconciler replay) only says which package to look at: the decision acted on is
the package's status in the registry now, read under the endpoint lock, so a late, reordered or
replayed event never undoes a later decision, and the last execution for a package always acts on
its last decision (EventBridge does not keep order). An event whose package has a newer decision
recorded is superseded: that decision's own execution acts."""
from dataclasses import dataclass, field, replace

from loraplane_core.deployment.payloads import AdapterPlan, AdapterTarget, BaseTarget
from loraplane_core.errors import VersionNotCatalogued
from loraplane_core.package_events import PackageChange


@dataclass(frozen=True)
class Seen:
    """The last registry status the deployment recorded for a package (transitions.py)."""
    status: str
    modified: str


@dataclass(frozen=True)
class VersionView:
    """One catalogued adapter version with what the registry says of it now."""
    package_arn: str
    version: int
    sha256: str
    artifact_uri: str
    base_model: str | None
    state: str  # the catalog's: registered | live | retired | incompatible | rejected | failed
    registry_status: str  # ModelApprovalStatus now: Approved | Rejected | PendingManualApproval
    approved_at: str = ""  # ISO 8601 UTC of the approval in force, "" when not approved
    registry_modified: str = ""  # LastModifiedTime now
    requests_per_second: float | None = None  # the package's own rate limits (None: the stack's default)
    tokens_per_minute: int | None = None

    def target(self) -> AdapterTarget:
        return AdapterTarget(package_arn=self.package_arn, version=self.version, sha256=self.sha256,
                             artifact_uri=self.artifact_uri, base_model=self.base_model,
                             requests_per_second=self.requests_per_second, tokens_per_minute=self.tokens_per_minute)


@dataclass(frozen=True)
class AdapterSnapshot:
    adapter: str
    versions: tuple[VersionView, ...]
    deployed_base: str | None  # the base model the endpoint serves, None before the first one
    base_ready: bool  # the endpoint can take an adapter now
    seen: Seen | None = None  # the last status recorded for the decision's package

    def live(self) -> VersionView | None:
        return next((v for v in self.versions if v.state == "live"), None)

    def version_of(self, package_arn: str) -> VersionView | None:
        return next((v for v in self.versions if v.package_arn == package_arn), None)


def is_superseded(change: PackageChange, seen: Seen | None) -> bool:
    """A newer decision on this package was recorded after this event: its own execution acts on it."""
    if change.replayed_by_reconciler or seen is None:
        return False
    return (seen.status, seen.modified) != (change.status, change.modified)


def current_decision(change: PackageChange, registry_status: str | None, registry_modified: str) -> PackageChange | None:
    """The decision in force: the event's, or the one the registry holds now if it differs (None:
    the package is back to pending, nothing to act on)."""
    if not registry_status or registry_status == change.status:
        return change
    action = {"Approved": "approved", "Rejected": "rejected"}.get(registry_status)
    if action is None:
        return None
    return change.model_copy(update={"status": registry_status, "action": action,
                                     "modified": registry_modified or change.modified})


def latest_approved(versions: tuple[VersionView, ...], base_model: str, excluding: str = "") -> VersionView | None:
    """The version that should serve for this base model: latest approval, then highest version."""
    eligible = [v for v in versions if v.package_arn != excluding and v.base_model == base_model
                and v.registry_status == "Approved" and v.state != "failed"]  # failed: waits for a new approval
    return max(eligible, key=lambda v: (v.approved_at, v.version), default=None)


def plan_adapter(snap: AdapterSnapshot, change: PackageChange) -> AdapterPlan:
    """deploy | retire | deferred | incompatible | superseded | unchanged | rejected_not_live |
    unknown_version, with the target and the version live before."""
    live = snap.live()
    item = snap.version_of(change.package_arn)
    plan = AdapterPlan(adapter=snap.adapter, outcome="unchanged", change=change,
                       previous=live.target() if live else None)

    def outcome(o: str, target: VersionView | None = None) -> AdapterPlan:
        return plan.model_copy(update={"outcome": o, "target": target.target() if target else None})

    if is_superseded(change, snap.seen):
        return outcome("superseded")
    if item is not None:
        change = current_decision(change, item.registry_status, item.registry_modified)
        if change is None:
            return outcome("superseded")
        plan = plan.model_copy(update={"change": change})
    if item is None:
        if change.action == "approved":  # ingest is still recording it: the step retries
            raise VersionNotCatalogued(f"{snap.adapter} version {change.version} is not in the catalog yet")
        return outcome("unknown_version")
    if change.action == "approved":
        if snap.deployed_base is None:
            return outcome("deferred")
        if item.base_model != snap.deployed_base:
            return outcome("incompatible")
        # What should serve is the latest approval, which need not be this one (a replay or a late
        # event). A fresh approval makes its version eligible again after a failed deployment.
        fresh = not change.replayed_by_reconciler
        candidates = tuple(replace(v, state="registered") if fresh and v.package_arn == item.package_arn
                           and v.state == "failed" else v for v in snap.versions)
        want = latest_approved(candidates, snap.deployed_base)
        if want is None:
            return outcome("retire")  # a replay of a failed version that still serves: nothing should
        if live and live.package_arn == want.package_arn:
            if want.package_arn != item.package_arn:
                return outcome("superseded")  # a later approval already went live
            return outcome("deploy", want) if not fresh else outcome("unchanged")  # a replay re-applies it
        return outcome("deploy", want) if snap.base_ready else outcome("deferred")
    # rejected
    if change.replayed_by_reconciler and not live:
        return outcome("retire")  # served, though no version should be
    if not live or live.package_arn != item.package_arn:
        return outcome("rejected_not_live")
    previous = latest_approved(snap.versions, snap.deployed_base, excluding=item.package_arn) \
        if snap.deployed_base else None
    if previous and snap.base_ready:
        return outcome("deploy", previous)
    return outcome("retire")  # a rejected version never keeps serving


def adapter_rollback_target(plan: AdapterPlan) -> AdapterTarget | None:
    """What serves after a failed adapter change: the version live before, unless it was just rejected."""
    return None if plan.change.action == "rejected" else plan.previous


# -- base models -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BaseSnapshot:
    deployed: BaseTarget | None  # what the endpoint serves (the deployment's record)
    deployed_approved_at: str  # its approval in force, "" if the registry no longer approves it
    seen: Seen | None  # the last status recorded for the decision's package
    registry_status: str | None  # the decision's package, now
    registry_modified: str = ""
    approved_at: str = ""  # the decision's package (snapshots.approved_at), "" if not approved now
    replacement: BaseTarget | None = None  # the latest approved other base (read for rejections)


def base_target(snap: BaseSnapshot, change: PackageChange) -> BaseTarget | None:
    """Approved: exactly the event's package, unless a later approval serves. Rejected: if it is the
    one serving, the latest approved other base takes its place; otherwise nothing changes."""
    if is_superseded(change, snap.seen):
        return None
    change = current_decision(change, snap.registry_status, snap.registry_modified)
    if change is None:
        return None
    deployed = snap.deployed
    if change.action == "approved":
        if deployed and deployed.package_arn != change.package_arn and \
                snap.deployed_approved_at > (snap.approved_at or change.modified):
            return None  # the base model serving now was approved later: the later decision stands
        return BaseTarget(package_arn=change.package_arn, version=change.version, base_model=change.name,
                          model_uri=change.artifact_uri or "")
    if deployed is None or deployed.package_arn != change.package_arn:
        return None
    return snap.replacement  # None: nothing else is approved; keep serving, and the notification says so


def base_rollback_target(change: PackageChange, deployed: BaseTarget | None) -> BaseTarget | None:
    """What serves after a failed base change: what served before, unless that was just rejected."""
    return None if change.action == "rejected" else deployed


# -- after a new base model: every adapter's version for it ------------------------------------
@dataclass
class ReattachPlan:
    serve: dict[str, VersionView] = field(default_factory=dict)  # adapter -> version (apply if not served)
    stop: list[str] = field(default_factory=list)  # adapters served with no compatible version
    incompatible: list[tuple[str, VersionView]] = field(default_factory=list)  # built for another base model


def plan_reattach(base_model: str, adapters: dict[str, tuple[VersionView, ...]]) -> ReattachPlan:
    """Each adapter keeps its live version if it was built for the new base model, else its latest
    approved version that was; versions built for another base are marked incompatible."""
    plan = ReattachPlan()
    for adapter, versions in sorted(adapters.items()):
        live = next((v for v in versions if v.state == "live"), None)
        keeps = live and live.base_model == base_model and live.registry_status == "Approved"
        target = live if keeps else latest_approved(versions, base_model)
        plan.incompatible += [(adapter, v) for v in versions if v.base_model != base_model
                              and v.state in ("live", "registered", "retired")]
        if target is None:
            plan.stop.append(adapter)
        else:
            plan.serve[adapter] = target
    return plan


# -- the reconciler ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Drift:
    kind: str  # base | adapter
    expected: str | None  # base: package ARN; adapter: the sha256 that should serve (None: nothing)
    actual: str | None
    replay: str | None  # the package whose decision to replay, None when there is none to replay
    adapter: str | None = None


def find_drift(wanted_base: str | None, deployed: BaseTarget | None, adapters: dict[str, tuple[VersionView, ...]],
               served: dict[str, str | None]) -> list[Drift]:
    """What the endpoint serves that the registry does not want, base model first (adapters follow it)."""
    if wanted_base and (deployed is None or deployed.package_arn != wanted_base):
        return [Drift("base", wanted_base, deployed and deployed.package_arn, wanted_base)]
    if deployed is None:
        return []
    drift = []
    for adapter, versions in sorted(adapters.items()):
        want, have = latest_approved(versions, deployed.base_model), served.get(adapter)
        if want and have != want.sha256:
            drift.append(Drift("adapter", want.sha256, have, want.package_arn, adapter))
        elif not want and have:
            stale = next((v for v in versions if v.sha256 == have), None)
            drift.append(Drift("adapter", None, have, stale and stale.package_arn, adapter))
    return drift
