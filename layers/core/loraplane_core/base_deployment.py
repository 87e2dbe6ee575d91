"""Base model packages -> the endpoint: create it, or update it without downtime.

on-demand: Model + EndpointConfig (model on the variant) -> CreateEndpoint, or UpdateEndpoint with
a blue/green policy and the stack's CloudWatch alarms for automatic rollback.
inference-components: the endpoint config has no model (managed instance scaling); the base model
is the base inference component, updated with a rolling policy and the same alarms.
A failed update leaves the old version serving: SageMaker rolls back, and check() reports it.
"""
import time
from dataclasses import asdict, dataclass

from . import approved_bases
from .endpoint_names import base_component, base_model_name, components_config
from .errors import DeploymentFailed, DeploymentTimedOut
from .package_events import PackageChange
from .sagemaker_gateway import describe

VARIANT = "AllTraffic"


@dataclass
class BaseTarget:
    package_arn: str
    version: int
    base_model: str
    model_uri: str

    @classmethod
    def of(cls, change: PackageChange) -> "BaseTarget":
        return cls(change.package_arn, change.version, change.name, change.artifact_uri or "")


def target_for(sm, table, s, change: PackageChange, deployed: "BaseTarget | None") -> "BaseTarget | None":
    """Approved: exactly the event's package. Rejected: if it is the one serving, the most recently
    approved other base package takes its place; otherwise nothing changes."""
    from . import deployments, transitions

    if deployments.is_stale(table, change):
        return None  # a newer decision on this package came after: its own execution acts on it
    if change.action == "approved":
        deployed_approval = (transitions.last_status(table, deployed.package_arn) or {}) if deployed else {}
        if deployed and deployed.package_arn != change.package_arn and \
                deployed_approval.get("status") == "Approved" and deployed_approval.get("modified", "") > change.modified:
            return None  # the base model serving now was approved later: the later decision stands
        return BaseTarget.of(change)
    if deployed is None or deployed.package_arn != change.package_arn:
        return None
    described = approved_bases.latest_approved_base(sm, table, change.group, excluding=change.package_arn)
    return target_of_package(described) if described else None  # none: keep serving, notify


def target_of_package(d: dict) -> "BaseTarget":
    from .package_events import artifact_of

    return BaseTarget(d["ModelPackageArn"], d["ModelPackageVersion"], d.get("CustomerMetadataProperties", {}).get(
        "base_model", f"version-{d['ModelPackageVersion']}"), artifact_of(d["InferenceSpecification"]) or "")


def container_environment(s, base_model: str) -> dict[str, str]:
    env = {"LORAPLANE_BASE_NAME": base_model, "LORAPLANE_MAX_LORA_RANK": str(s.max_lora_rank),
           "LORAPLANE_MAX_ADAPTER_BYTES": str(s.max_adapter_bytes)}
    if s.serving_mode == "on-demand":
        env |= {"LORAPLANE_ADAPTER_SOURCE": f"s3://{s.adapter_bucket}/live/",
                "LORAPLANE_ADAPTER_MANIFEST": f"s3://{s.adapter_bucket}/live/manifest.json"}
    return env


def ensure_model(sm, s, t: BaseTarget) -> str:
    name = base_model_name(s.resource_prefix, t.version)
    if describe(sm.describe_model, ModelName=name) is None:
        sm.create_model(
            ModelName=name, ExecutionRoleArn=s.execution_role_arn,
            PrimaryContainer={
                "Image": s.serving_image_uri, "Environment": container_environment(s, t.base_model),
                "ModelDataSource": {"S3DataSource": {"S3Uri": t.model_uri, "S3DataType": "S3Prefix",
                                                     "CompressionType": "None"}},
            },
            Tags=[{"Key": "loraplane:base-model-package", "Value": t.package_arn}],
        )
    return name


def ensure_endpoint_config(sm, s, model_name: str | None) -> str:
    """With a model (on-demand), or without one (inference components: the model comes later)."""
    name = model_name or components_config(s.resource_prefix)
    variant = {"VariantName": VARIANT, "InstanceType": s.instance_type, "InitialInstanceCount": s.instance_count}
    extra = {}
    if model_name:
        variant |= {"ModelName": model_name, "InitialVariantWeight": 1.0}
    else:
        variant |= {"ManagedInstanceScaling": {"Status": "ENABLED", "MinInstanceCount": s.instance_count,
                                               "MaxInstanceCount": max(s.instance_count, s.max_instance_count)},
                    "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}}
        extra = {"ExecutionRoleArn": s.execution_role_arn}
    if describe(sm.describe_endpoint_config, EndpointConfigName=name) is None:
        sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant], **extra)
    return name


def describe_endpoint(sm, name: str) -> dict | None:
    return describe(sm.describe_endpoint, EndpointName=name)


def sagemaker_timeout(s) -> int:
    """SageMaker's own limit for an update, well inside our deadline, so that when we give up it
    has already rolled back (600 is the API's minimum)."""
    return max(600, s.deployment_timeout_seconds - 600)


