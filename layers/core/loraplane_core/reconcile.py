"""The scheduled reconciler: compares what the registry says should be live with what the
endpoint serves, reports drift, and repairs it by replaying the decision through the deployment
state machine (so repairs take the endpoint lock, smoke-test and notify like any deployment)."""
import datetime
import json
import time

from . import approved_bases, deployments, endpoint_lock
from .adapter_serving import serving_mode
from .aws import AwsClients
from .package_events import RECONCILER_SOURCE
from .sagemaker_events import package_event_detail
from .settings import ReconcileSettings, Settings


def desired_adapter(c: AwsClients, adapter: str, base_model: str) -> dict | None:
    """The most recently approved version built for the deployed base model."""
    return deployments.previous_approved(c.catalog, c.sagemaker, adapter, base_model, excluding="")


def find_drift(c: AwsClients, s: Settings) -> list[dict]:
    table, drift = c.catalog, []
    base = deployments.deployed_base(table, s.endpoint_name)
    wanted = approved_bases.latest_approved_base(c.sagemaker, table, s.base_group)
    wanted_base = wanted and wanted["ModelPackageArn"]
    if wanted_base and (base is None or base["package_arn"] != wanted_base):
        drift.append({"kind": "base", "expected": wanted_base, "actual": base and base["package_arn"],
                      "replay": wanted_base})
        return drift  # adapters follow the base model: repair it first
    if base is None:
        return drift
    served = serving_mode(c, s).live()
    for adapter in deployments.adapter_names(table):
        want = desired_adapter(c, adapter, base["base_model"])
        have = served.get(adapter)
        if want and have != want["sha256"]:
            drift.append({"kind": "adapter", "adapter": adapter, "expected": want["sha256"], "actual": have,
                          "replay": want["package_arn"]})
        elif not want and have:
            stale = next((v for v in deployments.versions(table, adapter) if v["sha256"] == have), None)
            drift.append({"kind": "adapter", "adapter": adapter, "expected": None, "actual": have,
                          "replay": stale and stale["package_arn"]})
    return drift


def replay_event(c: AwsClients, s: Settings, package_arn: str) -> dict:
    described = c.sagemaker.describe_model_package(ModelPackageName=package_arn)
    return {"version": "0", "id": f"reconcile-{int(time.time())}", "source": RECONCILER_SOURCE,
            "detail-type": "SageMaker Model Package State Change", "account": package_arn.split(":")[4],
            "time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": package_arn.split(":")[3], "resources": [package_arn], "detail": package_event_detail(described)}


def reconcile(c: AwsClients, s: ReconcileSettings, repair: bool = True) -> dict:
    held = endpoint_lock.holder(c.catalog, s.endpoint_name)
    if held and int(held.get("expires_at", 0)) > time.time():
        return {"skipped": f"a deployment is in progress ({held.get('owner')})", "drift": []}
    drift = find_drift(c, s)
    started = []
    if repair:
        for d in drift:
            if not d.get("replay"):
                continue
            event = replay_event(c, s, d["replay"])
            name = f"reconcile-{d.get('adapter', 'base')}-{int(time.time())}"[:80]
            c.stepfunctions.start_execution(stateMachineArn=s.deploy_state_machine_arn, name=name, input=json.dumps(event))
            started.append(name)
    if drift:
        c.sns.publish(TopicArn=s.topic_arn, Subject=f"LoRA Plane drift on {s.endpoint_name}: {len(drift)} difference(s)"[:99],
                      Message=json.dumps({"event": "reconcile.drift", "drift": drift, "repairs": started}, indent=2),
                      MessageAttributes={"event": {"DataType": "String", "StringValue": "reconcile.drift"}})
    return {"drift": drift, "repairs": started}
