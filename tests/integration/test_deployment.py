"""Registry decisions drive the endpoint: the deployment state machine in the emulator, with
local SageMaker hosting running the real serving process (vLLM on the CPU).

Every test works on adapters of its own, on the session's stack, in any order: the base model
approved by the session fixture is deployed by the `endpoint` fixture; a base-model update leaves
a compatible base serving, so the tests after it are unaffected."""
import json
import os
import time

import pytest
from botocore.exceptions import ClientError

from loraplane.base_models import register
from loraplane.waiting import wait_until
from loraplane_core.deployment import versions as deployments
from loraplane_core.endpoint_names import adapter_component, base_component

PROMPT = "Hello, who are you?"


def executions(stack, status: str | None = None) -> list[dict]:
    sfn, arn = stack.sfn, stack.outputs["DeployStateMachineArn"]
    kwargs = {"stateMachineArn": arn, **({"statusFilter": status} if status else {})}
    return [e for page in sfn.get_paginator("list_executions").paginate(**kwargs) for e in page["executions"]]


def wait_deployments_idle(stack, timeout: float = 600) -> None:
    wait_until(lambda: not executions(stack, "RUNNING"), timeout=timeout, interval=1, what="deployments to finish")


def states_entered(stack, execution_arn: str) -> list[str]:
    events = stack.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def ask(stack, **args) -> str:
    body = {"inputs": PROMPT, "parameters": {"max_new_tokens": 8}}
    resp = stack.emulator.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=stack.outputs["EndpointName"], ContentType="application/json", Body=json.dumps(body), **args)
    return json.loads(resp["Body"].read())[0]["generated_text"]


def ask_adapter(stack, adapter: str) -> str:
    return ask(stack, InferenceComponentName=adapter_component(stack.outputs["EndpointName"], adapter))


def answers(stack, adapter: str) -> bool:
    try:
        return isinstance(ask_adapter(stack, adapter), str)
    except ClientError:
        return False


def ask_base(stack) -> str:
    return ask(stack, InferenceComponentName=base_component(stack.outputs["EndpointName"].removesuffix("-endpoint")))


def upload_version(stack, adapter_dir: str, name: str) -> dict:
    stack.upload(adapter_dir, name)
    before = {i["sk"] for i in stack.items(name)}
    item = wait_until(lambda: next((i for i in stack.items(name) if i["sk"].startswith("version#") and i["sk"] not in before), None),
                      timeout=90, what=f"a new version of {name}")
    return item


def decide(stack, item: dict, status: str, reason: str | None = None) -> None:
    kwargs = {"ApprovalDescription": reason} if reason else {}
    stack.sm.update_model_package(ModelPackageArn=item["package_arn"], ModelApprovalStatus=status, **kwargs)


def version_state(stack, name: str, package_arn: str) -> str | None:
    item = deployments.find_item(stack.table, name, package_arn)
    return item and item.get("state")


def wait_state(stack, name: str, item: dict, state: str, timeout: float = 240) -> None:
    wait_until(lambda: version_state(stack, name, item["package_arn"]) == state, timeout=timeout, interval=1,
               what=f"{name} v{item['package_version']} to be {state}")


def make_live(stack, adapter_dir: str, name: str) -> dict:
    """A version of `name` uploaded, approved and live (smoke-tested)."""
    item = upload_version(stack, adapter_dir, name)
    decide(stack, item, "Approved")
    wait_state(stack, name, item, "live")
    return item


@pytest.fixture(scope="module")
def endpoint(stack):
    """The session's approved base model, deployed: endpoint and base component in service."""
    wait_until(lambda: deployments.deployed_base(stack.table, stack.outputs["EndpointName"]), timeout=600, interval=2,
               what="the base model deployment")
    wait_deployments_idle(stack)
    return stack.sm.describe_endpoint(EndpointName=stack.outputs["EndpointName"])


def test_base_model_approval_created_the_endpoint(stack, endpoint):
    assert endpoint["EndpointStatus"] == "InService"
    base = stack.sm.describe_inference_component(
        InferenceComponentName=base_component(stack.outputs["EndpointName"].removesuffix("-endpoint")))
    assert base["InferenceComponentStatus"] == "InService"
    assert isinstance(ask_base(stack), str)
    done = sorted((e for e in executions(stack) if "StartBaseDeployment" in states_entered(stack, e["executionArn"])),
                  key=lambda e: e["startDate"])
    assert done and done[0]["status"] == "SUCCEEDED"  # the first base deployment created the endpoint


def test_approving_an_adapter_makes_it_live_and_answer(stack, endpoint, make_adapter, notifications):
    item = upload_version(stack, make_adapter(seed=11), "alpha")
    assert version_state(stack, "alpha", item["package_arn"]) == "registered"
    t0 = time.perf_counter()
    decide(stack, item, "Approved")
    wait_state(stack, "alpha", item, "live")
    print(f"approval -> live (smoke-tested) in {time.perf_counter() - t0:.1f}s")
    assert ask_adapter(stack, "alpha") != ask_base(stack)
    subjects = [n["subject"] for n in notifications()]
    assert any("alpha version" in s and "is live" in s for s in subjects)


