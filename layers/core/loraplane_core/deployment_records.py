"""The outcome of each deployment: version states in the catalog, and an SNS notification."""
import json

from . import deployments, transitions
from .aws import AwsClients
from .catalog_keys import failure_key
from .deploy_models import DeploymentRecord
from .errors import DEPLOYMENT_FAILURE_NAMES
from .settings import Settings

SUBJECTS = {
    "deploy": "LoRA adapter {a} version {v} is live on {e}",
    "retire": "LoRA adapter {a} retired from {e} (no approved version left)",
    "deferred": "LoRA adapter {a} version {v} approved: goes live once a base model is deployed",
    "incompatible": "LoRA adapter {a} version {v} not deployed: built for another base model",
    "superseded": "LoRA adapter {a} version {v}: a later approval is live",
    "rejected_not_live": "LoRA adapter {a} version {v} rejected (was not live)",
    "unchanged": "LoRA adapter {a} version {v}: already live",
    "unknown_version": "LoRA adapter {a} version {v}: not in the catalog, nothing deployed",
}


def record_adapter(table, r: DeploymentRecord) -> tuple[str, dict]:
    plan, change = r.deployment or {}, r.change
    adapter, outcome, target = plan["adapter"], plan["outcome"], plan.get("target")
    items = {v["package_arn"]: v for v in deployments.versions(table, adapter)}
    decided = items.get(change.package_arn)
    if outcome == "deploy":
        for v in items.values():
            if v.get("state") == "live" and v["package_arn"] != target["package_arn"]:
                deployments.set_state(table, v, "retired", reason=f"replaced by version {target['version']}")
        deployments.set_state(table, items[target["package_arn"]], "live",
                              approved_at=deployments.approval_time(table, items[target["package_arn"]]))
    elif outcome == "retire":
        deployments.set_state(table, decided, "retired", reason=f"rejected in the model registry: {change.reason or ''}".strip())
    elif outcome == "incompatible" and decided:
        deployments.set_state(table, decided, "incompatible", reason="built for another base model")
    if change.action == "rejected" and decided and outcome in ("deploy", "rejected_not_live"):
        deployments.set_state(table, decided, "rejected", reason=change.reason or "rejected in the model registry")
    version = target["version"] if outcome == "deploy" else change.version
    subject = SUBJECTS[outcome].format(a=adapter, v=version, e="the endpoint")
    body = {"event": f"deployment.{outcome}", "adapter_name": adapter, "version": version,
            "decision": {"package_arn": change.package_arn, "status": change.status},
            "previous": plan.get("previous"), "smoke_test": r.smoke}
    return subject, body


def record_base(table, r: DeploymentRecord) -> tuple[str, dict]:
    change, dep = r.change, r.deployment or {}
    target = dep.get("target")
    if target is None:
        subject = f"Base model {change.name} version {change.version} {change.status}: the endpoint is unchanged"
        return subject, {"event": "deployment.base_unchanged", "base_model": change.name, "package_arn": change.package_arn}
    subject = f"Base model {target['base_model']} (version {target['version']}) is live on the endpoint"
    return subject, {"event": "deployment.base", "base_model": target["base_model"], "package_arn": target["package_arn"],
                     "decision": {"package_arn": change.package_arn, "status": change.status},
                     "kind": dep.get("kind"), "adapters": r.reattach, "smoke_test": r.smoke}


def record_failure(table, r: DeploymentRecord) -> tuple[str, dict]:
    change, err = r.change, r.error
    what = f"{change.kind} {change.name} version {change.version}" if change else "a registry decision"
    ran = r.rollback is not None or (err is not None and err.Error in DEPLOYMENT_FAILURE_NAMES)
    if change and change.action == "approved" and ran:
        # The version itself failed (not, say, a lock timeout): the reconciler and later decisions
        # skip it until it is approved again.
        transitions.mark_deploy_failed(table, change)
        item = deployments.find_item(table, change.name, change.package_arn) if change.kind == "adapter" else None
        if item and item.get("state") != "live":
            deployments.set_state(table, item, "failed", reason=f"deployment failed: {err.Error if err else 'Unknown'}")
    if change and change.kind == "adapter":
        table.put_item(Item={**failure_key(change.name, r.execution), "adapter_name": change.name,
                             "state": "failed", "reason": err.Error if err else "Unknown",
                             "message": f"deployment of version {change.version}: {(err.Cause or '') if err else ''}"[:2000],
                             "recorded_at": deployments.now_iso()})
    subject = f"Deployment of {what} failed; the previous version keeps serving"
    return subject, {"event": "deployment.failed", "error": err.Error if err else None,
                     "cause": err.Cause if err else None, "execution": r.execution,
                     "package_arn": change.package_arn if change else None, "rollback": r.rollback}


def record_and_notify(c: AwsClients, s: Settings, r: DeploymentRecord) -> dict:
    subject, body = {"adapter": record_adapter, "base": record_base, "failed": record_failure}[r.kind](c.catalog, r)
    subject = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in subject)[:99]
    body["endpoint"] = s.endpoint_name
    c.sns.publish(TopicArn=s.topic_arn, Subject=subject, Message=json.dumps(body, indent=2, default=str),
                  MessageAttributes={"event": {"DataType": "String", "StringValue": body["event"]}})
    return {"subject": subject, "event": body["event"]}
