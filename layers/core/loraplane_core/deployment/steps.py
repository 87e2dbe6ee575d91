"""The deployment state machine's tasks that change the endpoint (statemachines/deploy.asl.json), one
function each, typed in and out: read a snapshot, ask decisions.py, act. The deploy_adapter and
deploy_base handlers only route here. The other tasks sit next to what they use, so that their
functions' cold starts import only that: transitions.detect, endpoint_lock.acquire_lock /
release_lock, smoke.smoke_test, outcomes.record_deployment."""
import functools
import logging
import time

from botocore.exceptions import ClientError

from loraplane_core.aws import AwsClients
from loraplane_core.deployment import (
    base_endpoint,
    decision_queue,
    decisions,
    endpoint_lock,
    scaling,
    snapshots,
    versions,
)
from loraplane_core.deployment.payloads import (
    AdapterPlan,
    AdapterRollback,
    ApplyAdapter,
    BaseDeployment,
    CheckAdapter,
    CheckBase,
    CreateBaseComponent,
    ReattachAdapters,
    ReattachResult,
    Rider,
    RollBackAdapter,
    RollBackBase,
    RollBackFailedRiders,
    StartBase,
    TaskError,
)
from loraplane_core.deployment.serving_modes import serving_mode
from loraplane_core.errors import AdapterDeploymentFailed, DeploymentTimedOut
from loraplane_core.settings import Settings

logger = logging.getLogger(__name__)
ADAPTER_POLL_SECONDS = 20  # CheckAdapter polls this long in the Lambda before the ASL's Wait state
BASE_POLL_SECONDS = 40  # CheckBase likewise: a base change takes minutes; each Wait round costs history
MAX_ADAPTER_WAIT_SECONDS = 1800
MAX_CAUSE = 1000  # characters of a rider's error kept in the state (its notification's cause)
RIDERS_SECONDS = 120  # of ApplyAdapterDecision's 300 s: riders not applied by then are given back


# -- ApplyAdapterDecision / CheckAdapter / RollBackAdapter / RollBackFailedRiders -----------------
def apply_adapter(c: AwsClients, s: Settings, request: ApplyAdapter) -> AdapterPlan:
    """This execution's decision, then the queued decisions it takes on (lock batching)."""
    endpoint_lock.ensure_held(c.catalog, s.endpoint_name, request.owner)
    plan = decisions.plan_adapter(snapshots.adapter_snapshot(c, s, request.change), request.change)
    wait = min(s.deployment_timeout_seconds, MAX_ADAPTER_WAIT_SECONDS)
    plan = plan.model_copy(update={"deadline": int(time.time() + wait)})
    mode = serving_mode(c, s)
    carry_out(c, s, mode, plan)
    riders = take_on_riders(c, s, mode, plan, request.owner)
    deploys = plan.outcome == "deploy" or any(r.plan.outcome == "deploy" for r in riders)
    return plan.model_copy(update={"riders": riders, "has_riders": bool(riders), "needs_check": deploys})


def carry_out(c: AwsClients, s: Settings, mode, plan: AdapterPlan) -> None:
    try:
        if plan.outcome == "deploy":
            mode.apply(plan.adapter, plan.target.artifact_uri, plan.target.manifest_entry())
        elif plan.outcome == "retire":
            mode.remove(plan.adapter)
    except Exception:
        # Half applied (e.g. on-demand: the files copied, the manifest not written): put back what
        # may serve - never a version just rejected - then fail; the state retries the whole apply.
        restore_adapter(mode, plan.adapter, decisions.adapter_rollback_target(plan))
        raise
    if plan.outcome == "deploy":  # scaled to zero: wake the base now, so that its copy is up by the smoke test
        scaling.ensure_capacity(c.sagemaker, s)
    try:  # the adapter serves already: a failed alarm call must not roll it back (reattach puts alarms again)
        if plan.outcome == "deploy":
            scaling.watch_adapter(c.autoscaling, c.cloudwatch, s, plan.adapter)
        elif plan.outcome == "retire":
            scaling.unwatch_adapter(c.cloudwatch, s, plan.adapter)
    except ClientError:
        logger.exception("scale-from-zero alarm of %s not updated", plan.adapter)