def executions_of(stack, package_arn: str) -> list[dict]:
    """The deployment executions started for events about this package (other tests' do not count)."""
    return [e for e in executions(stack)
            if package_arn in stack.sfn.describe_execution(executionArn=e["executionArn"])["input"]]


def test_duplicate_and_replayed_decisions_deploy_once(stack, endpoint, make_adapter):
    alpha = make_live(stack, make_adapter(seed=17), "dup")
    wait_deployments_idle(stack)
    before = executions_of(stack, alpha["package_arn"])
    applied_before = sum("ApplyAdapterDecision" in states_entered(stack, e["executionArn"]) for e in before)
    assert applied_before == 1
    # Same decision again (an update that changes no status), and the same event delivered twice.
    decide(stack, alpha, "Approved", reason="looked at it again")
    described = stack.sm.describe_model_package(ModelPackageName=alpha["package_arn"])
    from loraplane_core.sagemaker_events import package_event_detail
    entry = {"Source": "aws.sagemaker", "DetailType": "SageMaker Model Package State Change",
             "Detail": json.dumps(package_event_detail(described)), "Resources": [alpha["package_arn"]]}
    stack.emulator.client("events").put_events(Entries=[entry, entry])
    # Every update emits an event (sagemaker_events shim): one execution each, three in all.
    wait_until(lambda: len(executions_of(stack, alpha["package_arn"])) >= len(before) + 3, timeout=60,
               what="an execution for each of the 3 events",
               seen=lambda _: len(executions_of(stack, alpha["package_arn"])) - len(before))
    wait_deployments_idle(stack)
    after = executions_of(stack, alpha["package_arn"])
    assert sum("ApplyAdapterDecision" in states_entered(stack, e["executionArn"]) for e in after) == applied_before
    assert version_state(stack, "dup", alpha["package_arn"]) == "live"


def test_rejecting_the_live_version_brings_back_the_previous(stack, endpoint, make_adapter):
    v1 = make_live(stack, make_adapter(seed=18), "revert")
    v2 = upload_version(stack, make_adapter(seed=12), "revert")
    answer_v1 = ask_adapter(stack, "revert")
    decide(stack, v2, "Approved")
    wait_state(stack, "revert", v2, "live")
    assert version_state(stack, "revert", v1["package_arn"]) == "retired"
    answer_v2 = ask_adapter(stack, "revert")
    assert answer_v2 != answer_v1
    decide(stack, v2, "Rejected", reason="answers badly")
    wait_state(stack, "revert", v1, "live")
    assert version_state(stack, "revert", v2["package_arn"]) == "rejected"
    assert ask_adapter(stack, "revert") == answer_v1


def test_rejecting_the_only_version_retires_the_adapter(stack, endpoint, make_adapter):
    item = upload_version(stack, make_adapter(seed=13), "solo")
    decide(stack, item, "Approved")
    wait_state(stack, "solo", item, "live")
    decide(stack, item, "Rejected")
    wait_state(stack, "solo", item, "retired")
    with pytest.raises(ClientError) as refused:
        ask_adapter(stack, "solo")
    assert "solo" in str(refused.value)


def test_two_approvals_at_once_never_overlap_on_the_endpoint(stack, endpoint, make_adapter):
    a = upload_version(stack, make_adapter(seed=14), "twin-a")
    b = upload_version(stack, make_adapter(seed=15), "twin-b")
    wait_deployments_idle(stack)
    since = time.time()
    decide(stack, a, "Approved")
    decide(stack, b, "Approved")
    wait_state(stack, "twin-a", a, "live")
    wait_state(stack, "twin-b", b, "live")
    wait_deployments_idle(stack)
    windows = []
    for e in executions(stack):
        if e["startDate"].timestamp() < since - 1:
            continue
        events = stack.sfn.get_execution_history(executionArn=e["executionArn"], maxResults=1000)["events"]
        held = [ev["timestamp"] for ev in events if ev.get("stateEnteredEventDetails", {}).get("name") == "RouteDecision"]
        freed = [ev["timestamp"] for ev in events if ev.get("stateExitedEventDetails", {}).get("name") == "ReleaseEndpointLock"]
        if held and freed:
            windows.append((held[0], freed[-1]))
    # Two acquisitions one after the other, or one: the holder carried the other out (lock batching)
    assert 1 <= len(windows) <= 2, windows
    windows.sort()
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(windows, windows[1:])), f"lock windows overlap: {windows}"


def zero_effect_copy(adapter_dir: str) -> str:
    """An untrained adapter (lora_B all zero, as PEFT initialises it): it changes nothing."""
    from safetensors.torch import load_file, save_file

    path = os.path.join(adapter_dir, "adapter_model.safetensors")
    tensors = {k: (v * 0 if "lora_B" in k else v) for k, v in load_file(path).items()}
    save_file(tensors, path, metadata={"format": "pt"})
    return adapter_dir


