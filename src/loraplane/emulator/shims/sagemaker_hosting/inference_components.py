"""Inference components: the Create/Describe/List/Update/Delete actions and their workers (a base
component runs a container; an adapter component is registered with its base's container)."""
import datetime
import time

import requests

from ... import hosting
from .state import (Component, _alarm_names, _arn, _bake, _components, _lock, _now, _refuse, _scaled, _spawn,
                    _start_healthy, _validated)

ADMIN_TIMEOUT = 300  # POST /adapters fetches and loads the adapter
# The container contract's header (aws/model-hosting-container-standards, sagemaker/lora/constants.py).
ALIAS_HEADER = "X-Amzn-SageMaker-Adapter-Alias"


def _component(backend, name: str) -> Component:
    found = _components.get((backend.account_id, backend.region_name, name))
    if found is None:
        raise _refuse("Could not find inference component "
                      f"\"{_arn('inference-component', name, backend.account_id, backend.region_name)}\".")
    return found


def _adapters_of(base: Component) -> list[Component]:
    return [c for c in _components.values()
            if (c.account, c.region) == (base.account, base.region) and c.base_name == base.name]


def _container_error(r: requests.Response) -> str:
    try:
        return r.json()["error"]["message"]
    except Exception:  # noqa: BLE001 - not our JSON shape: the raw text
        return r.text[:900] or f"HTTP {r.status_code}"


def _register(container, name: str, folder: str) -> str | None:
    """POST /adapters?name=&src= to the container: None if it took the adapter, else its reason.
    Query string, no body, as DJL Serving's adapters API reads it; the identifier sent is the
    component's name (no public source says what SageMaker sends; see docs/emulator.md)."""
    try:
        r = requests.post(container.url + "/adapters", params={"name": name, "src": folder},
                          headers={ALIAS_HEADER: name}, timeout=ADMIN_TIMEOUT)
    except requests.RequestException as e:
        return f"the container did not answer POST /adapters: {e}"
    return None if r.status_code == 200 else _container_error(r)


def _stage_adapter(component: Component, uri: str) -> str:
    manager = hosting.manager()
    folder = manager.workdir() / "adapters" / f"{component.name}-{manager.next_id()}" / component.name
    return str(manager.stage_artifact(uri, folder, component.region))


def _set(component: Component, op: int, **changes) -> bool:
    with _lock:
        if component.op != op or _components.get((component.account, component.region, component.name)) is not component:
            return False
        for k, v in changes.items():
            setattr(component, k, v)
        component.last_modified_time = _now()
        return True


def _create_base_worker(backend, component: Component, op: int) -> None:
    spec = component.specification
    timeout = (spec.get("StartupParameters") or {}).get("ContainerStartupHealthCheckTimeoutInSeconds")
    try:
        container = _start_healthy(backend, f"{component.endpoint_name}-{component.name}", spec["ModelName"],
                                   lambda: component.op != op, timeout)
    except Exception as e:  # noqa: BLE001
        _set(component, op, status="Failed", failure_reason=str(e)[:1024])
        return
    if not _set(component, op, status="InService", container=container):
        hosting.manager().stop(container)


def _wait_for_base(component: Component, op: int) -> Component:
    """The base component once it serves (adapters wait while it is created or updated)."""
    deadline = time.monotonic() + hosting.manager().health_timeout + 60
    while True:
        base = _components.get((component.account, component.region, component.base_name))
        if base is None or base.status in ("Failed", "Deleting"):
            raise hosting.ContainerFailed(f"the base inference component {component.base_name} is not in service")
        if base.status == "InService" and base.container is not None:
            return base
        if component.op != op or time.monotonic() > deadline:
            raise hosting.ContainerFailed(f"the base inference component {component.base_name} did not come into service")
        time.sleep(0.5)


def _create_adapter_worker(component: Component, op: int) -> None:
    try:
        base = _wait_for_base(component, op)
        folder = _stage_adapter(component, component.specification["Container"]["ArtifactUrl"])
        refused = _register(base.container, component.name, folder)
    except Exception as e:  # noqa: BLE001
        _set(component, op, status="Failed", failure_reason=f"{e}"[:1024])
        return
    if refused:
        _set(component, op, status="Failed", failure_reason=refused[:1024])
    else:
        _set(component, op, status="InService", adapter_dir=folder, failure_reason=None)


