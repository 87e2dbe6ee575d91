"""The outcome of each deployment: version states in the catalog, and an SNS notification."""
import json
import logging

from loraplane_core.aws import AwsClients
from loraplane_core.catalog_keys import failure_key
from loraplane_core.deployment import decision_queue, transitions, versions
from loraplane_core.deployment.payloads import (
    AdapterPlan,
    AdapterRecord,
    AdapterRollback,
    BaseRecord,
    DeploymentRecord,
    FailureRecord,
    Notified,
    Rider,
    SmokeResult,
)
from loraplane_core.errors import DEPLOYMENT_FAILURE_NAMES
from loraplane_core.settings import Settings

logger = logging.getLogger(__name__)
SUBJECTS = {
    "deploy": "LoRA adapter {a} version {v} is live on {e}",
    "retire": "LoRA adapter {a} retired from {e} (no approved version left)",
    "deferred": "LoRA adapter {a} version {v} approved: goes live once a base model is deployed",
    "incompatible": "LoRA adapter {a} version {v} not deployed: built for another base model",
    "superseded": "LoRA adapter {a} version {v}: a later decision stands",
    "rejected_not_live": "LoRA adapter {a} version {v} rejected (was not live)",
    "unchanged": "LoRA adapter {a} version {v}: already live",
    "unknown_version": "LoRA adapter {a} version {v}: not in the catalog, nothing deployed",
}


def state_changes(plan: AdapterPlan, live_arns: set[str]) -> list[tuple[str, str, str]]:
    """Pure: (package ARN, new state, reason) for the catalog after an adapter plan was carried out.
    `live_arns`: the versions the catalog marks live now."""
    change, target, out = plan.change, plan.target, []
    if plan.outcome == "deploy":
        out += [(arn, "retired", f"replaced by version {target.version}") for arn in sorted(live_arns)
                if arn != target.package_arn]
        out.append((target.package_arn, "live", ""))
    elif plan.outcome == "retire":
        out.append((change.package_arn, "retired", f"rejected in the model registry: {change.reason or ''}".strip()))
    elif plan.outcome == "incompatible":
        out.append((change.package_arn, "incompatible", "built for another base model"))
    if change.action == "rejected" and plan.outcome in ("deploy", "rejected_not_live"):
        out.append((change.package_arn, "rejected", change.reason or "rejected in the model registry"))
    return out


def record_adapter(c: AwsClients, r: AdapterRecord) -> tuple[str, dict]:
    plan, table = r.deployment, c.catalog
    change = plan.change  # the decision acted on: the registry's when it differed from the event's
    items = {v["package_arn"]: v for v in versions.versions(table, plan.adapter)}
    live = {arn for arn, v in items.items() if v.get("state") == "live"}
    for arn, state, reason in state_changes(plan, live):
        if arn not in items:
            continue
        if state == "live":
            seen = transitions.last_status(table, arn) or {}
            approved_at = seen.get("modified", "") if seen.get("status") == "Approved" else ""
            versions.set_state(table, items[arn], "live", approved_at=approved_at)
        else:
            versions.set_state(table, items[arn], state, reason=reason)
    version = plan.target.version if plan.outcome == "deploy" else change.version
    subject = SUBJECTS[plan.outcome].format(a=plan.adapter, v=version, e="the endpoint")
    body = {"event": f"deployment.{plan.outcome}", "adapter_name": plan.adapter, "version": version,
            "decision": {"package_arn": change.package_arn, "status": change.status},
            "previous": plan.previous.model_dump() if plan.previous else None,
            "smoke_test": r.smoke.model_dump(exclude={"riders"}) if r.smoke and plan.outcome == "deploy" else None}
    return subject, body


def record_base(c: AwsClients, r: BaseRecord) -> tuple[str, dict]:
    change, target = r.deployment.change or r.change, r.deployment.target
    if target is None:
        subject = f"Base model {change.name} version {change.version} {change.status}: the endpoint is unchanged"
        return subject, {"event": "deployment.base_unchanged", "base_model": change.name, "package_arn": change.package_arn}
    subject = f"Base model {target.base_model} (version {target.version}) is live on the endpoint"
    return subject, {"event": "deployment.base", "base_model": target.base_model, "package_arn": target.package_arn,
                     "decision": {"package_arn": change.package_arn, "status": change.status},
                     "kind": r.deployment.kind, "adapters": r.reattach.model_dump() if r.reattach else None,
                     "smoke_test": r.smoke.model_dump() if r.smoke else None}


