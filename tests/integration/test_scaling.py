"""Scale to zero and copy-count scaling against the emulator: with ScaleToZero the endpoint config may
release every instance, the base component is registered down to 0 copies with a target tracking and a
step policy, the alarm that runs the step policy exists, and teardown removes them all.

The deployment code is called directly with emulator clients (a whole stack with ScaleToZero would add
nothing: the Lambdas run the same functions). No endpoint is created, so nothing serves: Application
Auto Scaling does not check that the component exists, in the emulator (docs/emulator.md). The wake-up
test places its components in the hosting shim's state, in service without a serving process."""
import time
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from loraplane.emulator.local_aws import ACCOUNT, REGION
from loraplane.emulator.shims.sagemaker_hosting import state
from loraplane_core.deployment import base_endpoint, scaling, steps
from loraplane_core.deployment.payloads import AdapterPlan, AdapterTarget, CheckAdapter
from loraplane_core.endpoint_names import adapter_component, components_config
from loraplane_core.package_events import PackageChange
from loraplane_core.settings import Settings
from loraplane_core.teardown import teardown

PREFIX = "lpscale-p-scale"
ENDPOINT = f"{PREFIX}-endpoint"
SETTINGS = Settings(project_name="lpscale", project_id="p-scale", adapter_bucket="b", catalog_table="c",
                    idempotency_table="x", topic_arn="t", adapter_group="g", base_group="bg", serving_image_uri="img",
                    endpoint_name=ENDPOINT, execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/sm",
                    serving_mode="inference-components", instance_count=1, max_instance_count=3, scale_to_zero=True)
COMPONENT = f"inference-component/{PREFIX}-base"
DIMENSION = "sagemaker:inference-component:DesiredCopyCount"


def test_the_emulator_accepts_the_copy_count_dimension_for_components_only(emulator):
    autoscaling = emulator.client("application-autoscaling")
    target = {"ServiceNamespace": "sagemaker", "ScalableDimension": DIMENSION}
    autoscaling.register_scalable_target(**target, ResourceId="inference-component/shim-check", MinCapacity=0,
                                         MaxCapacity=1)
    try:
        with pytest.raises(ClientError, match="scalable dimension"):  # the resource type must match, as on AWS
            autoscaling.register_scalable_target(**target, ResourceId="endpoint/e/variant/AllTraffic", MinCapacity=0,
                                                 MaxCapacity=1)
    finally:
        autoscaling.deregister_scalable_target(**target, ResourceId="inference-component/shim-check")


def test_scale_to_zero_is_set_up_and_torn_down(emulator):
    sm, cloudwatch = emulator.client("sagemaker"), emulator.client("cloudwatch")
    autoscaling = emulator.client("application-autoscaling")

    config = base_endpoint.ensure_endpoint_config(sm, SETTINGS, None)
    [variant] = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    assert variant["ManagedInstanceScaling"] == {"Status": "ENABLED", "MinInstanceCount": 0, "MaxInstanceCount": 3}

    floor = base_endpoint.managed_min_instances(sm, SETTINGS)  # what ReattachAdapters passes
    assert floor == 0
    first = scaling.ensure_scaling(autoscaling, cloudwatch, SETTINGS, floor)
    assert scaling.ensure_scaling(autoscaling, cloudwatch, SETTINGS, floor) == first  # a replayed reattach: same state
    [target] = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[COMPONENT])[
        "ScalableTargets"]
    assert (target["ScalableDimension"], target["MinCapacity"], target["MaxCapacity"]) == (DIMENSION, 0, 3)
    policies = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=COMPONENT)[
        "ScalingPolicies"]
    by_type = {p["PolicyType"]: p for p in policies}
    assert len(policies) == 2 and set(by_type) == {"TargetTrackingScaling", "StepScaling"}
    assert by_type["TargetTrackingScaling"]["TargetTrackingScalingPolicyConfiguration"][
        "PredefinedMetricSpecification"] == {"PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"}
    [alarm] = cloudwatch.describe_alarms(AlarmNames=[f"{PREFIX}-scale-from-zero"])["MetricAlarms"]
    assert alarm["MetricName"] == "NoCapacityInvocationFailures" and alarm["Namespace"] == "AWS/SageMaker"
    assert alarm["Dimensions"] == [{"Name": "InferenceComponentName", "Value": f"{PREFIX}-base"}]
    assert alarm["AlarmActions"] == [by_type["StepScaling"]["PolicyARN"]]  # the step policy of the last upsert

    deleted = teardown(sm, autoscaling, None, ENDPOINT, PREFIX, time.time() + 60, poll=0.5, cloudwatch=cloudwatch)
    assert deleted["alarms"] == [f"{PREFIX}-scale-from-zero"]
    assert deleted["scaling_targets"] == [f"{COMPONENT}:{DIMENSION}"]
    assert components_config(PREFIX) in deleted["endpoint_configs"]
    assert autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[COMPONENT])[
        "ScalableTargets"] == []
    assert autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=COMPONENT)[
        "ScalingPolicies"] == []
    assert cloudwatch.describe_alarms(AlarmNames=[f"{PREFIX}-scale-from-zero"])["MetricAlarms"] == []
    again = teardown(sm, autoscaling, None, ENDPOINT, PREFIX, time.time() + 60, poll=0.5, cloudwatch=cloudwatch)
    assert again["alarms"] == [] and again["scaling_targets"] == []  # idempotent


