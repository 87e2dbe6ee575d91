"""The same registry decisions with `ServingMode=on-demand`: one model container that loads
adapters from the live/ prefix, serving exactly what live/manifest.json lists. A second stack in
the session's emulator (its own project name, so its own bucket, groups and endpoint)."""
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from loraplane.base_models import register
from loraplane.emulator.deploy import deploy_stack, local_parameters
from loraplane.waiting import wait_until
from loraplane_core.adapters.instance_reports import REPORTS_PREFIX, InstanceReport, parse_report
from loraplane_core.adapters.live_manifest import MANIFEST_KEY
from loraplane_core.deployment import versions as deployments
from tests.stack_fixture import Stack, delete_stack

from .test_deployment import decide, upload_version, wait_deployments_idle, wait_state
from .test_lock_batching import queue_then_hand_over, queued


@pytest.fixture(scope="module")
def on_demand(emulator, tiny_base_dir) -> Stack:
    params = local_parameters("lpod", "p-od", ServingMode="on-demand", MaxLoraRank="16", UploadGraceSeconds="20",
                              InstanceCount="1", MaxInstanceCount="3")
    outputs = deploy_stack(emulator, "loraplane-on-demand", params)
    s = Stack(emulator, outputs, params)
    arn = register(boto3.Session(), outputs, "tiny-llama", params["ServingImageUri"], model_dir=tiny_base_dir, approve=True)
    wait_until(lambda: (deployments.deployed_base(s.table, outputs["EndpointName"]) or {}).get("package_arn") == arn,
               timeout=600, interval=2, what="the on-demand endpoint")
    wait_deployments_idle(s)  # the base is recorded before its adapters and scaling: wait for the whole deployment
    yield s
    delete_stack(emulator, "loraplane-on-demand")  # its endpoint's serving processes stop with it


def ask(stack: Stack, adapter: str | None = None) -> str:
    extra = {"CustomAttributes": f"adapter={adapter}"} if adapter else {}
    resp = stack.emulator.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=stack.outputs["EndpointName"], ContentType="application/json",
        Body=json.dumps({"inputs": "Hello, who are you?", "parameters": {"max_new_tokens": 8}}), **extra)
    return json.loads(resp["Body"].read())[0]["generated_text"]


def reports(stack: Stack) -> list[InstanceReport]:
    listed = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=REPORTS_PREFIX).get("Contents", [])
    found = [parse_report(stack.s3.get_object(Bucket=stack.bucket, Key=o["Key"])["Body"].read()) for o in listed]
    return [r for r in found if r is not None]


def manifest(stack: Stack) -> dict:
    return json.loads(stack.s3.get_object(Bucket=stack.bucket, Key="live/manifest.json")["Body"].read())


def test_on_demand_endpoint_has_one_model_variant_and_scaling(on_demand):
    d = on_demand.sm.describe_endpoint(EndpointName=on_demand.outputs["EndpointName"])
    config = on_demand.sm.describe_endpoint_config(EndpointConfigName=d["EndpointConfigName"])
    [variant] = config["ProductionVariants"]
    assert variant["ModelName"].startswith("lpod-p-od-base-")
    model = on_demand.sm.describe_model(ModelName=variant["ModelName"])
    env = model["PrimaryContainer"]["Environment"]
    assert env["LORAPLANE_ADAPTER_MANIFEST"] == f"s3://{on_demand.bucket}/live/manifest.json"
    targets = on_demand.emulator.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker")["ScalableTargets"]
    assert any(t["ResourceId"] == f"endpoint/{on_demand.outputs['EndpointName']}/variant/AllTraffic"
               and t["MaxCapacity"] == 3 for t in targets)


