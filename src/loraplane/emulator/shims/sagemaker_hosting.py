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
import datetime
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from .. import hosting
from . import aws_validation

BAKE_CAP = 30.0  # seconds: local baking periods stay short whatever the config asks
ALARM_POLL = 0.5
ADMIN_TIMEOUT = 300  # POST /adapters fetches and loads the adapter

_lock = threading.RLock()  # guards the state below and status changes of moto's endpoint objects


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass
class EndpointState:
    """What serves an endpoint now: variant name -> container. `op` cancels stale workers."""
    containers: dict = field(default_factory=dict)
    op: int = 0


@dataclass
class Component:
    name: str
    arn: str
    account: str
    region: str
    endpoint_name: str
    endpoint_arn: str
    variant_name: str
    specification: dict
    runtime_config: dict | None
    tags: list
    status: str = "Creating"
    failure_reason: str | None = None
    creation_time: datetime.datetime = field(default_factory=_now)
    last_modified_time: datetime.datetime = field(default_factory=_now)
    last_deployment_config: dict | None = None
    container: Any = None  # base components: the container serving now
    adapter_dir: str | None = None  # adapter components: the staged artifact registered with the base
    op: int = 0

    @property
    def base_name(self) -> str | None:
        return self.specification.get("BaseInferenceComponentName")

    def describe(self) -> dict:
        spec = {k: v for k, v in self.specification.items() if k != "Container"}
        if "Container" in self.specification:
            c = self.specification["Container"]
            spec["Container"] = {k: c[k] for k in ("ArtifactUrl", "Environment") if k in c}
            if "Image" in c:
                spec["Container"]["DeployedImage"] = {"SpecifiedImage": c["Image"], "ResolvedImage": c["Image"],
                                                      "ResolutionTime": self.creation_time}
        out = {"InferenceComponentName": self.name, "InferenceComponentArn": self.arn,
               "EndpointName": self.endpoint_name, "EndpointArn": self.endpoint_arn, "VariantName": self.variant_name,
               "Specification": spec, "CreationTime": self.creation_time, "LastModifiedTime": self.last_modified_time,
               "InferenceComponentStatus": self.status}
        if self.runtime_config:
            copies = self.runtime_config.get("CopyCount", 1)
            out["RuntimeConfig"] = {"DesiredCopyCount": copies,
                                    "CurrentCopyCount": copies if self.status == "InService" else 0}
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        if self.last_deployment_config:
            out["LastDeploymentConfig"] = self.last_deployment_config
        return out

    def summary(self) -> dict:
        return {k: v for k, v in self.describe().items()
                if k in ("CreationTime", "InferenceComponentArn", "InferenceComponentName", "EndpointArn",
                         "EndpointName", "VariantName", "InferenceComponentStatus", "LastModifiedTime")}


_endpoints: dict[str, EndpointState] = {}  # endpoint ARN -> state
_components: dict[tuple[str, str, str], Component] = {}  # (account, region, name)


def _spawn(target, *args) -> None:
    threading.Thread(target=target, args=args, daemon=True, name=f"sagemaker-hosting-{target.__name__}").start()


def _errors():
    from moto.sagemaker.exceptions import ValidationError

    return ValidationError


def _refuse(message: str):
    return _errors()(message=message)


def _validated(response, operation: str) -> dict:
    """The request's JSON, refused as AWS would refuse it."""
    import json

    raw = response.body
    params = json.loads(raw.decode() if isinstance(raw, bytes) else (raw or "{}")) if raw else {}
    found = aws_validation.problems("sagemaker", operation, params)
    if found:
        raise _refuse(aws_validation.message(found))
    return params