def take_on_riders(c: AwsClients, s: Settings, mode, plan: AdapterPlan, owner: str) -> list[Rider]:
    """Queued decisions on other adapters, planned and applied like this one (decision_queue.py).
    Best effort: one that cannot be planned or applied now is given back (its own execution acts on
    it), and a queue that cannot be read leaves this change alone."""
    riders = []
    try:
        claimed = decision_queue.claim(c.catalog, s.endpoint_name, owner, skip={plan.adapter}, now=time.time())
    except Exception:  # noqa: BLE001 - the waiters act themselves
        logger.exception("the decision queue could not be read: no riders")
        return riders
    started = time.time()
    for queued in claimed:
        if time.time() - started > RIDERS_SECONDS:  # the Lambda must end well before its timeout
            give_back_rider(c, s, queued.execution, queued.started_at, owner)
            continue
        try:
            ride = decisions.plan_adapter(snapshots.adapter_snapshot(c, s, queued.change), queued.change)
            ride = ride.model_copy(update={"deadline": plan.deadline})
            carry_out(c, s, mode, ride)
        except Exception:  # noqa: BLE001 - e.g. not catalogued yet: its own execution retries it
            logger.exception("queued decision of %s given back to %s", queued.change.name, queued.execution)
            give_back_rider(c, s, queued.execution, queued.started_at, owner)
            continue
        riders.append(Rider(execution=queued.execution, started_at=queued.started_at, plan=ride))
    return riders


def give_back_rider(c: AwsClients, s: Settings, execution: str, started_at: str, owner: str) -> None:
    try:
        decision_queue.give_back(c.catalog, s.endpoint_name, execution, started_at, owner)
    except Exception:  # noqa: BLE001 - a claim whose holder released the lock is stale: its waiter acts
        logger.exception("queued decision of %s not given back", execution)


def restore_adapter(mode, adapter: str, previous) -> None:
    try:
        if previous:
            mode.apply(adapter, previous.artifact_uri, previous.manifest_entry())
        else:
            mode.remove(adapter)
    except Exception:  # noqa: BLE001 - the original error is the one to report; the retry re-applies
        logger.exception("could not put back what served %s before a failed change", adapter)


def check_adapter(c: AwsClients, s: Settings, request: CheckAdapter,
                  poll_seconds: float = ADAPTER_POLL_SECONDS) -> AdapterPlan:
    """Polls briefly in the Lambda (adapter components usually settle in seconds), then hands the
    longer waits to the state machine's Wait state. This plan's failure raises (RollBackAdapter);
    a rider's is noted on it (RollBackFailedRiders rolls it back). One read per round for all."""
    plan = request.deployment
    mode, until = serving_mode(c, s), time.time() + poll_seconds
    while True:
        pending = [r for r in plan.riders if not rider_done(r)]
        checks_own = plan.outcome == "deploy"
        found = mode.statuses({p.adapter: p.target.artifact_uri if p.target else None
                               for p in ([plan] if checks_own else []) + [r.plan for r in pending]})
        has_copy = functools.cache(lambda: scaling.ensure_capacity(c.sagemaker, s))
        own = not checks_own or in_service(plan, *found[plan.adapter], has_copy)
        checked = {r.execution: checked_rider(r, *found[r.plan.adapter], has_copy) for r in pending}
        plan = plan.model_copy(update={"riders": [checked.get(r.execution, r) for r in plan.riders]})
        if own and all(rider_done(r) for r in plan.riders):
            return plan.model_copy(update={"ready": True})
        if time.time() > until:
            return plan.model_copy(update={"ready": False})
        time.sleep(1)


def rider_done(rider: Rider) -> bool:
    """Nothing left to check: in service, failed, or it deploys nothing."""
    return bool(rider.error) or rider.plan.ready or rider.plan.outcome != "deploy"


