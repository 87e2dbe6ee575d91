"""Auto scaling of the endpoint: `plan` decides it from the settings (pure), `ensure_scaling` applies it.

on-demand: instance auto scaling of the variant, target tracking on invocations per instance.
async: instance auto scaling of the variant on its queue, target tracking on ApproximateBacklogSizePerInstance;
with ScaleToZero down to 0 instances, and a step scaling policy, run by an alarm on HasBacklogWithoutCapacity,
adds the first instance back (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html).
inference-components: copy-count auto scaling of the base component, target tracking on invocations
per copy; the endpoint config's managed instance scaling adds and removes instances to fit the copies.
With ScaleToZero the base component may go down to 0 copies (and the endpoint to 0 instances) when
idle; nothing can then serve the request that should wake it, so a step scaling policy, run by a
CloudWatch alarm on NoCapacityInvocationFailures, adds the first copy back
(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html). Each live
adapter component gets such an alarm too (its requests may count on its own metric only), acting on
the same policy. A deployment does not wait for traffic: `ensure_capacity` asks for one copy itself,
and the check steps report ready only once that copy serves (a smoke test at 0 copies would fail).
Every call upserts: applying the same plan again changes nothing.
"""
import logging
from dataclasses import dataclass

from botocore.exceptions import ClientError

from loraplane_core.deployment.payloads import ScalingResult
from loraplane_core.endpoint_names import adapter_component, base_component, project_tags
from loraplane_core.sagemaker_gateway import VALIDATION_CODES, describe
from loraplane_core.settings import Settings

logger = logging.getLogger(__name__)

VARIANT = "AllTraffic"
NAMESPACE = "sagemaker"
VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
COPY_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
TARGET_INVOCATIONS_PER_MINUTE = 60.0  # per instance (on-demand) or per copy (inference components)
# Scale out from zero: NoCapacityInvocationFailures is published per minute, so the alarm sums 60 s
# (AWS's example: --period 60 --statistic Sum); the cooldown is how long one added copy is given to arrive.
ALARM_PERIOD_S, ALARM_STATISTIC, STEP_COOLDOWN_S = 60, "Sum", 60
NO_CAPACITY = "NoCapacity"  # the status CheckBase / CheckAdapter report while the base has no copy
# async (AWS's example in async-inference-autoscale.html): a backlog of 5 requests per instance; out
# from zero when HasBacklogWithoutCapacity averages >= 1 for 2 of 2 minutes, +1 instance, cooldown 300 s.
TARGET_BACKLOG_PER_INSTANCE, ASYNC_SCALE_OUT_COOLDOWN_S, ASYNC_EVALUATION_PERIODS = 5.0, 300, 2


def variant_resource(endpoint: str) -> str:
    return f"endpoint/{endpoint}/variant/{VARIANT}"


def component_resource(component: str) -> str:
    return f"inference-component/{component}"


def from_zero_name(prefix: str) -> str:
    """The step policy and its alarm (one exact name: IAM grants only it, never the stack's own alarms)."""
    return f"{prefix}-scale-from-zero"


def adapter_alarm_name(prefix: str, component: str) -> str:
    """<prefix>-scale-from-zero-<adapter component>: at most 53 + 16 + 39 characters (CloudWatch allows 255)."""
    return f"{from_zero_name(prefix)}-{component}"[:255]


@dataclass(frozen=True)
class FromZero:
    name: str  # the step policy's and the alarm's
    component: str  # the InferenceComponentName dimension of NoCapacityInvocationFailures
    endpoint: str | None = None  # async: the EndpointName dimension of HasBacklogWithoutCapacity instead


@dataclass(frozen=True)
class ScalingPlan:
    resource: str
    dimension: str
    min: int
    max: int
    metric: str  # predefined metric of the target tracking policy ("" for async: a customized metric)
    policy: str
    from_zero: FromZero | None = None
    backlog_of: str | None = None  # async: the endpoint whose ApproximateBacklogSizePerInstance is tracked