def _arn(kind: str, name: str, account: str, region: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:{kind}/{name}"


def _scaled(seconds: float) -> float:
    return min(seconds * float(os.environ.get("LORAPLANE_WAIT_SCALE", "1")), BAKE_CAP)


def _alarm_firing(account: str, region: str, names: list[str]) -> str | None:
    from moto.cloudwatch.models import cloudwatch_backends

    alarms = cloudwatch_backends[account][region].alarms
    for name in names:
        alarm = alarms.get(name)
        if alarm is not None and alarm.state_value == "ALARM":
            return name
    return None


def _bake(account: str, region: str, alarms: list[str], seconds: float, cancelled) -> str | None:
    """Watches the alarms for the (scaled) baking period: the first one in ALARM, or None."""
    deadline = time.monotonic() + seconds
    while True:
        firing = _alarm_firing(account, region, alarms)
        if firing or cancelled() or time.monotonic() >= deadline:
            return firing
        time.sleep(min(ALARM_POLL, max(deadline - time.monotonic(), 0)))


def _alarm_names(deployment_config: dict | None) -> list[str]:
    return [a["AlarmName"] for a in ((deployment_config or {}).get("AutoRollbackConfiguration") or {}).get("Alarms", [])]


def _model(backend, name: str) -> dict:
    model = backend._models.get(name)  # noqa: SLF001
    if model is None:
        raise hosting.ContainerFailed(f"Could not find model \"{_arn('model', name, backend.account_id, backend.region_name)}\".")
    return {"PrimaryContainer": model.primary_container or {}, "Containers": model.containers or []}


def _start_healthy(backend, label: str, model_name: str, cancelled, timeout: float | None = None):
    """A container for the model, healthy; on failure it is stopped and ContainerFailed raised."""
    manager = hosting.manager()
    container = manager.start_container(label, _model(backend, model_name), backend.region_name)
    try:
        container.wait_healthy(timeout or manager.health_timeout, cancelled)
    except BaseException:
        manager.stop(container)
        raise
    return container


# -- endpoints ---------------------------------------------------------------------------------
def _served_variants(config) -> list[dict]:
    return [v for v in config.production_variants if v.get("ModelName")]


def _deploy_variants(backend, endpoint_name: str, variants: list[dict], cancelled) -> dict:
    started = {}
    try:
        for v in variants:
            started[v["VariantName"]] = _start_healthy(backend, f"{endpoint_name}-{v['VariantName']}", v["ModelName"],
                                                       cancelled)
    except BaseException:
        for c in started.values():
            hosting.manager().stop(c)
        raise
    return started


def _create_endpoint_worker(backend, endpoint, variants: list[dict], state: EndpointState, op: int) -> None:
    try:
        containers = _deploy_variants(backend, endpoint.endpoint_name, variants, lambda: state.op != op)
    except Exception as e:  # noqa: BLE001 - the endpoint fails with the reason
        with _lock:
            if state.op == op:
                endpoint.endpoint_status, endpoint.failure_reason = "Failed", str(e)[:1024]
                endpoint.last_modified_time = _now()
        return
    with _lock:
        if state.op != op:  # deleted meanwhile
            stale = containers
        else:
            stale, state.containers = {}, containers
            endpoint.endpoint_status, endpoint.last_modified_time = "InService", _now()
    for c in stale.values():
        hosting.manager().stop(c)


def _update_endpoint_worker(backend, endpoint, config, deployment: dict | None, state: EndpointState, op: int) -> None:
    cancelled = lambda: state.op != op  # noqa: E731
    manager = hosting.manager()

    def roll_back(reason: str, green: dict) -> None:
        with _lock:
            if state.op == op:
                endpoint.endpoint_status = "RollingBack"
        for c in green.values():
            manager.stop(c)
        with _lock:
            if state.op == op:
                endpoint.endpoint_status, endpoint.failure_reason = "InService", reason[:1024]
                endpoint.pending_deployment_summary, endpoint.last_modified_time = None, _now()

    try:
        green = _deploy_variants(backend, endpoint.endpoint_name, _served_variants(config), cancelled)
    except Exception as e:  # noqa: BLE001 - AWS rolls back and keeps the old config serving
        return roll_back(f"Endpoint update to {config.endpoint_config_name} failed and was rolled back: {e}", {})
    with _lock:  # traffic to green; blue stays up until the baking period ends
        live = not cancelled()
        if live:
            blue, state.containers = state.containers, green
    if not live:  # deleted meanwhile
        for c in green.values():
            manager.stop(c)
        return
    policy = (deployment or {}).get("BlueGreenUpdatePolicy") or {}
    rolling = (deployment or {}).get("RollingUpdatePolicy") or {}
    bake = policy.get("TerminationWaitInSeconds", 0) + (policy.get("TrafficRoutingConfiguration") or {}).get(
        "WaitIntervalInSeconds", 0) + rolling.get("WaitIntervalInSeconds", 0)
    firing = _bake(backend.account_id, backend.region_name, _alarm_names(deployment), _scaled(bake), cancelled)
    if firing:
        with _lock:
            if state.op == op:
                state.containers = blue
        return roll_back(f"Endpoint update to {config.endpoint_config_name} was rolled back: CloudWatch alarm "
                         f"{firing} went into ALARM state during the baking period.", green)
    for c in blue.values():  # the old fleet goes before the update completes
        manager.stop(c)
    with _lock:
        if state.op == op:
            endpoint.endpoint_config_name = config.endpoint_config_name
            endpoint.production_variants = endpoint._process_production_variants(config.production_variants)  # noqa: SLF001
            endpoint.endpoint_status, endpoint.failure_reason = "InService", None
            endpoint.pending_deployment_summary, endpoint.last_modified_time = None, _now()


def update_endpoint(self):
    params = _validated(self, "UpdateEndpoint")
    backend = self.sagemaker_backend
    name, config_name = params["EndpointName"], params["EndpointConfigName"]
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        raise _refuse(f"Could not find endpoint \"{_arn('endpoint', name, backend.account_id, backend.region_name)}\".")
    config = backend.endpoint_configs.get(config_name)
    if config is None:
        raise _refuse("Could not find endpoint configuration "
                      f"\"{_arn('endpoint-config', config_name, backend.account_id, backend.region_name)}\".")
    deployment = params.get("DeploymentConfig")
    if deployment and deployment.get("BlueGreenUpdatePolicy") and deployment.get("RollingUpdatePolicy"):
        raise _refuse("Only one of BlueGreenUpdatePolicy and RollingUpdatePolicy can be specified.")
    with _lock:
        if endpoint.endpoint_status != "InService":
            raise _refuse(f"Cannot update in-progress endpoint \"{endpoint.arn}\".")
        state = _endpoints.setdefault(endpoint.arn, EndpointState())
        state.op += 1
        endpoint.endpoint_status, endpoint.failure_reason = "Updating", None
        endpoint.pending_deployment_summary = {"EndpointConfigName": config_name, "StartTime": _now()}
        if deployment:
            endpoint.last_deployment_config = deployment
        endpoint.last_modified_time = _now()
        op = state.op
    _spawn(_update_endpoint_worker, backend, endpoint, config, deployment, state, op)
    from moto.core.responses import ActionResult

    return ActionResult({"EndpointArn": endpoint.arn})


# -- inference components ----------------------------------------------------------------------
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
    """POST /adapters to the container: None if it took the adapter, else its reason."""
    try:
        r = requests.post(container.url + "/adapters", json={"name": name, "src": folder}, timeout=ADMIN_TIMEOUT)
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
                requests.delete(f"{base.container.url}/adapters/{component.name}", timeout=60)
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


# -- routing (the sagemaker_runtime shim and hosting.container_for use these) ------------------
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
        if component.base_name:
            base = _components.get((account, region, component.base_name))
            if not serving or base is None or base.container is None:
                raise NotRoutable(f"Inference Component {component_name} is not in service.")
            return Target(base.container, component.name, component.variant_name)
        if not serving or component.container is None:
            raise NotRoutable(f"Inference Component {component_name} is not in service.")
        return Target(component.container, None, component.variant_name)


def serving_container(account: str, region: str, endpoint_name: str, component_name: str | None):
    try:
        return route(account, region, endpoint_name, component_name).container
    except NotRoutable:
        return None


# -- install -----------------------------------------------------------------------------------
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
                   list_inference_components, update_inference_component, delete_inference_component):
        setattr(SageMakerResponse, action.__name__, action)
