"""Adapter decisions applied to the endpoint: apply the plan, wait until the serving mode says
the adapter is in service, or put back what was live before (rollback)."""
import time

from . import deployments
from .adapter_serving import serving_mode
from .aws import AwsClients
from .errors import AdapterDeploymentFailed, DeploymentTimedOut
from .package_events import PackageChange
from .settings import Settings


def apply(c: AwsClients, s: Settings, change: PackageChange) -> dict:
    plan = deployments.plan_adapter(c.catalog, c.sagemaker, s.endpoint_name, change)
    mode = serving_mode(c, s)
    plan["deadline"] = int(time.time() + min(s.deployment_timeout_seconds, 1800))
    if plan["outcome"] == "deploy":
        if not mode.base_ready():
            return {**plan, "outcome": "deferred"}
        target = plan["target"]
        mode.apply(plan["adapter"], target["artifact_uri"], deployments.manifest_entry(target))
    elif plan["outcome"] == "retire":
        mode.remove(plan["adapter"])
    return {**plan, "ready": False}


def check(c: AwsClients, s: Settings, plan: dict, poll_seconds: float = 20) -> dict:
    """Polls briefly in the Lambda (adapter components usually settle in seconds), then hands the
    longer waits to the state machine's Wait state."""
    mode, until = serving_mode(c, s), time.time() + poll_seconds
    while True:
        status, reason = mode.status(plan["adapter"], (plan.get("target") or {}).get("artifact_uri"))
        if status == "InService":
            return {**plan, "ready": True}
        if status in ("Failed", "Missing"):
            raise AdapterDeploymentFailed(f"adapter {plan['adapter']}: {status} {reason or ''}".strip())
        if time.time() > plan["deadline"]:
            raise DeploymentTimedOut(f"adapter {plan['adapter']} not in service in time (status {status})")
        if time.time() > until:
            return {**plan, "ready": False}
        time.sleep(1)


def rollback(c: AwsClients, s: Settings, plan: dict) -> dict:
    """Serve again what was live before the change (or nothing, if nothing was)."""
    mode, previous = serving_mode(c, s), plan.get("previous")
    if plan["change"]["action"] == "rejected":
        previous = None  # the version live before was just rejected: never put it back
    if previous:
        mode.apply(plan["adapter"], previous["artifact_uri"], deployments.manifest_entry(previous))
        return {"restored": previous["version"]}
    mode.remove(plan["adapter"])
    return {"restored": None}