def in_service(plan: AdapterPlan, status: str, reason: str | None, has_copy) -> bool:
    """True once in service and a base copy serves it; False while not yet; raises on failure."""
    if status == "InService" and not has_copy():
        status = scaling.NO_CAPACITY  # the adapter is there, no base copy serves it yet: a smoke test would fail
    if status == "InService":
        return True
    if status in ("Failed", "Missing"):
        raise AdapterDeploymentFailed(f"adapter {plan.adapter}: {status} {reason or ''}".strip())
    if time.time() > plan.deadline:
        raise DeploymentTimedOut(f"adapter {plan.adapter} not in service in time (status {status}"
                                 f"{': ' + reason if reason else ''})")
    return False


def checked_rider(rider: Rider, status: str, reason: str | None, has_copy) -> Rider:
    """A rider's failure is its own: noted, never raised into the holder's change. Other errors
    (throttling, say) raise: the step retries, as it does for the holder's."""
    try:
        if in_service(rider.plan, status, reason, has_copy):
            return rider.model_copy(update={"plan": rider.plan.model_copy(update={"ready": True})})
        return rider
    except (AdapterDeploymentFailed, DeploymentTimedOut) as e:
        return rider.model_copy(update={"error": TaskError(Error=type(e).__name__, Cause=str(e)[:MAX_CAUSE])})


def put_back(c: AwsClients, s: Settings, mode, plan: AdapterPlan) -> AdapterRollback:
    """Serve again what was live before the change (or nothing)."""
    previous = decisions.adapter_rollback_target(plan)
    if previous:
        mode.apply(plan.adapter, previous.artifact_uri, previous.manifest_entry())
        return AdapterRollback(restored=previous.version)
    mode.remove(plan.adapter)
    scaling.unwatch_adapter(c.cloudwatch, s, plan.adapter)
    return AdapterRollback(restored=None)


def rollback_adapter(c: AwsClients, s: Settings, request: RollBackAdapter) -> AdapterRollback:
    """This change failed: put back what served, for every rider (given back to its own execution,
    which acts on it once it takes the lock) and for this decision, if it changed anything."""
    endpoint_lock.ensure_held(c.catalog, s.endpoint_name, request.owner)
    plan, mode = request.deployment, serving_mode(c, s)
    for rider in plan.riders:
        if rider.plan.outcome in ("deploy", "retire"):
            try:
                put_back(c, s, mode, rider.plan)
            except Exception:  # noqa: BLE001 - its waiter re-plans and re-applies it
                logger.exception("could not put back what served %s", rider.plan.adapter)
        give_back_rider(c, s, rider.execution, rider.started_at, request.owner)
    if plan.outcome not in ("deploy", "retire"):  # it changed nothing (only its riders did): no version failed
        return AdapterRollback(restored=plan.previous.version if plan.previous else None, changed=False)
    return put_back(c, s, mode, plan)


def rollback_failed_riders(c: AwsClients, s: Settings, request: RollBackFailedRiders) -> AdapterPlan:
    """After the smoke test: each rider whose check or smoke test failed serves what it served before.
    A rider that cannot be put back is recorded as failed without a rollback (the reconciler repairs it)."""
    endpoint_lock.ensure_held(c.catalog, s.endpoint_name, request.owner)
    plan, mode = request.deployment, serving_mode(c, s)
    tested = request.smoke.riders if request.smoke else {}
    riders = []
    for rider in plan.riders:
        smoke = tested.get(rider.execution)
        error = rider.error or (TaskError(Error="SmokeTestFailed", Cause=smoke.error[:MAX_CAUSE])
                                if smoke and smoke.error else None)
        if error:
            try:
                rollback = put_back(c, s, mode, rider.plan)
            except Exception:  # noqa: BLE001 - never fails the holder's own change
                logger.exception("could not put back what served %s", rider.plan.adapter)
                rollback = None
            rider = rider.model_copy(update={"error": error, "rollback": rollback})
        riders.append(rider)
    return plan.model_copy(update={"riders": riders})


