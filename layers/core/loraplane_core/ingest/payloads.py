"""Pydantic models of what the ingest state machine passes between its tasks."""
from typing import Literal

from aws_lambda_powertools.utilities.parser.models import (
    S3EventNotificationEventBridgeModel,
)
from pydantic import BaseModel, Field

from loraplane_core.ingest.training_metadata import TrainingProvenance

Outcome = Literal["valid", "incomplete", "duplicate", "rejected", "ignored"]


class ValidateRequest(BaseModel):
    event: S3EventNotificationEventBridgeModel  # the S3 "Object Created" EventBridge event
    final: bool = False    # after the upload grace period: missing files are now a rejection


class ValidationResult(BaseModel):
    outcome: Outcome
    adapter_name: str | None = None
    source: str | None = None
    fingerprint: str | None = None  # hash of the uploaded files' keys, ETags and sizes
    reason: str | None = None
    message: str | None = None
    sha256: str | None = None
    config_sha256: str | None = None
    base_model: str | None = None
    rank: int | None = None
    target_modules: list[str] = Field(default_factory=list)
    size_bytes: int | None = None
    artifact_uri: str | None = None
    grace_seconds: int = 0  # for "incomplete": how long to wait for the rest of the upload
    training: TrainingProvenance | None = None  # for pipeline-trained adapters (training_metadata.json)


class Registration(BaseModel):
    package_arn: str
    package_version: int
    approval_status: str


class TaskError(BaseModel):
    Error: str = "Unknown"
    Cause: str | None = None


class RecordRequest(BaseModel):
    kind: Literal["registered", "rejected", "failed"]
    event: S3EventNotificationEventBridgeModel
    execution: str | None = None
    validation: ValidationResult | None = None
    registration: Registration | None = None
    error: TaskError | None = None


class RecordResult(BaseModel):
    created: bool  # False when a duplicate event already recorded the same thing
