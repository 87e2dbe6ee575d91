"""Pydantic models of what the deployment state machine passes to its tasks."""
from typing import Any, Literal

from pydantic import BaseModel

from .models import TaskError
from .package_events import PackageChange


class TransitionRequest(BaseModel):
    event: dict[str, Any]  # the "SageMaker Model Package State Change" event, as delivered


class TransitionResult(BaseModel):
    proceed: bool
    why: str
    change: PackageChange | None = None


class LockRequest(BaseModel):
    action: Literal["acquire", "release"]
    owner: str  # the execution name
    started_at: str | None = None  # the execution's start: the lock wait is bounded from there


class AdapterRequest(BaseModel):
    action: Literal["apply", "check", "rollback"]
    change: PackageChange | None = None
    deployment: dict[str, Any] | None = None


class BaseRequest(BaseModel):
    action: Literal["start", "check", "rollback", "reattach"]
    change: PackageChange | None = None
    deployment: dict[str, Any] | None = None


class SmokeRequest(BaseModel):
    kind: Literal["adapter", "base"]
    deployment: dict[str, Any]


class DeploymentRecord(BaseModel):
    kind: Literal["adapter", "base", "failed"]
    execution: str
    change: PackageChange | None = None
    deployment: dict[str, Any] | None = None
    smoke: dict[str, Any] | None = None
    reattach: dict[str, Any] | None = None
    rollback: dict[str, Any] | None = None
    error: TaskError | None = None