def record_failure(c: AwsClients, r: FailureRecord) -> tuple[str, dict]:
    change, err, table = r.change, r.error, c.catalog
    what = f"{change.kind} {change.name} version {change.version}" if change else "a registry decision"
    changed = not isinstance(r.rollback, AdapterRollback) or r.rollback.changed  # a no-op in a failed batch: not
    ran = changed and (r.rollback is not None or (err is not None and err.Error in DEPLOYMENT_FAILURE_NAMES))
    if change and change.action == "approved" and ran:
        # The version itself failed (not, say, a lock timeout): the reconciler and later decisions
        # skip it until it is approved again.
        transitions.mark_deploy_failed(table, change)
        item = versions.find_item(table, change.name, change.package_arn) if change.kind == "adapter" else None
        if item and item.get("state") != "live":
            versions.set_state(table, item, "failed", reason=f"deployment failed: {err.Error if err else 'Unknown'}")
    if change and change.kind == "adapter":
        table.put_item(Item={**failure_key(change.name, r.execution), "adapter_name": change.name,
                             "state": "failed", "reason": err.Error if err else "Unknown",
                             "message": f"deployment of version {change.version}: {(err.Cause or '') if err else ''}"[:2000],
                             "recorded_at": versions.now_iso()})
    subject = f"Deployment of {what} failed; the previous version keeps serving"
    return subject, {"event": "deployment.failed", "error": err.Error if err else None,
                     "cause": err.Cause if err else None, "execution": r.execution,
                     "package_arn": change.package_arn if change else None,
                     "rollback": r.rollback.model_dump() if r.rollback else None}


RECORDERS = {AdapterRecord: record_adapter, BaseRecord: record_base, FailureRecord: record_failure}


def record_deployment(c: AwsClients, s: Settings, r: DeploymentRecord) -> Notified:
    """The tasks Record…Deployment / RecordFailure (the record_deployment function imports this module
    only). Then each rider (lock batching): recorded and notified as its own deployment, and settled,
    so that its waiting execution ends with its outcome."""
    notified = publish(c, s, *RECORDERS[type(r)](c, r))
    if isinstance(r, AdapterRecord):
        for rider in r.deployment.riders:
            record = rider_record(rider, r.smoke)
            subject, body = RECORDERS[type(record)](c, record)
            publish(c, s, subject, {**body, "carried_out_by": r.execution})
            outcome = "failed" if rider.error else "succeeded"
            if not decision_queue.settle(c.catalog, s.endpoint_name, rider.execution, rider.started_at, r.execution,
                                         outcome):
                logger.warning("queued decision of %s (%s) was no longer ours to settle", rider.plan.adapter,
                               rider.execution)
    return notified


def rider_record(rider: Rider, smoke: SmokeResult | None) -> AdapterRecord | FailureRecord:
    if rider.error:
        return FailureRecord(kind="failed", execution=rider.execution, change=rider.plan.change, error=rider.error,
                             rollback=rider.rollback)
    tested = smoke.riders.get(rider.execution) if smoke else None
    own_smoke = SmokeResult(prompt=smoke.prompt, base=smoke.base, adapter=tested.adapter, invoke=tested.invoke) \
        if smoke and tested else None
    return AdapterRecord(kind="adapter", execution=rider.execution, change=rider.plan.change,
                         deployment=rider.plan, smoke=own_smoke)


def publish(c: AwsClients, s: Settings, subject: str, body: dict) -> Notified:
    subject = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in subject)[:99]
    body["endpoint"] = s.endpoint_name
    c.sns.publish(TopicArn=s.topic_arn, Subject=subject, Message=json.dumps(body, indent=2, default=str),
                  MessageAttributes={"event": {"DataType": "String", "StringValue": body["event"]}})
    return Notified(subject=subject, event=body["event"])
