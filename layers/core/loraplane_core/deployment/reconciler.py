"""The scheduled reconciler: compares what the registry says should be live with what the
endpoint serves, reports drift, and repairs it by replaying the decision through the deployment
state machine (so repairs take the endpoint lock, smoke-test and notify like any deployment)."""
import datetime
import json
import time
from dataclasses import asdict

from loraplane_core import approved_bases
from loraplane_core.aws import AwsClients
from loraplane_core.deployment import endpoint_lock, snapshots, versions
from loraplane_core.deployment.decisions import Drift
from loraplane_core.deployment.decisions import find_drift as drift_of
from loraplane_core.deployment.serving_modes import serving_mode
from loraplane_core.package_events import RECONCILER_SOURCE
from loraplane_core.sagemaker_events import package_event_detail
from loraplane_core.settings import ReconcileSettings, Settings


def find_drift(c: AwsClients, s: Settings) -> list[Drift]:
    """Reads the registry, the catalog and what the endpoint serves; decisions.find_drift compares."""
    wanted = approved_bases.latest_approved_base(c.sagemaker, c.catalog, s.base_group)
    deployed = versions.deployed_target(c.catalog, s.endpoint_name)
    wanted_arn = wanted and wanted["ModelPackageArn"]
    if wanted_arn and (deployed is None or deployed.package_arn != wanted_arn) or deployed is None:
        return drift_of(wanted_arn, deployed, {}, {})  # adapters follow the base model: repair it first
    return drift_of(wanted_arn, deployed, snapshots.all_version_views(c), serving_mode(c, s).live())


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
    drift = [asdict(d) for d in find_drift(c, s)]
    started = []
    if repair:
        for d in drift:
            if not d["replay"]:
                continue
            event = replay_event(c, s, d["replay"])
            name = f"reconcile-{d['adapter'] or 'base'}-{int(time.time())}"[:80]
            c.stepfunctions.start_execution(stateMachineArn=s.deploy_state_machine_arn, name=name, input=json.dumps(event))
            started.append(name)
    if drift:
        c.sns.publish(TopicArn=s.topic_arn, Subject=f"LoRA Plane drift on {s.endpoint_name}: {len(drift)} difference(s)"[:99],
                      Message=json.dumps({"event": "reconcile.drift", "drift": drift, "repairs": started}, indent=2),
                      MessageAttributes={"event": {"DataType": "String", "StringValue": "reconcile.drift"}})
    return {"drift": drift, "repairs": started}