# -- StartBaseDeployment / CheckBase / CreateBaseComponent / RollBackBase / ReattachAdapters -------
def start_base(c: AwsClients, s: Settings, request: StartBase) -> BaseDeployment:
    endpoint_lock.ensure_held(c.catalog, s.endpoint_name, request.owner)
    snap = snapshots.base_snapshot(c, s, request.change)
    acted_on = decisions.current_decision(request.change, snap.registry_status, snap.registry_modified)
    target = decisions.base_target(snap, request.change)
    if target is None:
        return BaseDeployment(kind="none", done=True, change=acted_on)
    dep = base_endpoint.start(c.sagemaker, s, target).model_copy(update={"change": acted_on})
    if dep.done and dep.kind == "unchanged" and not scaling.ensure_capacity(c.sagemaker, s):
        return dep.model_copy(update={"done": False, "status": scaling.NO_CAPACITY})  # CheckBase waits for the copy
    return dep


def check_base(c: AwsClients, s: Settings, request: CheckBase, poll_seconds: float = BASE_POLL_SECONDS) -> BaseDeployment:
    """Looks every few seconds, for up to `poll_seconds`, then hands the longer wait to the ASL.
    A base component in service at 0 copies (ScaleToZero) is woken here, after any update of it."""
    until = time.time() + poll_seconds
    while True:
        dep = base_endpoint.check(c.sagemaker, s, request.deployment)
        if dep.status == scaling.NO_CAPACITY:
            scaling.ensure_capacity(c.sagemaker, s)
        if dep.done or dep.component_missing or time.time() > until:
            return dep
        time.sleep(3)


def create_base_component(c: AwsClients, s: Settings, request: CreateBaseComponent) -> BaseDeployment:
    endpoint_lock.ensure_held(c.catalog, s.endpoint_name, request.owner)
    return base_endpoint.create_component(c.sagemaker, s, request.deployment)


def rollback_base(c: AwsClients, s: Settings, request: RollBackBase) -> BaseDeployment:
    endpoint_lock.ensure_held(c.catalog, s.endpoint_name, request.owner)
    acted_on = (request.deployment.change if request.deployment else None) or request.change
    previous = decisions.base_rollback_target(acted_on, versions.deployed_target(c.catalog, s.endpoint_name))
    if previous is None:
        return BaseDeployment(kind="none", done=True)
    return base_endpoint.start(c.sagemaker, s, previous).model_copy(update={"restored": previous.version})


def reattach_adapters(c: AwsClients, s: Settings, request: ReattachAdapters) -> ReattachResult:
    """The new base model serves: record it, then serve every adapter's version built for it."""
    endpoint_lock.ensure_held(c.catalog, s.endpoint_name, request.owner)
    dep, table = request.deployment, c.catalog
    base_model = dep.target.base_model
    versions.set_deployed_base(table, s.endpoint_name, dep.target, dep.model_name)
    plan = decisions.plan_reattach(base_model, snapshots.all_version_views(c))
    mode = serving_mode(c, s)
    served, result = mode.live(), ReattachResult()
    for adapter, v in plan.incompatible:
        versions.set_state_of(table, adapter, v.package_arn, "incompatible",
                              reason=f"built for {v.base_model}, the endpoint serves {base_model}")
        result.incompatible.append(f"{adapter} v{v.version}")
    for adapter in plan.stop:
        if adapter in served:
            mode.remove(adapter)
            scaling.unwatch_adapter(c.cloudwatch, s, adapter)
            result.retired.append(adapter)
    for adapter, v in plan.serve.items():
        if served.get(adapter) != v.sha256:
            mode.apply(adapter, v.artifact_uri, v.target().manifest_entry())
        if v.state != "live":
            versions.set_state_of(table, adapter, v.package_arn, "live", approved_at=v.approved_at)
        result.attached.append(f"{adapter} v{v.version}")
    components = s.serving_mode == "inference-components"
    floor = base_endpoint.managed_min_instances(c.sagemaker, s) if components else None
    live = tuple(sorted(plan.serve)) if components else ()
    result.scaling = scaling.ensure_scaling(c.autoscaling, c.cloudwatch, s, floor, adapters=live)
    return result
