"""Base model packages -> the endpoint: create it, or update it without downtime.

on-demand: Model + EndpointConfig (model on the variant) -> CreateEndpoint, or UpdateEndpoint with
a blue/green policy and the stack's CloudWatch alarms for automatic rollback. async: the same, with
an endpoint config of its own name that carries the AsyncInferenceConfig (async_inference.py).
inference-components: the endpoint config has no model (managed instance scaling); the base model
is the base inference component, updated with a rolling policy and the same alarms. Auto scaling
(instances on-demand, the base component's copies otherwise, scale to zero) is in scaling.py.
A failed update leaves the old version serving: SageMaker rolls back, and check() reports it.
"""
import time

from loraplane_core import async_inference
from loraplane_core.adapters import rate_limits
from loraplane_core.adapters.live_manifest import LIVE_PREFIX, MANIFEST_KEY
from loraplane_core.deployment import scaling
from loraplane_core.deployment.payloads import BaseDeployment, BaseTarget
from loraplane_core.endpoint_names import (
    async_config,
    base_component,
    base_model_name,
    components_config,
    project_tags,
)
from loraplane_core.errors import DeploymentFailed, DeploymentTimedOut
from loraplane_core.sagemaker_gateway import describe
from loraplane_core.settings import Settings

VARIANT = "AllTraffic"


def container_environment(s, base_model: str) -> dict[str, str]:
    env = {"LORAPLANE_BASE_NAME": base_model, "LORAPLANE_MAX_LORA_RANK": str(s.max_lora_rank),
           "LORAPLANE_MAX_ADAPTER_BYTES": str(s.max_adapter_bytes),
           "LORAPLANE_ADAPTER_RPS": rate_limits.rps_text(s.adapter_rps), "LORAPLANE_ADAPTER_TPM": str(s.adapter_tpm),
           "LORAPLANE_ENDPOINT_NAME": s.endpoint_name}  # the EndpointName dimension of the container's metrics
    if s.model_on_variant:
        env |= {"LORAPLANE_ADAPTER_SOURCE": f"s3://{s.adapter_bucket}/{LIVE_PREFIX}",
                "LORAPLANE_ADAPTER_MANIFEST": f"s3://{s.adapter_bucket}/{MANIFEST_KEY}"}
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


def ensure_endpoint_config(sm, s, model_name: str | None, version: int | None = None) -> str:
    """With a model (on-demand, async: `version` names the async config), or without one (inference
    components: the model comes later)."""
    name = model_name or components_config(s.resource_prefix)
    variant = {"VariantName": VARIANT, "InstanceType": s.instance_type, "InitialInstanceCount": s.instance_count}
    extra = {}
    if model_name:
        variant |= {"ModelName": model_name, "InitialVariantWeight": 1.0}
        if s.serving_mode == "async":
            name = async_config(s.resource_prefix, version)
            extra = {"AsyncInferenceConfig": async_inference.config(
                s.adapter_bucket, s.async_success_topic_arn, s.async_error_topic_arn)}
    else:
        # MinInstanceCount 0 lets SageMaker release every instance once the base component has no copy
        # (ScaleToZero). An endpoint config cannot change: only an endpoint created after it was set gets it.
        least = 0 if s.scale_to_zero else s.instance_count
        variant |= {"ManagedInstanceScaling": {"Status": "ENABLED", "MinInstanceCount": least,
                                               "MaxInstanceCount": max(s.instance_count, s.max_instance_count)},
                    "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}}
        extra = {"ExecutionRoleArn": s.execution_role_arn}
    if describe(sm.describe_endpoint_config, EndpointConfigName=name) is None:
        sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant], **extra)
    return name


def managed_min_instances(sm, s: Settings) -> int | None:
    """MinInstanceCount of the inference-component endpoint's config; None without one."""
    config = describe(sm.describe_endpoint_config, EndpointConfigName=components_config(s.resource_prefix))
    if config is None:
        return None
    return config["ProductionVariants"][0].get("ManagedInstanceScaling", {}).get("MinInstanceCount")


def describe_endpoint(sm, name: str) -> dict | None:
    return describe(sm.describe_endpoint, EndpointName=name)


def sagemaker_timeout(s) -> int:
    """SageMaker's own limit for an update, well inside our deadline, so that when we give up it
    has already rolled back (600 is the API's minimum)."""
    return max(600, s.deployment_timeout_seconds - 600)


def rollback_alarms(s) -> dict:
    return {"AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in s.rollback_alarms]}} if s.rollback_alarms else {}


def start(sm, s: Settings, t: BaseTarget) -> BaseDeployment:
    """Begin creating or updating; what check() follows."""
    model = ensure_model(sm, s, t)
    endpoint = delete_failed_endpoint(sm, s, describe_endpoint(sm, s.endpoint_name))
    dep = BaseDeployment(kind="unchanged", target=t, model_name=model,
                         deadline=int(time.time() + s.deployment_timeout_seconds))
    if s.model_on_variant:
        config = ensure_endpoint_config(sm, s, model, t.version)
        dep = dep.model_copy(update={"config_name": config})
        if endpoint is None:
            sm.create_endpoint(EndpointName=s.endpoint_name, EndpointConfigName=config)
            return dep.model_copy(update={"kind": "create"})
        if endpoint["EndpointConfigName"] == config:
            return dep.model_copy(update={"done": True})
        sm.update_endpoint(EndpointName=s.endpoint_name, EndpointConfigName=config, DeploymentConfig={
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
                "TerminationWaitInSeconds": 120, "MaximumExecutionTimeoutInSeconds": sagemaker_timeout(s)},
            **rollback_alarms(s)})
        return dep.model_copy(update={"kind": "update"})
    if endpoint is None:  # the base component follows once the endpoint is in service (CreateBaseComponent)
        sm.create_endpoint(EndpointName=s.endpoint_name, EndpointConfigName=ensure_endpoint_config(sm, s, None))
        return dep.model_copy(update={"kind": "create"})
    kind = put_base_component(sm, s, model)
    return dep.model_copy(update={"kind": kind, "done": kind == "unchanged"})