def plan(s: Settings, min_instances: int | None = None) -> ScalingPlan | None:
    """What to register; None when there is nothing to scale. `min_instances`: the endpoint config's
    MinInstanceCount (inference components). A config made before ScaleToZero was set keeps its
    instances: then the copies stay at 1 at least, or idle instances would refuse every request."""
    prefix = s.resource_prefix
    to_zero = s.scale_to_zero and not min_instances
    if s.serving_mode == "async":  # MinCapacity 0: AWS scales async endpoints to zero instances
        least, most = (0 if s.scale_to_zero else s.instance_count), max(s.instance_count, s.max_instance_count)
        if most <= least:
            return None
        return ScalingPlan(variant_resource(s.endpoint_name), VARIANT_DIMENSION, least, most, "", f"{prefix}-backlog",
                           FromZero(from_zero_name(prefix), "", s.endpoint_name) if s.scale_to_zero else None,
                           backlog_of=s.endpoint_name)
    if s.serving_mode == "on-demand":  # ScaleToZero is ignored: only inference-component endpoints reach 0
        if s.max_instance_count <= s.instance_count:
            return None
        return ScalingPlan(variant_resource(s.endpoint_name), VARIANT_DIMENSION, s.instance_count, s.max_instance_count,
                           "SageMakerVariantInvocationsPerInstance", f"{prefix}-invocations")
    # One accelerator per copy (base_endpoint.base_component_spec): at most one copy per instance
    # on single-GPU types, so the endpoint's MaxInstanceCount bounds the copies.
    least, most = (0 if to_zero else 1), max(s.instance_count, s.max_instance_count)
    if most <= least:
        return None  # one copy, always: what CreateInferenceComponent set
    component = base_component(prefix)
    return ScalingPlan(component_resource(component), COPY_DIMENSION, least, most,
                       "SageMakerInferenceComponentInvocationsPerCopy", f"{prefix}-invocations",
                       FromZero(from_zero_name(prefix), component) if to_zero else None)


def target_tracking(p: ScalingPlan) -> dict:
    if p.backlog_of:  # AWS's recommended policy for async endpoints: the queue per instance
        return {"TargetValue": TARGET_BACKLOG_PER_INSTANCE, "ScaleInCooldown": 600,
                "ScaleOutCooldown": ASYNC_SCALE_OUT_COOLDOWN_S,
                "CustomizedMetricSpecification": {
                    "MetricName": "ApproximateBacklogSizePerInstance", "Namespace": "AWS/SageMaker",
                    "Dimensions": [{"Name": "EndpointName", "Value": p.backlog_of}], "Statistic": "Average"}}
    return {"TargetValue": TARGET_INVOCATIONS_PER_MINUTE, "ScaleInCooldown": 600, "ScaleOutCooldown": 120,
            "PredefinedMetricSpecification": {"PredefinedMetricType": p.metric}}


def step_out(z: FromZero | None = None) -> dict:
    """+1 copy (or, async, +1 instance) whenever the alarm fires (the step policy of AWS's examples)."""
    if z is not None and z.endpoint:
        return {"AdjustmentType": "ChangeInCapacity", "MetricAggregationType": "Average",
                "Cooldown": ASYNC_SCALE_OUT_COOLDOWN_S,
                "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]}
    return {"AdjustmentType": "ChangeInCapacity", "MetricAggregationType": "Maximum", "Cooldown": STEP_COOLDOWN_S,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]}


def alarm(z: FromZero, policy_arn: str, s: Settings) -> dict:
    """Fires on the first request refused for lack of a copy: of the base component, or (z.component an
    adapter component) of an adapter; either way the base component's step policy adds the copy.
    async: fires while requests wait in the queue of an endpoint with no instance."""
    if z.endpoint:
        return {"AlarmName": z.name,
                "AlarmDescription": f"Adds an instance to {z.endpoint} when requests wait and it has none",
                "Namespace": "AWS/SageMaker", "MetricName": "HasBacklogWithoutCapacity",
                "Dimensions": [{"Name": "EndpointName", "Value": z.endpoint}],
                "Statistic": "Average", "Period": ALARM_PERIOD_S, "EvaluationPeriods": ASYNC_EVALUATION_PERIODS,
                "DatapointsToAlarm": ASYNC_EVALUATION_PERIODS, "Threshold": 1.0,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "missing",
                "AlarmActions": [policy_arn], "Tags": project_tags(s.project_name, s.project_id)}
    return {"AlarmName": z.name,
            "AlarmDescription": f"Adds a copy of {base_component(s.resource_prefix)} when a request for "
                                f"{z.component} finds none",
            "Namespace": "AWS/SageMaker", "MetricName": "NoCapacityInvocationFailures",
            "Dimensions": [{"Name": "InferenceComponentName", "Value": z.component}],
            "Statistic": ALARM_STATISTIC, "Period": ALARM_PERIOD_S, "EvaluationPeriods": 1, "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "missing",
            "AlarmActions": [policy_arn], "Tags": project_tags(s.project_name, s.project_id)}


