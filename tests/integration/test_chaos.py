"""Chaos: a seeded random sequence of approvals and rejections on two adapters, fired while faults
are injected (throttled registry reads, a crashed deployment Lambda, a timed-out record Lambda),
then the scheduled reconciler. Afterwards: every adapter serves its most recently approved version
that is not rejected (or nothing), the catalog says the same, no deployment is stuck, the endpoint
lock is free. The seed is printed; LORAPLANE_CHAOS_SEED=n repeats a run, LORAPLANE_CHAOS_RUNS=k
makes k runs (seeds n, n+1, ...) on adapters of their own."""
import os
import random
import time

import pytest

from loraplane.emulator.shims import faults
from loraplane.waiting import wait_until
from loraplane_core.catalog_keys import lock_key
from loraplane_core.deployment.serving_modes import sha_of_artifact
from loraplane_core.endpoint_names import adapter_component
from tests.integration.test_deployment import (  # noqa: F401
    decide, endpoint, executions, run_reconciler, upload_version, wait_deployments_idle,
)

SEED = int(os.environ.get("LORAPLANE_CHAOS_SEED") or random.randrange(10**6))
RUNS = int(os.environ.get("LORAPLANE_CHAOS_RUNS") or 1)


def served_sha(stack, adapter: str) -> str | None:
    component = adapter_component(stack.outputs["EndpointName"], adapter)
    try:
        described = stack.sm.describe_inference_component(InferenceComponentName=component)
    except stack.sm.exceptions.ClientError:
        return None
    return sha_of_artifact(described["Specification"].get("Container", {}).get("ArtifactUrl"))


@pytest.mark.parametrize("run", range(RUNS))
def test_random_decisions_under_faults_end_consistent(stack, endpoint, make_adapter, run):
    seed = SEED + run
    print(f"chaos seed {seed} (LORAPLANE_CHAOS_SEED={seed} repeats it)")
    rng = random.Random(seed)
    adapters = {f"chaos{run}-a": (51 + 4 * run, 52 + 4 * run), f"chaos{run}-b": (53 + 4 * run, 54 + 4 * run)}
    versions = {name: [upload_version(stack, make_adapter(seed=s), name) for s in seeds]
                for name, seeds in adapters.items()}
    status = {v["package_arn"]: "PendingManualApproval" for vs in versions.values() for v in vs}
    approved_order: list[str] = []  # package ARNs, in the order they were last approved
    faults.fail_call("sagemaker", "DescribeModelPackage", "ThrottlingException", times=4)
    faults.fail_lambda("-adapter", "crash", times=1)
    faults.fail_lambda("-outcome", "timeout", times=1)
    try:
        for _ in range(8):
            v = rng.choice([v for vs in versions.values() for v in vs])
            new = "Rejected" if status[v["package_arn"]] == "Approved" else "Approved"
            decide(stack, v, new)
            status[v["package_arn"]] = new
            if new == "Approved":
                approved_order = [a for a in approved_order if a != v["package_arn"]] + [v["package_arn"]]
            time.sleep(rng.uniform(1.1, 2.5))  # decisions a second apart: the registry's times order them
        wait_deployments_idle(stack, timeout=900)
    finally:
        faults.clear()
    run_reconciler(stack, repair=True)  # what the schedule does every 15 minutes
    wait_deployments_idle(stack, timeout=600)
    assert not executions(stack, "RUNNING")
    assert "Item" not in stack.table.get_item(Key=lock_key(stack.outputs["EndpointName"]), ConsistentRead=True)
    for name, vs in versions.items():
        mine = [a for a in approved_order if status[a] == "Approved" and any(v["package_arn"] == a for v in vs)]
        expected = next((v for v in vs if mine and v["package_arn"] == mine[-1]), None)
        assert served_sha(stack, name) == (expected["sha256"] if expected else None), (name, seed)
        live = [v["package_arn"] for v in vs if stack.table.get_item(Key={"pk": v["pk"], "sk": v["sk"]},
                                                                      ConsistentRead=True)["Item"]["state"] == "live"]
        assert live == ([expected["package_arn"]] if expected else []), (name, seed)
