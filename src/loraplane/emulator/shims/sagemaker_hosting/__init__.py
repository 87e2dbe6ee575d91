"""SageMaker hosting on local processes: endpoints and inference components that really serve.

moto stores endpoints but runs nothing, and has neither UpdateEndpoint nor inference components.
This shim runs a local container (`loraplane.emulator.hosting`) for every model-variant endpoint
and every base inference component, registers adapter inference components with their base's
container (POST /adapters, the container contract), and does the blue/green (endpoint) and
rolling (base component) updates with AWS's automatic rollback on CloudWatch alarms. Everything
slow happens in background threads; the API calls return at once, as AWS's do.

Status semantics (as AWS): Creating -> InService | Failed; Updating -> InService (FailureReason set
when the update was rolled back; the old config/model keeps serving); Deleting -> gone.
"""
from ... import hosting
from .. import aws_validation
from .endpoints import _create_endpoint_worker, _served_variants, update_endpoint
from .inference_components import (create_inference_component, delete_inference_component,
                                   describe_inference_component, list_inference_components,
                                   update_inference_component, update_inference_component_runtime_config)
from .routing import NotRoutable, async_inference_config, container_for, route
from .state import EndpointState, _components, _endpoints, _lock, _refuse, _spawn, _validated

# route, async_inference_config and NotRoutable: the sagemaker_runtime shim; container_for: code and tests.
__all__ = ["NotRoutable", "async_inference_config", "container_for", "install", "route"]


def install(endpoint_url: str) -> None:
    from moto.sagemaker import models
    from moto.sagemaker.responses import SageMakerResponse

    hosting.manager().configure(endpoint_url)
    backend_cls = models.SageMakerModelBackend
    original_create, original_delete = backend_cls.create_endpoint, backend_cls.delete_endpoint
    original_validate = backend_cls.validate_production_variants
    original_create_config = SageMakerResponse.create_endpoint_config

    def validate_production_variants(self, production_variants):
        # Inference-component endpoints name no model in their variants (moto KeyErrors on them).
        return original_validate(self, [v for v in production_variants if v.get("ModelName")])

    def validate_instance_type(self, instance_type):
        # moto's list predates g5/g6/p5; botocore's enum is AWS's current list.
        allowed = aws_validation.service_model("sagemaker").shape_for("ProductionVariantInstanceType").enum
        if instance_type not in allowed:
            raise _refuse(f"Value '{instance_type}' at 'instanceType' failed to satisfy constraint: Member must "
                          f"satisfy enum value set: [{', '.join(allowed)}]")

    def create_endpoint_config(self):
        params = _validated(self, "CreateEndpointConfig")
        role = params.get("ExecutionRoleArn")
        if any(not v.get("ModelName") for v in params["ProductionVariants"]) and not role:
            raise _refuse("ExecutionRoleArn must be provided when a production variant does not specify a ModelName "
                          "(an endpoint for inference components).")
        if any(v.get("ModelName") and v.get("ManagedInstanceScaling") for v in params["ProductionVariants"]):
            # what AWS answers (terraform-provider-aws PR #45926); scale-to-zero needs inference components
            raise _refuse("ManagedInstanceScaling is only supported for inference component endpoints.")
        result = original_create_config(self)
        if role:
            self.sagemaker_backend.endpoint_configs[params["EndpointConfigName"]].execution_role_arn = role
        return result

    def create_endpoint(self, endpoint_name, endpoint_config_name, tags):
        endpoint = original_create(self, endpoint_name, endpoint_config_name, tags)
        variants = _served_variants(self.endpoint_configs[endpoint_config_name])
        with _lock:
            previous = _endpoints.pop(endpoint.arn, None)
            state = _endpoints[endpoint.arn] = EndpointState(op=(previous.op + 1) if previous else 0)
            if variants:  # inference-component endpoints serve once their components do
                endpoint.endpoint_status = "Creating"
        if variants:
            _spawn(_create_endpoint_worker, self, endpoint, variants, state, state.op)
        return endpoint

    def delete_endpoint(self, endpoint_name):
        endpoint = self.endpoints.get(endpoint_name)
        original_delete(self, endpoint_name)
        with _lock:
            state = _endpoints.pop(endpoint.arn, None)
            if state:
                state.op += 1  # workers still deploying stop their containers
            doomed = [c for c in _components.values()
                      if (c.account, c.region, c.endpoint_name) == (self.account_id, self.region_name, endpoint_name)]
            for c in doomed:
                c.op += 1
                del _components[(c.account, c.region, c.name)]
        for container in [*(state.containers.values() if state else []), *(c.container for c in doomed if c.container)]:
            hosting.manager().stop(container)

    backend_cls.validate_production_variants = validate_production_variants
    backend_cls.create_endpoint = create_endpoint
    backend_cls.delete_endpoint = delete_endpoint
    models.FakeEndpointConfig.validate_instance_type = validate_instance_type
    SageMakerResponse.create_endpoint_config = create_endpoint_config
    for action in (update_endpoint, create_inference_component, describe_inference_component,
                   list_inference_components, update_inference_component, delete_inference_component,
                   update_inference_component_runtime_config):
        setattr(SageMakerResponse, action.__name__, action)
