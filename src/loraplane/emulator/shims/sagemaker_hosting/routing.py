"""Routing: which container serves a request to an endpoint or inference component now (the
sagemaker_runtime shim, and code and tests through `container_for`)."""
from dataclasses import dataclass
from typing import Any

from ... import hosting
from ...local_aws import ACCOUNT, REGION
from .endpoints import _served_variants
from .state import EndpointState, _components, _endpoints, _lock


class NotRoutable(Exception):
    """The request cannot reach a container; str() is AWS's ValidationError message."""


@dataclass
class Target:
    container: Any
    adapter: str | None
    variant: str


def route(account: str, region: str, endpoint_name: str, component_name: str | None,
          variant: str | None = None) -> Target:
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_backends[account][region]
    not_found = NotRoutable(f"Endpoint {endpoint_name} of account {account} not found.")
    with _lock:
        endpoint = backend.endpoints.get(endpoint_name)
        if endpoint is None:
            raise not_found
        config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
        ic_endpoint = config is not None and not _served_variants(config)
        if not ic_endpoint:
            if component_name:
                raise NotRoutable("Inference Component Name header is not allowed for endpoints to which you dont "
                                  "plan to deploy inference components. Please remove the Inference Component Name "
                                  "header and try again.")
            containers = _endpoints.get(endpoint.arn, EndpointState()).containers
            if not containers:
                raise not_found  # Creating or Failed: nothing serves yet
            name = variant if variant in containers else next(iter(containers))
            return Target(containers[name], None, name)
        if not component_name:
            raise NotRoutable("Inference Component Name header is required for endpoints to which you plan to deploy "
                              "inference components. Please include Inference Component Name header or consider "
                              "using SageMaker models.")
        component = _components.get((account, region, component_name))
        if component is None or component.endpoint_name != endpoint_name:
            raise NotRoutable(f"Inference Component {component_name} not found for endpoint {endpoint_name} of "
                              f"account {account}.")
        serving = component.status in ("InService", "Updating")
        base = _components.get((account, region, component.base_name)) if component.base_name else component
        if not serving or base is None or base.container is None:
            raise NotRoutable(f"Inference Component {component_name} is not in service.")
        if (base.runtime_config or {}).get("CopyCount", 1) == 0:  # scaled to zero (an adapter: its base)
            raise NotRoutable(f"Inference Component {component_name} has no capacity to process this request: it "
                              "has 0 copies. Scale it out (UpdateInferenceComponentRuntimeConfig or Application Auto "
                              "Scaling) and try again.")
        return Target(base.container, component.name if component.base_name else None, component.variant_name)


def async_inference_config(account: str, region: str, endpoint_name: str) -> dict | None:
    """The endpoint's AsyncInferenceConfig (None: a real-time endpoint); NotRoutable when there is no
    such endpoint. An endpoint whose config has one takes only asynchronous invocations
    (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html)."""
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_backends[account][region]
    with _lock:
        endpoint = backend.endpoints.get(endpoint_name)
        if endpoint is None:
            raise NotRoutable(f"Endpoint {endpoint_name} of account {account} not found.")
        config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
        return (getattr(config, "async_inference_config", None) or None) if config is not None else None


def serving_container(account: str, region: str, endpoint_name: str, component_name: str | None):
    try:
        return route(account, region, endpoint_name, component_name).container
    except NotRoutable:
        return None


def container_for(endpoint_name: str, inference_component: str | None = None,
                  account: str | None = None, region: str = REGION) -> hosting.Container | None:
    """The container that serves this endpoint (or inference component) now: `.url`, `.log_path`."""
    return serving_container(account or ACCOUNT, region, endpoint_name, inference_component)