def _update_base_worker(backend, component: Component, spec: dict, deployment: dict | None, op: int) -> None:
    """Rolling update to a new model: green container, every adapter re-registered on it, then traffic;
    rolled back (old model keeps serving, FailureReason set) if any step fails or an alarm fires."""
    manager = hosting.manager()
    cancelled = lambda: component.op != op  # noqa: E731
    green = None
    try:
        timeout = (spec.get("StartupParameters") or {}).get("ContainerStartupHealthCheckTimeoutInSeconds")
        green = _start_healthy(backend, f"{component.endpoint_name}-{component.name}", spec["ModelName"], cancelled,
                               timeout)
        with _lock:
            adapters = _adapters_of(component)
        for adapter in adapters:
            if adapter.adapter_dir:
                refused = _register(green, adapter.name, adapter.adapter_dir)
                if refused:
                    raise hosting.ContainerFailed(f"adapter inference component {adapter.name} could not be loaded "
                                                  f"on the new model: {refused}")
    except Exception as e:  # noqa: BLE001
        manager.stop(green)
        if component.container is None:  # it had failed before: nothing to roll back to
            _set(component, op, status="Failed", failure_reason=str(e)[:1024])
        else:
            _set(component, op, status="InService", failure_reason=f"Inference component update to model "
                                                                   f"{spec['ModelName']} failed and was rolled back: {e}"[:1024])
        return
    with _lock:
        blue = component.container
        if not _set(component, op, container=green):
            blue = green
    if blue is green:
        return manager.stop(green)
    rolling = (deployment or {}).get("RollingUpdatePolicy") or {}
    firing = _bake(component.account, component.region, _alarm_names(deployment),
                   _scaled(rolling.get("WaitIntervalInSeconds", 0)), cancelled)
    # Blue or green stops before the status settles, as AWS finishes an update with the old fleet gone.
    if firing:
        if _set(component, op, container=blue):
            manager.stop(green)
            _set(component, op, status="InService",
                 failure_reason=f"Inference component update to model {spec['ModelName']} was rolled back: "
                                f"CloudWatch alarm {firing} went into ALARM state.")
        return
    if _set(component, op, specification=spec):
        manager.stop(blue)
        _set(component, op, status="InService", failure_reason=None)


def _update_adapter_worker(component: Component, spec: dict, op: int) -> None:
    old_dir = component.adapter_dir
    try:
        base = _wait_for_base(component, op)
        folder = _stage_adapter(component, spec["Container"]["ArtifactUrl"])
        refused = _register(base.container, component.name, folder)
    except Exception as e:  # noqa: BLE001
        base, refused = None, str(e)
    if refused:
        if base is not None and old_dir:  # the container forgot the old artifact when it refused the new one
            _register(base.container, component.name, old_dir)
        if old_dir:
            _set(component, op, status="InService",
                 failure_reason=f"Inference component update failed and was rolled back: {refused}"[:1024])
        else:  # it had failed before: nothing to roll back to
            _set(component, op, status="Failed", failure_reason=refused[:1024])
    else:
        _set(component, op, status="InService", specification=spec, adapter_dir=folder, failure_reason=None)


def _delete_worker(component: Component) -> None:
    with _lock:
        base = _components.get((component.account, component.region, component.base_name)) if component.base_name else None
    if component.base_name:
        if base is not None and base.container is not None and component.adapter_dir:
            try:
                requests.delete(f"{base.container.url}/adapters/{component.name}", headers={ALIAS_HEADER: component.name},
                                timeout=60)
            except requests.RequestException:
                pass  # the container is going away anyway
    else:
        hosting.manager().stop(component.container)
    with _lock:
        if _components.get((component.account, component.region, component.name)) is component:
            del _components[(component.account, component.region, component.name)]