def delete_failed_endpoint(sm, s: Settings, endpoint: dict | None, wait_seconds: int = 240) -> dict | None:
    """A endpoint whose creation failed cannot be updated: delete it, so it is created afresh."""
    if endpoint is None or endpoint["EndpointStatus"] != "Failed":
        return endpoint
    sm.delete_endpoint(EndpointName=s.endpoint_name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=s.endpoint_name,
                                          WaiterConfig={"Delay": 5, "MaxAttempts": wait_seconds // 5})
    return None


def base_component_spec(model: str) -> dict:
    return {"ModelName": model, "ComputeResourceRequirements": {
        "NumberOfAcceleratorDevicesRequired": 1, "MinMemoryRequiredInMb": 1024}}


def put_base_component(sm, s: Settings, model: str) -> str:
    """Creates the base inference component, or rolls it to `model`: create | update | unchanged."""
    name = base_component(s.resource_prefix)
    current = describe(sm.describe_inference_component, InferenceComponentName=name)
    if current is None:
        sm.create_inference_component(InferenceComponentName=name, EndpointName=s.endpoint_name, VariantName=VARIANT,
                                      Specification=base_component_spec(model), RuntimeConfig={"CopyCount": 1},
                                      Tags=project_tags(s.project_name, s.project_id))
        return "create"
    if current["Specification"].get("ModelName") == model and current["InferenceComponentStatus"] == "InService":
        return "unchanged"
    sm.update_inference_component(InferenceComponentName=name, Specification=base_component_spec(model),
                                  DeploymentConfig={"RollingUpdatePolicy": {
                                      "MaximumBatchSize": {"Type": "COPY_COUNT", "Value": 1},
                                      "WaitIntervalInSeconds": 60, "MaximumExecutionTimeoutInSeconds": sagemaker_timeout(s)},
                                      **rollback_alarms(s)})
    return "update"


def create_component(sm, s: Settings, dep: BaseDeployment) -> BaseDeployment:
    """The endpoint is in service without its base component (a new endpoint): add the base model."""
    put_base_component(sm, s, dep.model_name)
    return dep.model_copy(update={"done": False, "component_missing": False, "status": "Creating"})


def check(sm, s: Settings, dep: BaseDeployment) -> BaseDeployment:
    """Reads only: `done` once the change finished, `component_missing` when the base component must
    be created next; raises DeploymentFailed if it failed or was rolled back."""
    if time.time() > dep.deadline:
        raise DeploymentTimedOut(f"{s.endpoint_name}: base model {dep.model_name} not in service in time")
    endpoint = describe_endpoint(sm, s.endpoint_name)
    if endpoint is None:
        raise DeploymentFailed(f"endpoint {s.endpoint_name} does not exist")
    status = endpoint["EndpointStatus"]
    if status == "Failed":
        raise DeploymentFailed(f"endpoint {s.endpoint_name} failed: {endpoint.get('FailureReason')}")
    if status != "InService":
        return dep.model_copy(update={"done": False, "status": status})
    if s.model_on_variant:
        if endpoint["EndpointConfigName"] != dep.config_name:
            raise DeploymentFailed(f"update to {dep.config_name} rolled back: {endpoint.get('FailureReason')}")
        if scaling.scales_variant_to_zero(s) and not dep.restored and not scaling.variant_has_capacity(endpoint):
            return dep.model_copy(update={"done": False, "status": scaling.NO_CAPACITY})  # CheckBase wakes it
        return dep.model_copy(update={"done": True, "status": status})
    name = base_component(s.resource_prefix)
    ic = describe(sm.describe_inference_component, InferenceComponentName=name)
    if ic is None:
        return dep.model_copy(update={"done": False, "component_missing": True, "status": "ComponentMissing"})
    ic_status = ic["InferenceComponentStatus"]
    if ic_status == "Failed":
        raise DeploymentFailed(f"base model component {name} failed: {ic.get('FailureReason')}")
    if ic_status != "InService":
        return dep.model_copy(update={"done": False, "status": ic_status})
    if ic["Specification"].get("ModelName") != dep.model_name:
        raise DeploymentFailed(f"update of {name} to {dep.model_name} rolled back: {ic.get('FailureReason')}")
    if s.scale_to_zero and not dep.restored and not scaling.has_capacity(ic):
        # At 0 copies: the smoke test next would find none (CheckBase wakes it). A rollback is not smoke-tested.
        return dep.model_copy(update={"done": False, "status": scaling.NO_CAPACITY})
    return dep.model_copy(update={"done": True, "status": ic_status})
