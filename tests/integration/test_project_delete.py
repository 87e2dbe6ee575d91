"""Deleting a project's stack removes what the control plane created at run time: the stack's
EndpointCleanup custom resource (run by the emulator's CloudFormation on DeleteStack) deletes the
adapter components, the base component, the scaling target, the endpoint (its serving process
stops), the endpoint configs and the models. A stack of its own (one real vLLM-CPU endpoint)."""
import json

import boto3
import pytest

from loraplane.base_models import register
from loraplane.emulator import hosting
from loraplane.emulator.deploy import deploy_stack, local_parameters
from loraplane.emulator.shims import lambda_runtime
from loraplane.emulator.shims.sagemaker_hosting import container_for
from loraplane.waiting import wait_until
from loraplane_core.endpoint_names import adapter_component, base_component
from tests.stack_fixture import Stack

STACK = "loraplane-delete-test"
PREFIX = "lpdel-p-delete"


def component_status(sm, name: str) -> str | None:
    try:
        return sm.describe_inference_component(InferenceComponentName=name)["InferenceComponentStatus"]
    except sm.exceptions.ClientError:
        return None


@pytest.fixture(scope="module")
def live(emulator, tiny_base_dir, adapter_cache):
    """The stack with a base model and one adapter live, and a scaling target on the variant."""
    params = local_parameters("lpdel", "p-delete", UploadGraceSeconds="20", MaxLoraRank="16",
                              MaxAdapterBytes="1000000")
    stack = Stack(emulator, deploy_stack(emulator, STACK, params), params)
    endpoint, sm = stack.outputs["EndpointName"], stack.sm
    register(boto3.Session(), stack.outputs, "tiny-llama", params["ServingImageUri"], model_dir=tiny_base_dir,
             approve=True)
    wait_until(lambda: component_status(sm, base_component(PREFIX)) == "InService", timeout=600, interval=2,
               what="the base component")
    stack.upload(adapter_cache(seed=3), "teardown-a")
    [package] = wait_until(lambda: stack.packages("teardown-a"), timeout=120, what="the adapter's model package")
    sm.update_model_package(ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus="Approved")
    wait_until(lambda: component_status(sm, adapter_component(endpoint, "teardown-a")) == "InService", timeout=300,
               interval=2, what="the adapter component")
    scaling = emulator.client("application-autoscaling")
    resource = f"endpoint/{endpoint}/variant/AllTraffic"
    scaling.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource, MinCapacity=1, MaxCapacity=2,
                                     ScalableDimension="sagemaker:variant:DesiredInstanceCount")
    scaling.put_scaling_policy(PolicyName=f"{PREFIX}-invocations", ServiceNamespace="sagemaker", ResourceId=resource,
                               ScalableDimension="sagemaker:variant:DesiredInstanceCount",
                               PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration={
                                   "TargetValue": 60.0, "PredefinedMetricSpecification": {
                                       "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})
    assert container_for(endpoint, base_component(PREFIX)) is not None
    return stack


def test_deleting_the_stack_leaves_nothing_behind(emulator, live):
    sm, cfn, endpoint = live.sm, emulator.client("cloudformation"), live.outputs["EndpointName"]
    assert [m for m in sm.list_models(NameContains=PREFIX)["Models"] if m["ModelName"].startswith(f"{PREFIX}-")]
    stack_id = cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName=STACK)
    cfn.get_waiter("stack_delete_complete").wait(StackName=STACK, WaiterConfig={"Delay": 2, "MaxAttempts": 300})
    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"

    assert sm.list_inference_components(EndpointNameEquals=endpoint)["InferenceComponents"] == []
    with pytest.raises(sm.exceptions.ClientError):
        sm.describe_endpoint(EndpointName=endpoint)
    # Filtered here too: moto ignores NameContains, and other stacks share the session's emulator.
    ours = lambda names: [n for n in names if n.startswith(f"{PREFIX}-")]  # noqa: E731
    assert ours(c["EndpointConfigName"] for c in sm.list_endpoint_configs(NameContains=PREFIX)["EndpointConfigs"]) == []
    assert ours(m["ModelName"] for m in sm.list_models(NameContains=PREFIX)["Models"]) == []
    scaling = emulator.client("application-autoscaling")
    on_endpoint = lambda items: [i for i in items if i["ResourceId"].startswith(f"endpoint/{endpoint}/")]  # noqa: E731
    assert on_endpoint(scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]) == []
    assert on_endpoint(scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]) == []
    assert container_for(endpoint, base_component(PREFIX)) is None
    assert not [c for c in hosting.manager().containers if endpoint in str(getattr(c, "log_path", ""))]
    with pytest.raises(emulator.client("lambda").exceptions.ResourceNotFoundException):
        emulator.client("lambda").get_function(FunctionName=f"{PREFIX}-cleanup")
    # The adapter bucket is retained (DeletionPolicy), with the adapters in it.
    assert emulator.client("s3").list_objects_v2(Bucket=live.bucket, Prefix="adapters/teardown-a/")["KeyCount"] == 2


def test_deletion_waits_for_the_deployment_in_flight(emulator):
    """The cause of a stack that never left DELETE_IN_PROGRESS: the cleanup waits for the endpoint
    lock while a deployment holds it, and the deployment releases it from another Lambda
    invocation. Invocations must overlap (as on AWS), or neither ever finishes."""
    params = local_parameters("lpinf", "p-inflight")
    deploy_stack(emulator, "loraplane-delete-inflight", params)
    lock_fn, owner = f"{params['SageMakerProjectName']}-{params['SageMakerProjectId']}-lock", "deploy-in-flight"
    lam, cfn = emulator.client("lambda"), emulator.client("cloudformation")

    def lock(action: str) -> dict:
        resp = lam.invoke(FunctionName=lock_fn, Payload=json.dumps({"action": action, "owner": owner}))
        assert not resp.get("FunctionError"), resp["Payload"].read()
        return json.loads(resp["Payload"].read())

    assert lock("acquire") == {"acquired": True}
    cfn.delete_stack(StackName="loraplane-delete-inflight")
    statuses = lambda: [s["StackStatus"] for s in cfn.list_stacks()["StackSummaries"]  # noqa: E731
                        if s["StackName"] == "loraplane-delete-inflight"]
    assert statuses() == ["DELETE_IN_PROGRESS"]
    cleanup = f"{params['SageMakerProjectName']}-{params['SageMakerProjectId']}-cleanup"
    wait_until(lambda: lambda_runtime.environments().busy(cleanup), timeout=60, what="the cleanup to run")
    # The deployment ends while the cleanup runs (and waits for the lock): two invocations at once.
    assert lock("release") == {"released": True}
    wait_until(lambda: statuses() == ["DELETE_COMPLETE"], timeout=120, what="the stack to be deleted",
               seen=lambda _: statuses())


def test_project_delete_command_tears_down_then_deletes(emulator, capsys):
    """`loraplane project delete` on a stack whose endpoint never came up: nothing to tear down, stack gone."""
    import json

    from loraplane.cli import main

    params = local_parameters("lpcli", "p-cli")
    deploy_stack(emulator, "loraplane-delete-cli", params)
    assert main(["project", "delete", "--stack-name", "loraplane-delete-cli", "--timeout", "120"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"]["endpoints"] == []
    cfn = emulator.client("cloudformation")
    assert not [s for s in cfn.list_stacks()["StackSummaries"]
                if s["StackName"] == "loraplane-delete-cli" and s["StackStatus"] != "DELETE_COMPLETE"]