def create_inference_component(self):
    from moto.core.responses import ActionResult

    params = _validated(self, "CreateInferenceComponent")
    backend = self.sagemaker_backend
    account, region = backend.account_id, backend.region_name
    name, endpoint_name = params["InferenceComponentName"], params["EndpointName"]
    endpoint = backend.endpoints.get(endpoint_name)
    if endpoint is None:
        raise _refuse(f"Could not find endpoint \"{_arn('endpoint', endpoint_name, account, region)}\".")
    spec = params.get("Specification")
    if not spec:
        raise _refuse("Specification must be provided.")
    config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
    variants = config.production_variants if config else []
    variant_name = params.get("VariantName") or (variants[0]["VariantName"] if variants else "AllTraffic")
    variant = next((v for v in variants if v["VariantName"] == variant_name), None)
    if variant is None:
        raise _refuse(f"Could not find variant {variant_name} on endpoint {endpoint_name}.")
    if variant.get("ModelName"):
        raise _refuse(f"Inference components cannot be deployed to endpoint \"{endpoint.arn}\": its production "
                      f"variant {variant_name} hosts model {variant['ModelName']}.")
    if spec.get("BaseInferenceComponentName"):
        base = _components.get((account, region, spec["BaseInferenceComponentName"]))
        if base is None or base.endpoint_name != endpoint_name or base.base_name:
            raise _refuse(f"Could not find base inference component \"{spec['BaseInferenceComponentName']}\" on "
                          f"endpoint {endpoint_name}.")
        if not (spec.get("Container") or {}).get("ArtifactUrl"):
            raise _refuse("Specification.Container.ArtifactUrl must be provided for an adapter inference component.")
        if spec.get("ModelName") or spec.get("ComputeResourceRequirements"):
            raise _refuse("An adapter inference component takes its model and compute resources from its base "
                          "inference component: do not specify ModelName or ComputeResourceRequirements.")
    else:
        if not spec.get("ModelName"):
            raise _refuse("Specification.ModelName must be provided (or BaseInferenceComponentName for an adapter).")
        if spec["ModelName"] not in backend._models:  # noqa: SLF001
            raise _refuse(f"Could not find model \"{_arn('model', spec['ModelName'], account, region)}\".")
        if not spec.get("ComputeResourceRequirements"):
            raise _refuse("Specification.ComputeResourceRequirements must be provided.")
        if not params.get("RuntimeConfig"):
            raise _refuse("RuntimeConfig must be provided.")
        if params["RuntimeConfig"].get("CopyCount", 1) < 1:  # zero copies come from scaling in, never at creation
            raise _refuse("Inference components copy count an integer larger than 0")
    with _lock:
        if endpoint.endpoint_status != "InService":
            raise _refuse(f"Endpoint \"{endpoint.arn}\" is not in service (status {endpoint.endpoint_status}).")
        if (account, region, name) in _components:
            raise _refuse("Cannot create already existing inference component "
                          f"\"{_arn('inference-component', name, account, region)}\".")
        component = Component(name, _arn("inference-component", name, account, region), account, region,
                              endpoint_name, endpoint.arn, variant_name, spec, params.get("RuntimeConfig"),
                              params.get("Tags") or [])
        _components[(account, region, name)] = component
    if component.base_name:
        _spawn(_create_adapter_worker, component, 0)
    else:
        _spawn(_create_base_worker, backend, component, 0)
    return ActionResult({"InferenceComponentArn": component.arn})


def describe_inference_component(self):
    from moto.core.responses import ActionResult

    params = _validated(self, "DescribeInferenceComponent")
    with _lock:
        return ActionResult(_component(self.sagemaker_backend, params["InferenceComponentName"]).describe())


def list_inference_components(self):
    from moto.core.responses import ActionResult

    p = _validated(self, "ListInferenceComponents")
    backend = self.sagemaker_backend

    def ts(key):
        value = p.get(key)
        if value is None or isinstance(value, datetime.datetime):
            return value
        if isinstance(value, (int, float)):
            return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))

    with _lock:
        found = [c for c in _components.values() if (c.account, c.region) == (backend.account_id, backend.region_name)]
    checks = [
        ("EndpointNameEquals", lambda c, v: c.endpoint_name == v), ("VariantNameEquals", lambda c, v: c.variant_name == v),
        ("NameContains", lambda c, v: v.lower() in c.name.lower()), ("StatusEquals", lambda c, v: c.status == v),
        ("CreationTimeBefore", lambda c, v: c.creation_time < v), ("CreationTimeAfter", lambda c, v: c.creation_time > v),
        ("LastModifiedTimeBefore", lambda c, v: c.last_modified_time < v),
        ("LastModifiedTimeAfter", lambda c, v: c.last_modified_time > v),
    ]
    for key, keep in checks:
        value = ts(key) if "Time" in key else p.get(key)
        if value is not None:
            found = [c for c in found if keep(c, value)]
    sort_key = {"Name": lambda c: c.name, "Status": lambda c: c.status}.get(p.get("SortBy"), lambda c: c.creation_time)
    found.sort(key=sort_key, reverse=p.get("SortOrder", "Descending") == "Descending")
    start = int(p.get("NextToken") or 0)
    size = p.get("MaxResults") or 10
    page = found[start:start + size]
    out = {"InferenceComponents": [c.summary() for c in page]}
    if start + size < len(found):
        out["NextToken"] = str(start + size)
    return ActionResult(out)