def ensure_scaling(autoscaling, cloudwatch, s: Settings, min_instances: int | None = None,
                   adapters: tuple[str, ...] = ()) -> ScalingResult | None:
    """Registers the plan's target, its target tracking policy and, with ScaleToZero, the step policy
    and its alarms: the base component's and one per adapter in `adapters` (those live). Turning
    ScaleToZero off later sets the minimum to 1: the alarms then never fire (no request lacks a copy)
    and stay until teardown."""
    p = plan(s, min_instances)
    if p is None:
        return None
    target = {"ServiceNamespace": NAMESPACE, "ResourceId": p.resource, "ScalableDimension": p.dimension}
    autoscaling.register_scalable_target(**target, MinCapacity=p.min, MaxCapacity=p.max)
    autoscaling.put_scaling_policy(PolicyName=p.policy, **target, PolicyType="TargetTrackingScaling",
                                   TargetTrackingScalingPolicyConfiguration=target_tracking(p))
    result = ScalingResult(resource=p.resource, min=p.min, max=p.max, policies=[p.policy])
    if p.from_zero:
        arn = autoscaling.put_scaling_policy(PolicyName=p.from_zero.name, **target, PolicyType="StepScaling",
                                             StepScalingPolicyConfiguration=step_out(p.from_zero))["PolicyARN"]
        cloudwatch.put_metric_alarm(**alarm(p.from_zero, arn, s))
        for adapter in adapters if not p.from_zero.endpoint else ():  # async: one queue for every adapter
            put_adapter_alarm(cloudwatch, s, adapter, arn)
        result.policies.append(p.from_zero.name)
        result.alarm = p.from_zero.name
    return result


# -- adapter components' alarms ------------------------------------------------------------------
def scales_to_zero(s: Settings) -> bool:
    return s.serving_mode == "inference-components" and s.scale_to_zero


def put_adapter_alarm(cloudwatch, s: Settings, adapter: str, policy_arn: str) -> str:
    component = adapter_component(s.endpoint_name, adapter)
    name = adapter_alarm_name(s.resource_prefix, component)
    cloudwatch.put_metric_alarm(**alarm(FromZero(name, component), policy_arn, s))
    return name


def from_zero_policy_arn(autoscaling, s: Settings) -> str | None:
    """The base component's step policy, if ReattachAdapters put one (ScaleToZero in effect)."""
    name = from_zero_name(s.resource_prefix)
    found = autoscaling.describe_scaling_policies(
        ServiceNamespace=NAMESPACE, ResourceId=component_resource(base_component(s.resource_prefix)),
        ScalableDimension=COPY_DIMENSION, PolicyNames=[name]).get("ScalingPolicies", [])
    # by name again: some implementations (moto, so the emulator) ignore the PolicyNames filter
    return next((p["PolicyARN"] for p in found if p.get("PolicyName") == name), None)


def watch_adapter(autoscaling, cloudwatch, s: Settings, adapter: str) -> str | None:
    """An adapter went live: its refused requests wake the base component too. The alarm's name, or None."""
    if not scales_to_zero(s):
        return None
    policy_arn = from_zero_policy_arn(autoscaling, s)
    return put_adapter_alarm(cloudwatch, s, adapter, policy_arn) if policy_arn else None


def unwatch_adapter(cloudwatch, s: Settings, adapter: str) -> None:
    """An adapter was retired: its alarm goes (in inference-components mode, whatever ScaleToZero says now)."""
    if s.serving_mode == "inference-components":
        delete_alarms(cloudwatch, [adapter_alarm_name(s.resource_prefix, adapter_component(s.endpoint_name, adapter))])


def alarm_names_with_prefix(cloudwatch, prefix: str, most: int = 1000) -> list[str]:
    """The metric alarms named `prefix`..., at most `most` (a bounded scan)."""
    pages = cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"], PaginationConfig={"MaxItems": most, "PageSize": 100})
    return [a["AlarmName"] for page in pages for a in page.get("MetricAlarms", [])]


