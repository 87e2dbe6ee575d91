"""Auto scaling of the endpoint: `plan` decides it from the settings (pure), `ensure_scaling` applies it.

on-demand: instance auto scaling of the variant, target tracking on invocations per instance.
inference-components: copy-count auto scaling of the base component, target tracking on invocations
per copy; the endpoint config's managed instance scaling adds and removes instances to fit the copies.
With ScaleToZero the base component may go down to 0 copies (and the endpoint to 0 instances) when
idle; nothing can then serve the request that should wake it, so a step scaling policy, run by a
CloudWatch alarm on NoCapacityInvocationFailures, adds the first copy back
(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html).
Every call upserts: applying the same plan again changes nothing.
"""
from dataclasses import dataclass

from loraplane_core.deployment.payloads import ScalingResult
from loraplane_core.endpoint_names import base_component, project_tags
from loraplane_core.settings import Settings

VARIANT = "AllTraffic"
NAMESPACE = "sagemaker"
VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
COPY_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
TARGET_INVOCATIONS_PER_MINUTE = 60.0  # per instance (on-demand) or per copy (inference components)
# Scale out from zero: how often the alarm looks, and how long one added copy is given to arrive.
ALARM_PERIOD_S, STEP_COOLDOWN_S = 30, 60


def variant_resource(endpoint: str) -> str:
    return f"endpoint/{endpoint}/variant/{VARIANT}"


def component_resource(component: str) -> str:
    return f"inference-component/{component}"


def from_zero_name(prefix: str) -> str:
    """The step policy and its alarm (one exact name: IAM grants only it, never the stack's own alarms)."""
    return f"{prefix}-scale-from-zero"


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
    """+1 copy whenever the alarm fires; Maximum, as the alarm's statistic."""
    return {"AdjustmentType": "ChangeInCapacity", "MetricAggregationType": "Maximum", "Cooldown": STEP_COOLDOWN_S,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]}


def alarm(z: FromZero, policy_arn: str, s: Settings) -> dict:
    """Fires on the first request refused for lack of a copy."""
    return {"AlarmName": z.name, "AlarmDescription": f"Adds a copy of {z.component} when a request finds none",
            "Namespace": "AWS/SageMaker", "MetricName": "NoCapacityInvocationFailures",
            "Dimensions": [{"Name": "InferenceComponentName", "Value": z.component}],
            "Statistic": "Maximum", "Period": ALARM_PERIOD_S, "EvaluationPeriods": 1, "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "missing",
            "AlarmActions": [policy_arn], "Tags": project_tags(s.project_name, s.project_id)}


def ensure_scaling(autoscaling, cloudwatch, s: Settings, min_instances: int | None = None) -> ScalingResult | None:
    """Registers the plan's target, its target tracking policy and, with ScaleToZero, the step policy
    and its alarm. Turning ScaleToZero off later sets the minimum to 1: the alarm then never fires
    (no request lacks a copy) and stays until teardown."""
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
        result.policies.append(p.from_zero.name)
        result.alarm = p.from_zero.name
    return result
