"""Auto scaling of the endpoint: `plan` decides it from the settings (pure), `ensure_scaling` applies it.

on-demand: instance auto scaling of the variant, target tracking on invocations per instance.
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


@dataclass(frozen=True)
class ScalingPlan:
    resource: str
    dimension: str
    min: int
    max: int
    metric: str  # predefined metric of the target tracking policy
    policy: str
    from_zero: FromZero | None = None


def plan(s: Settings, min_instances: int | None = None) -> ScalingPlan | None:
    """What to register; None when there is nothing to scale. `min_instances`: the endpoint config's
    MinInstanceCount (inference components). A config made before ScaleToZero was set keeps its
    instances: then the copies stay at 1 at least, or idle instances would refuse every request."""
    prefix = s.resource_prefix
    to_zero = s.scale_to_zero and not min_instances
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
    return {"TargetValue": TARGET_INVOCATIONS_PER_MINUTE, "ScaleInCooldown": 600, "ScaleOutCooldown": 120,
            "PredefinedMetricSpecification": {"PredefinedMetricType": p.metric}}


def step_out() -> dict:
    """+1 copy whenever the alarm fires (the step policy of AWS's example)."""
    return {"AdjustmentType": "ChangeInCapacity", "MetricAggregationType": "Maximum", "Cooldown": STEP_COOLDOWN_S,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]}


def alarm(z: FromZero, policy_arn: str, s: Settings) -> dict:
    """Fires on the first request refused for lack of a copy: of the base component, or (z.component an
    adapter component) of an adapter; either way the base component's step policy adds the copy."""
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
                                             StepScalingPolicyConfiguration=step_out())["PolicyARN"]
        cloudwatch.put_metric_alarm(**alarm(p.from_zero, arn, s))
        for adapter in adapters:
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
    Without ScaleToZero nothing is read: the copies never go below 1."""
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