def delete_alarms(cloudwatch, names: list[str]) -> list[str]:
    """Deletes those of `names` that exist (DeleteAlarms fails on a missing one); the names deleted."""
    gone = []
    for i in range(0, len(names), 100):  # DescribeAlarms takes 100 names at most
        found = [a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNames=names[i:i + 100], MaxRecords=100)[
            "MetricAlarms"]]
        if found:
            cloudwatch.delete_alarms(AlarmNames=found)
            gone += found
    return gone


# -- waking the base component ---------------------------------------------------------------------
def copies(component: dict) -> tuple[int, int]:
    """(desired, current) copies; a description without RuntimeConfig counts as one copy."""
    runtime = component.get("RuntimeConfig") or {}
    return runtime.get("DesiredCopyCount", 1), runtime.get("CurrentCopyCount", 1)


def needs_wake(component: dict | None) -> bool:
    """Scaled to zero and nothing asked for a copy yet. While SageMaker is changing it (not InService)
    or a copy is on its way (desired >= 1), asking again would be refused or do nothing."""
    return bool(component) and component.get("InferenceComponentStatus") == "InService" and copies(component)[0] == 0


def has_capacity(component: dict | None) -> bool:
    """A copy serves: what a smoke test needs."""
    return bool(component) and component.get("InferenceComponentStatus") == "InService" and copies(component)[1] >= 1


def ensure_capacity(sm, s: Settings) -> bool:
    """True when the base component has a copy that serves. Scaled to zero: asks for one copy (auto
    scaling may remove it again after a quiet period) and answers False; call again until True.
    Without ScaleToZero nothing is read: the copies never go below 1. async: the same with the
    variant's instances."""
    if scales_variant_to_zero(s):
        return ensure_instance(sm, s)
    if not scales_to_zero(s):
        return True
    name = base_component(s.resource_prefix)
    component = describe(sm.describe_inference_component, InferenceComponentName=name)
    if needs_wake(component):
        try:
            sm.update_inference_component_runtime_config(InferenceComponentName=name,
                                                         DesiredRuntimeConfig={"CopyCount": 1})
            logger.info("%s had no copy: asked for one", name)
        except ClientError as e:  # e.g. auto scaling changed it meanwhile: the next check asks again
            if e.response.get("Error", {}).get("Code") not in VALIDATION_CODES:
                raise
            logger.warning("could not wake %s yet: %s", name, e)
    return has_capacity(component)


# -- waking an async endpoint (its variant at 0 instances) ------------------------------------------
def scales_variant_to_zero(s: Settings) -> bool:
    return s.serving_mode == "async" and s.scale_to_zero


def instances(endpoint: dict) -> tuple[int, int]:
    """(desired, current) instances of the variant; a description without them counts as one."""
    variant = next(iter(endpoint.get("ProductionVariants") or []), {})
    return variant.get("DesiredInstanceCount", 1), variant.get("CurrentInstanceCount", 1)


def variant_needs_wake(endpoint: dict | None) -> bool:
    """In service, scaled to zero, and nothing asked for an instance yet."""
    return bool(endpoint) and endpoint.get("EndpointStatus") == "InService" and instances(endpoint)[0] == 0


def variant_has_capacity(endpoint: dict | None) -> bool:
    """An instance serves: what a smoke test needs (it would otherwise wait in the queue for minutes)."""
    return bool(endpoint) and endpoint.get("EndpointStatus") == "InService" and instances(endpoint)[1] >= 1


def ensure_instance(sm, s: Settings) -> bool:
    """ensure_capacity for async: asks for one instance when the variant has none (auto scaling
    removes it again once the queue stays empty) and answers whether one serves."""
    endpoint = describe(sm.describe_endpoint, EndpointName=s.endpoint_name)
    if variant_needs_wake(endpoint):
        try:
            sm.update_endpoint_weights_and_capacities(
                EndpointName=s.endpoint_name, DesiredWeightsAndCapacities=[{"VariantName": VARIANT,
                                                                           "DesiredInstanceCount": 1}])
            logger.info("%s had no instance: asked for one", s.endpoint_name)
        except ClientError as e:  # e.g. auto scaling is changing it: the next check asks again
            if e.response.get("Error", {}).get("Code") not in VALIDATION_CODES:
                raise
            logger.warning("could not wake %s yet: %s", s.endpoint_name, e)
    return variant_has_capacity(endpoint)