def rollback_alarms(s) -> dict:
    return {"AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in s.rollback_alarms]}} if s.rollback_alarms else {}


def start(sm, s, t: BaseTarget) -> dict:
    """Begin creating or updating; returns what check() needs."""
    return {**_start(sm, s, t), "target": asdict(t)}


def delete_failed_endpoint(sm, s, endpoint: dict | None, wait_seconds: int = 240) -> dict | None:
    """A endpoint whose creation failed cannot be updated: delete it, so it is created afresh."""
    if endpoint is None or endpoint["EndpointStatus"] != "Failed":
        return endpoint
    sm.delete_endpoint(EndpointName=s.endpoint_name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=s.endpoint_name,
                                          WaiterConfig={"Delay": 5, "MaxAttempts": wait_seconds // 5})
    return None


def _start(sm, s, t: BaseTarget) -> dict:
    model = ensure_model(sm, s, t)
    endpoint = delete_failed_endpoint(sm, s, describe_endpoint(sm, s.endpoint_name))
    deadline = int(time.time() + s.deployment_timeout_seconds)
    if s.serving_mode == "on-demand":
        config = ensure_endpoint_config(sm, s, model)
        if endpoint is None:
            sm.create_endpoint(EndpointName=s.endpoint_name, EndpointConfigName=config)
            return {"kind": "create", "model_name": model, "config_name": config, "deadline": deadline}
        if endpoint["EndpointConfigName"] == config:
            return {"kind": "unchanged", "model_name": model, "config_name": config, "deadline": deadline}
        sm.update_endpoint(EndpointName=s.endpoint_name, EndpointConfigName=config, DeploymentConfig={
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
                "TerminationWaitInSeconds": 120, "MaximumExecutionTimeoutInSeconds": sagemaker_timeout(s)},
            **rollback_alarms(s)})
        return {"kind": "update", "model_name": model, "config_name": config, "deadline": deadline}
    if endpoint is None:
        sm.create_endpoint(EndpointName=s.endpoint_name, EndpointConfigName=ensure_endpoint_config(sm, s, None))
        return {"kind": "create", "model_name": model, "config_name": None, "deadline": deadline}
    return {**update_base_component(sm, s, model), "deadline": deadline}


def base_component_spec(model: str) -> dict:
    return {"ModelName": model, "ComputeResourceRequirements": {
        "NumberOfAcceleratorDevicesRequired": 1, "MinMemoryRequiredInMb": 1024}}


def update_base_component(sm, s, model: str) -> dict:
    name = base_component(s.resource_prefix)
    current = describe(sm.describe_inference_component, InferenceComponentName=name)
    if current is None:
        sm.create_inference_component(InferenceComponentName=name, EndpointName=s.endpoint_name, VariantName=VARIANT,
                                      Specification=base_component_spec(model), RuntimeConfig={"CopyCount": 1})
        return {"kind": "create", "model_name": model, "config_name": None}
    if current["Specification"].get("ModelName") == model and current["InferenceComponentStatus"] == "InService":
        return {"kind": "unchanged", "model_name": model, "config_name": None}
    sm.update_inference_component(InferenceComponentName=name, Specification=base_component_spec(model),
                                  DeploymentConfig={"RollingUpdatePolicy": {
                                      "MaximumBatchSize": {"Type": "COPY_COUNT", "Value": 1},
                                      "WaitIntervalInSeconds": 60, "MaximumExecutionTimeoutInSeconds": sagemaker_timeout(s)},
                                      **rollback_alarms(s)})
    return {"kind": "update", "model_name": model, "config_name": None}


def check(sm, s, dep: dict) -> dict:
    """{"done": bool} once the change finished; raises DeploymentFailed if it failed or was rolled back."""
    if time.time() > dep["deadline"]:
        raise DeploymentTimedOut(f"{s.endpoint_name}: base model {dep['model_name']} not in service in time")
    endpoint = describe_endpoint(sm, s.endpoint_name)
    if endpoint is None:
        raise DeploymentFailed(f"endpoint {s.endpoint_name} does not exist")
    status = endpoint["EndpointStatus"]
    if status == "Failed":
        raise DeploymentFailed(f"endpoint {s.endpoint_name} failed: {endpoint.get('FailureReason')}")
    if status != "InService":
        return {**dep, "done": False, "status": status}
    if s.serving_mode == "on-demand":
        if endpoint["EndpointConfigName"] != dep["config_name"]:
            raise DeploymentFailed(f"update to {dep['config_name']} rolled back: {endpoint.get('FailureReason')}")
        return {**dep, "done": True, "status": status}
    name = base_component(s.resource_prefix)
    ic = describe(sm.describe_inference_component, InferenceComponentName=name)
    if ic is None:
        update_base_component(sm, s, dep["model_name"])  # a new endpoint is in service: add the base model
        return {**dep, "done": False, "status": "Creating"}
    ic_status = ic["InferenceComponentStatus"]
    if ic_status == "Failed":
        raise DeploymentFailed(f"base model component {name} failed: {ic.get('FailureReason')}")
    if ic_status != "InService":
        return {**dep, "done": False, "status": ic_status}
    if ic["Specification"].get("ModelName") != dep["model_name"]:
        raise DeploymentFailed(f"update of {name} to {dep['model_name']} rolled back: {ic.get('FailureReason')}")
    return {**dep, "done": True, "status": ic_status}


def ensure_scaling(autoscaling, s) -> dict | None:
    """on-demand mode: instance auto scaling of the variant (inference-components mode scales with
    the endpoint config's managed instance scaling instead). Idempotent: both calls upsert."""
    if s.serving_mode != "on-demand" or s.max_instance_count <= s.instance_count:
        return None
    resource = f"endpoint/{s.endpoint_name}/variant/{VARIANT}"
    dimension = "sagemaker:variant:DesiredInstanceCount"
    autoscaling.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=dimension,
                                         MinCapacity=s.instance_count, MaxCapacity=s.max_instance_count)
    autoscaling.put_scaling_policy(
        PolicyName=f"{s.resource_prefix}-invocations", ServiceNamespace="sagemaker", ResourceId=resource,
        ScalableDimension=dimension, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 60.0, "ScaleInCooldown": 600, "ScaleOutCooldown": 120,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})
    return {"resource": resource, "min": s.instance_count, "max": s.max_instance_count}
