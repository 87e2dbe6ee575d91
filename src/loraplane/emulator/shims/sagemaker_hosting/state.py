"""Shared state of the SageMaker hosting shim: what serves each endpoint and inference component,
the lock that guards it, and the helpers every action uses (validation, ARNs, worker threads,
alarm-watched baking periods, healthy containers)."""
import datetime
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ... import hosting
from .. import aws_validation

BAKE_CAP = 30.0  # seconds: local baking periods stay short whatever the config asks
ALARM_POLL = 0.5

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