ARTIFACT = "s3://b/artifacts/bot/0/adapter.tar.gz"


def placed(name: str, spec: dict, copies: int | None) -> state.Component:
    """A component in service as the hosting workers leave one, without a container (nothing is invoked)."""
    component = state.Component(name, f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:inference-component/{name}", ACCOUNT,
                                REGION, ENDPOINT, f"arn:endpoint/{ENDPOINT}", "AllTraffic", spec,
                                None if copies is None else {"CopyCount": copies}, [], status="InService")
    with state._lock:
        state._components[(ACCOUNT, REGION, name)] = component
    return component


def test_an_adapter_deployment_wakes_a_base_at_zero_and_its_alarm_goes_with_teardown(emulator):
    """Base at 0 copies -> the adapter check asks for one copy and reports ready only once it serves; the
    adapter component has its own scale-from-zero alarm on the base's step policy; teardown removes both alarms."""
    sm, cloudwatch = emulator.client("sagemaker"), emulator.client("cloudwatch")
    autoscaling = emulator.client("application-autoscaling")
    clients = SimpleNamespace(sagemaker=sm, autoscaling=autoscaling, cloudwatch=cloudwatch, catalog=None, s3=None)
    base_endpoint.ensure_endpoint_config(sm, SETTINGS, None)
    base = placed(f"{PREFIX}-base", {"ModelName": "m", "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 1}}, 1)
    bot = adapter_component(ENDPOINT, "bot")
    placed(bot, {"BaseInferenceComponentName": base.name, "Container": {"ArtifactUrl": ARTIFACT}}, None)
    try:
        scaling.ensure_scaling(autoscaling, cloudwatch, SETTINGS, 0)
        assert scaling.watch_adapter(autoscaling, cloudwatch, SETTINGS, "bot") == f"{PREFIX}-scale-from-zero-{bot}"
        [step] = [p for p in autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=COMPONENT)[
            "ScalingPolicies"] if p["PolicyType"] == "StepScaling"]
        [alarm] = cloudwatch.describe_alarms(AlarmNames=[f"{PREFIX}-scale-from-zero-{bot}"])["MetricAlarms"]
        assert alarm["Dimensions"] == [{"Name": "InferenceComponentName", "Value": bot}]
        assert alarm["AlarmActions"] == [step["PolicyARN"]] and (alarm["Statistic"], alarm["Period"]) == ("Sum", 60)

        sm.update_inference_component_runtime_config(InferenceComponentName=base.name,
                                                     DesiredRuntimeConfig={"CopyCount": 0})  # scaled in
        change = PackageChange(kind="adapter", action="approved", package_arn="arn:pkg/1", group="g", version=1,
                               status="Approved", modified="2026-01-01T12:00:00+00:00", name="bot")
        plan = AdapterPlan(adapter="bot", outcome="deploy", change=change, deadline=int(time.time() + 60),
                           target=AdapterTarget(package_arn="arn:pkg/1", version=1, sha256="0" * 64,
                                               artifact_uri=ARTIFACT, base_model="tiny"))

        def check() -> bool:
            return steps.check_adapter(clients, SETTINGS, CheckAdapter(action="check", deployment=plan),
                                       poll_seconds=0).ready

        assert check() is False  # the adapter component is in service, the base has no copy: woken, not ready
        assert sm.describe_inference_component(InferenceComponentName=base.name)["RuntimeConfig"][
            "DesiredCopyCount"] == 1
        base.status = "Updating"  # the copy is starting (the emulator's copy count changes at once)
        assert check() is False
        base.status = "InService"
        assert check() is True

        # An adapter's alarm whose component is already gone (an unwatch that failed) goes too: by name prefix.
        orphan = f"{PREFIX}-scale-from-zero-{adapter_component(ENDPOINT, 'gone')}"
        cloudwatch.put_metric_alarm(AlarmName=orphan, MetricName="NoCapacityInvocationFailures",
                                    Namespace="AWS/SageMaker", Statistic="Sum", Period=60, EvaluationPeriods=1,
                                    Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")
        deleted = teardown(sm, autoscaling, None, ENDPOINT, PREFIX, time.time() + 60, poll=0.5, cloudwatch=cloudwatch)
        assert sorted(deleted["alarms"]) == sorted([f"{PREFIX}-scale-from-zero", f"{PREFIX}-scale-from-zero-{bot}",
                                                    orphan])
        assert cloudwatch.describe_alarms(AlarmNamePrefix=f"{PREFIX}-scale-from-zero")["MetricAlarms"] == []
        assert deleted["inference_components"] == [bot, base.name]
    finally:
        with state._lock:
            for name in (base.name, bot):
                state._components.pop((ACCOUNT, REGION, name), None)