def test_smoke_test_failure_rolls_back_and_notifies(stack, endpoint, make_adapter, notifications):
    v1 = make_live(stack, make_adapter(seed=19), "smoky")
    before = ask_adapter(stack, "smoky")
    bad = upload_version(stack, zero_effect_copy(make_adapter(seed=16)), "smoky")
    decide(stack, bad, "Approved")
    wait_until(lambda: any(i["sk"].startswith("failure#") and str(bad["package_version"]) in i["message"]
                           for i in stack.items("smoky")), timeout=240, interval=1, what="the failure record")
    wait_deployments_idle(stack)
    assert version_state(stack, "smoky", bad["package_arn"]) == "failed"
    assert version_state(stack, "smoky", v1["package_arn"]) == "live"
    wait_until(lambda: answers(stack, "smoky") and ask_adapter(stack, "smoky") == before, timeout=60,
               what="the previous version to answer again")
    failed = [n for n in notifications() if n["message"].get("event") == "deployment.failed"]
    assert failed and failed[-1]["message"]["error"] == "SmokeTestFailed"


def run_reconciler(stack, repair: bool) -> dict:
    resp = stack.emulator.client("lambda").invoke(FunctionName=stack.outputs["ReconcileFunctionName"],
                                                  Payload=json.dumps({"repair": repair}))
    assert "FunctionError" not in resp, resp["Payload"].read()
    return json.loads(resp["Payload"].read())


def test_reconciler_reports_and_repairs_drift(stack, endpoint, make_adapter, notifications):
    make_live(stack, make_adapter(seed=20), "drifty")
    wait_deployments_idle(stack)
    mine = lambda report: [d for d in report["drift"] if d.get("adapter") == "drifty"]  # noqa: E731 - other tests' adapters may drift
    assert mine(run_reconciler(stack, repair=False)) == []
    # Someone deletes a live adapter's component by hand.
    component = adapter_component(stack.outputs["EndpointName"], "drifty")
    stack.sm.delete_inference_component(InferenceComponentName=component)
    wait_until(lambda: component not in [c["InferenceComponentName"] for c in stack.sm.list_inference_components(
        EndpointNameEquals=stack.outputs["EndpointName"])["InferenceComponents"]], timeout=60, what="the deletion")
    report = run_reconciler(stack, repair=True)
    assert [(d["adapter"], d["actual"]) for d in mine(report)] == [("drifty", None)] and report["repairs"]
    assert any(n["message"].get("event") == "reconcile.drift" for n in notifications())
    wait_deployments_idle(stack)
    wait_until(lambda: answers(stack, "drifty"), timeout=120, what="drifty to answer again")
    assert mine(run_reconciler(stack, repair=False)) == []


def test_base_model_update_keeps_adapters_serving(stack, endpoint, tmp_path, make_adapter):
    from loraplane.dev.tiny import build_tiny_model

    make_live(stack, make_adapter(seed=21), "rebased")
    before = ask_adapter(stack, "rebased")
    new_dir = build_tiny_model(str(tmp_path / "tiny-llama"), seed=7)  # same model name, new weights
    import boto3

    t0 = time.perf_counter()
    arn = register(boto3.Session(), stack.outputs, "tiny-llama", stack.params["ServingImageUri"], model_dir=new_dir, approve=True)
    wait_until(lambda: (deployments.deployed_base(stack.table, stack.outputs["EndpointName"]) or {}).get("package_arn") == arn,
               timeout=600, interval=2, what="the base model update")
    print(f"base model update in {time.perf_counter() - t0:.1f}s")
    wait_deployments_idle(stack)
    assert stack.sm.describe_endpoint(EndpointName=stack.outputs["EndpointName"])["EndpointStatus"] == "InService"
    assert isinstance(ask_adapter(stack, "rebased"), str) and ask_adapter(stack, "rebased") != before  # new base weights


def test_failed_base_model_update_leaves_the_old_one_serving(stack, endpoint, tmp_path, notifications, tiny_base_dir,
                                                             make_adapter):
    import shutil

    import boto3

    make_live(stack, make_adapter(seed=22), "steady")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_base_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    served_before = deployments.deployed_base(stack.table, stack.outputs["EndpointName"])
    answer_before = ask_base(stack)
    arn = register(boto3.Session(), stack.outputs, "tiny-llama", stack.params["ServingImageUri"], model_dir=str(broken), approve=True)
    wait_until(lambda: any(n["message"].get("event") == "deployment.failed" and n["message"].get("package_arn") == arn
                           for n in notifications()), timeout=600, interval=2, what="the failure notification")
    wait_deployments_idle(stack)
    assert deployments.deployed_base(stack.table, stack.outputs["EndpointName"])["package_arn"] == served_before["package_arn"]
    assert ask_base(stack) == answer_before
    assert isinstance(ask_adapter(stack, "steady"), str)