def update_inference_component(self):
    from moto.core.responses import ActionResult

    params = _validated(self, "UpdateInferenceComponent")
    backend = self.sagemaker_backend
    with _lock:
        component = _component(backend, params["InferenceComponentName"])
        if component.status not in ("InService", "Failed"):  # a failed component can be fixed by an update
            raise _refuse(f"Cannot update in-progress inference component \"{component.arn}\".")
        retry = component.status == "Failed"
        given = params.get("Specification") or {}
        spec = {**component.specification, **given}
        if component.base_name:
            if given.get("BaseInferenceComponentName", component.base_name) != component.base_name or given.get("ModelName"):
                raise _refuse("The base inference component and model of an adapter inference component cannot change.")
        elif given.get("BaseInferenceComponentName"):
            raise _refuse("A base inference component cannot become an adapter inference component.")
        if spec.get("ModelName") and spec["ModelName"] not in backend._models:  # noqa: SLF001
            raise _refuse(f"Could not find model \"{_arn('model', spec['ModelName'], backend.account_id, backend.region_name)}\".")
        new_model = not component.base_name and (retry or spec.get("ModelName") != component.specification.get("ModelName"))
        new_artifact = component.base_name and (retry or (spec.get("Container") or {}).get("ArtifactUrl") !=
                                                (component.specification.get("Container") or {}).get("ArtifactUrl"))
        component.op += 1
        op = component.op
        if params.get("RuntimeConfig"):
            component.runtime_config = params["RuntimeConfig"]
        if params.get("DeploymentConfig"):
            component.last_deployment_config = params["DeploymentConfig"]
        component.failure_reason, component.last_modified_time = None, _now()
        if new_model or new_artifact:
            component.status = "Updating"
        else:
            component.specification = spec
    if new_model:
        _spawn(_update_base_worker, backend, component, spec, params.get("DeploymentConfig"), op)
    elif new_artifact:
        _spawn(_update_adapter_worker, component, spec, op)
    return ActionResult({"InferenceComponentArn": component.arn})


def update_inference_component_runtime_config(self):
    """Sets the copy count; 0 is scale-to-zero: the component stays InService and its (and its
    adapters') invocations are refused until copies come back."""
    from moto.core.responses import ActionResult

    params = _validated(self, "UpdateInferenceComponentRuntimeConfig")
    with _lock:
        component = _component(self.sagemaker_backend, params["InferenceComponentName"])
        if component.base_name:
            raise _refuse(f"Inference component \"{component.arn}\" is an adapter inference component: it uses "
                          f"the copies of its base inference component {component.base_name}.")
        if component.status != "InService":
            raise _refuse(f"Cannot update in-progress inference component \"{component.arn}\".")
        component.runtime_config = {**(component.runtime_config or {}),
                                    "CopyCount": params["DesiredRuntimeConfig"]["CopyCount"]}
        component.last_modified_time = _now()
    return ActionResult({"InferenceComponentArn": component.arn})


def delete_inference_component(self):
    from moto.core.responses import EmptyResult

    params = _validated(self, "DeleteInferenceComponent")
    with _lock:
        component = _component(self.sagemaker_backend, params["InferenceComponentName"])
        if component.status == "Deleting":
            raise _refuse(f"Cannot delete inference component \"{component.arn}\": it is already being deleted.")
        if not component.base_name and _adapters_of(component):
            names = ", ".join(sorted(a.name for a in _adapters_of(component)))
            raise _refuse(f"Cannot delete base inference component \"{component.arn}\": adapter inference components "
                          f"{names} still use it. Delete them first.")
        component.op += 1
        component.status, component.last_modified_time = "Deleting", _now()
    _spawn(_delete_worker, component)
    return EmptyResult()
