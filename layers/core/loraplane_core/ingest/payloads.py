"""Pydantic models of what the ingest state machine passes between its tasks."""
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from loraplane_core.ingest.training_metadata import TrainingProvenance

Outcome = Literal["valid", "incomplete", "duplicate", "rejected", "ignored"]


class Payload(BaseModel):
    """A task's input or output. Its validator is built on first use, not at import: a handler
    imports many of these and uses a few (Lambda cold start, docs/benchmarks.md)."""
    model_config = ConfigDict(defer_build=True)


# The S3 "Object Created" event from EventBridge: only what the ingest reads. (Powertools' model of it
# lives in a module that builds every S3 event model at import, ~30 ms of each cold start.)
class S3Bucket(Payload):
    name: str


class S3Object(Payload):
    key: str


class ObjectCreatedDetail(Payload):
    bucket: S3Bucket
    object: S3Object


class ObjectCreated(Payload):
    id: str
    detail: ObjectCreatedDetail


class ValidateRequest(Payload):
    event: ObjectCreated
    final: bool = False    # after the upload grace period: missing files are now a rejection


class ValidationResult(Payload):
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


class Registration(Payload):
    package_arn: str
    package_version: int
    approval_status: str


class TaskError(Payload):
    Error: str = "Unknown"
    Cause: str | None = None


class RecordRequest(Payload):
    kind: Literal["registered", "rejected", "failed"]
    event: ObjectCreated
    execution: str | None = None
    validation: ValidationResult | None = None
    registration: Registration | None = None
    error: TaskError | None = None


class RecordResult(Payload):
    created: bool  # False when a duplicate event already recorded the same thing