def test_on_demand_approve_reject_and_replace(on_demand, make_adapter):
    v1 = upload_version(on_demand, make_adapter(seed=31), "helper")
    decide(on_demand, v1, "Approved")
    wait_state(on_demand, "helper", v1, "live")
    assert manifest(on_demand)["adapters"]["helper"]["sha256"] == v1["sha256"]
    # live only once the container reported that its prefetch took up this manifest
    etag = on_demand.s3.head_object(Bucket=on_demand.bucket, Key=MANIFEST_KEY)["ETag"]
    assert etag in [r.manifest_etag for r in reports(on_demand)]
    first = ask(on_demand, "helper")
    assert first != ask(on_demand)
    v2 = upload_version(on_demand, make_adapter(seed=32), "helper")
    decide(on_demand, v2, "Approved")
    wait_state(on_demand, "helper", v2, "live")
    wait_until(lambda: ask(on_demand, "helper") != first, timeout=30, what="the container to serve version 2")
    decide(on_demand, v2, "Rejected")
    wait_state(on_demand, "helper", v1, "live")
    wait_until(lambda: ask(on_demand, "helper") == first, timeout=30, what="version 1 again")
    decide(on_demand, v1, "Rejected")
    wait_state(on_demand, "helper", v1, "retired")
    wait_deployments_idle(on_demand)
    assert "helper" not in manifest(on_demand)["adapters"]

    def refused() -> str | None:
        try:
            ask(on_demand, "helper")
        except ClientError as e:
            return str(e)
        return None

    message = wait_until(refused, timeout=30, what="the retired adapter to be refused")
    assert "adapter 'helper' not found" in message


def test_on_demand_batch_waits_once_for_the_prefetch_of_all_its_versions(on_demand, make_adapter):
    """Two approvals queued behind the lock: one holder writes both into the manifest and both go
    live once the container's prefetch report has taken up that manifest."""
    items = {name: upload_version(on_demand, make_adapter(seed=seed), name)
             for name, seed in (("od-batch-a", 75), ("od-batch-b", 76))}
    wait_deployments_idle(on_demand)
    holder = queue_then_hand_over(on_demand, items, to="od-batch-a")
    for adapter, item in items.items():
        wait_state(on_demand, adapter, item, "live")
    wait_deployments_idle(on_demand)
    listed = manifest(on_demand)["adapters"]
    assert all(listed[a]["sha256"] == i["sha256"] for a, i in items.items())
    etag = on_demand.s3.head_object(Bucket=on_demand.bucket, Key=MANIFEST_KEY)["ETag"]
    assert etag in [r.manifest_etag for r in reports(on_demand)]
    [rider] = [q for q in queued(on_demand) if q["adapter"] == "od-batch-b"]
    assert rider["outcome"] == "succeeded" and rider["claimed_by"] == holder
    assert ask(on_demand, "od-batch-a") != ask(on_demand, "od-batch-b")

def test_new_base_model_marks_adapters_for_the_old_one_incompatible(on_demand, make_adapter, tiny_base_dir):
    """A base model with another name, approved: a blue/green UpdateEndpoint; adapters built for
    the old base are marked incompatible and leave the manifest."""
    old = upload_version(on_demand, make_adapter(seed=33), "legacy")
    decide(on_demand, old, "Approved")
    wait_state(on_demand, "legacy", old, "live")
    config_before = on_demand.sm.describe_endpoint(EndpointName=on_demand.outputs["EndpointName"])["EndpointConfigName"]
    arn = register(boto3.Session(), on_demand.outputs, "other-llama", on_demand.params["ServingImageUri"],
                   model_dir=tiny_base_dir, approve=True)
    wait_until(lambda: (deployments.deployed_base(on_demand.table, on_demand.outputs["EndpointName"]) or {}).get(
        "package_arn") == arn, timeout=600, interval=2, what="the new base model")
    wait_deployments_idle(on_demand)
    endpoint = on_demand.sm.describe_endpoint(EndpointName=on_demand.outputs["EndpointName"])
    assert endpoint["EndpointStatus"] == "InService" and endpoint["EndpointConfigName"] != config_before
    item = deployments.find_item(on_demand.table, "legacy", old["package_arn"])
    assert item["state"] == "incompatible" and "other-llama" in item["reason"]
    assert manifest(on_demand)["adapters"] == {}
    assert isinstance(ask(on_demand), str)
    # The module's other tests upload adapters for tiny-llama: serve it again (a newer approval).
    back = register(boto3.Session(), on_demand.outputs, "tiny-llama", on_demand.params["ServingImageUri"],
                    model_dir=tiny_base_dir, approve=True)
    wait_until(lambda: (deployments.deployed_base(on_demand.table, on_demand.outputs["EndpointName"]) or {}).get(
        "package_arn") == back, timeout=600, interval=2, what="tiny-llama to serve again")
    wait_deployments_idle(on_demand)
