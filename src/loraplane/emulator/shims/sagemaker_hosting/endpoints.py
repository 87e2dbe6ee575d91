"""Endpoints with model variants: UpdateEndpoint and the workers that create endpoints and update
them blue/green (with rollback on CloudWatch alarms)."""
from ... import hosting
from .state import (EndpointState, _alarm_names, _arn, _bake, _endpoints, _lock, _now, _refuse, _scaled, _spawn,
                    _start_healthy, _validated)


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
