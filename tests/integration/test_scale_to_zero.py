"""The emulator's scale-to-zero rules for inference-component endpoints (docs/emulator.md cites each):
ManagedInstanceScaling only on endpoints without a model, no component created with 0 copies,
UpdateInferenceComponentRuntimeConfig down to 0, and InvokeEndpoint refused while there are no copies
(for an adapter component too: it has its base's copies). No serving process is started: the
components that "serve" are placed in the shim's state with a container that listens nowhere."""
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from loraplane.emulator.local_aws import ACCOUNT, REGION
from loraplane.emulator.shims.sagemaker_hosting import state

ROLE = f"arn:aws:iam::{ACCOUNT}:role/sm"
SCALING = {"Status": "ENABLED", "MinInstanceCount": 0, "MaxInstanceCount": 1}


def error_of(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def serving(endpoint: str, name: str, spec: dict, copies: int | None) -> state.Component:
    """A component in service, as the hosting workers leave one, without a real container."""
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:inference-component/{name}"
    component = state.Component(name, arn, ACCOUNT, REGION, endpoint, f"arn:endpoint/{endpoint}", "AllTraffic", spec,
                                None if copies is None else {"CopyCount": copies}, [], status="InService",
                                container=SimpleNamespace(url="http://127.0.0.1:9", log_path="none"))
    with state._lock:
        state._components[(ACCOUNT, REGION, name)] = component
    return component


def test_scale_to_zero_rules(emulator):
    sm, smr = emulator.client("sagemaker"), emulator.client("sagemaker-runtime")
    sm.create_model(ModelName="s2z-model", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "img"})
    variant = {"VariantName": "AllTraffic", "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 1}
    assert error_of(lambda: sm.create_endpoint_config(
        EndpointConfigName="s2z-model-config", ProductionVariants=[{**variant, "ModelName": "s2z-model",
                                                                    "ManagedInstanceScaling": SCALING}])) == \
        ("ValidationException", "ManagedInstanceScaling is only supported for inference component endpoints.")
    sm.create_endpoint_config(EndpointConfigName="s2z-config", ExecutionRoleArn=ROLE,
                              ProductionVariants=[{**variant, "ManagedInstanceScaling": SCALING}])
    sm.create_endpoint(EndpointName="s2z", EndpointConfigName="s2z-config")
    spec = {"ModelName": "s2z-model", "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 1024}}
    code, message = error_of(lambda: sm.create_inference_component(
        InferenceComponentName="s2z-cold", EndpointName="s2z", Specification=spec, RuntimeConfig={"CopyCount": 0}))
    assert code == "ValidationException" and "larger than 0" in message

    serving("s2z", "s2z-base", spec, copies=1)
    serving("s2z", "s2z-adapter", {"BaseInferenceComponentName": "s2z-base",
                                   "Container": {"ArtifactUrl": "s3://b/a.tar.gz"}}, copies=None)
    try:
        def invoke(component):
            return smr.invoke_endpoint(EndpointName="s2z", InferenceComponentName=component, Body=b"{}",
                                       ContentType="application/json")

        # one copy: routed to the (absent) container, so the container's failure comes back
        assert error_of(lambda: invoke("s2z-adapter"))[0] == "ModelError"
        sm.update_inference_component_runtime_config(InferenceComponentName="s2z-base",
                                                     DesiredRuntimeConfig={"CopyCount": 0})
        described = sm.describe_inference_component(InferenceComponentName="s2z-base")
        assert described["RuntimeConfig"] == {"DesiredCopyCount": 0, "CurrentCopyCount": 0}
        assert described["InferenceComponentStatus"] == "InService"
        for component in ("s2z-base", "s2z-adapter"):
            code, message = error_of(lambda: invoke(component))
            assert code == "ValidationError" and "no capacity" in message, message
        code, message = error_of(lambda: sm.update_inference_component_runtime_config(
            InferenceComponentName="s2z-adapter", DesiredRuntimeConfig={"CopyCount": 1}))
        assert code == "ValidationException" and "adapter inference component" in message
    finally:
        with state._lock:
            for name in ("s2z-base", "s2z-adapter"):
                state._components.pop((ACCOUNT, REGION, name), None)
        sm.delete_endpoint(EndpointName="s2z")
