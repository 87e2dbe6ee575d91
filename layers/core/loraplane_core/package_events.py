""""SageMaker Model Package State Change" events (shared/aws-events), parsed with Powertools'
EventBridge envelope model. SageMaker sends one on create and on every update, with no previous
status, possibly more than once: see transitions.py for what counts as a change."""
from datetime import datetime
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, Field

RECONCILER_SOURCE = "loraplane.reconciler"


class PackageDetail(BaseModel):
    ModelPackageGroupName: str
    ModelPackageVersion: int
    ModelPackageArn: str
    ModelApprovalStatus: Literal["Approved", "Rejected", "PendingManualApproval"]
    ApprovalDescription: str | None = None
    LastModifiedTime: datetime | None = None
    CreationTime: datetime | None = None
    InferenceSpecification: dict[str, Any] = Field(default_factory=dict)
    CustomerMetadataProperties: dict[str, str] = Field(default_factory=dict)


class PackageStateChange(EventBridgeModel):
    detail: PackageDetail


class PackageChange(BaseModel):
    """What the deployment state machine passes along: exactly the event's package version."""
    kind: Literal["adapter", "base"]
    action: Literal["approved", "rejected", "none"]
    package_arn: str
    group: str
    version: int
    status: str
    modified: str  # ISO time of the decision (LastModifiedTime): orders decisions
    name: str  # adapter name, or the base model's name
    base_model: str | None = None
    sha256: str | None = None
    artifact_uri: str | None = None  # adapter tar.gz, or the base model's S3 prefix
    reason: str | None = None  # ApprovalDescription
    replayed_by_reconciler: bool = False


def parse_event(event: dict) -> PackageStateChange:
    return parse(event=event, model=PackageStateChange)


def artifact_of(spec: dict) -> str | None:
    containers = spec.get("Containers") or [{}]
    source = containers[0].get("ModelDataSource", {}).get("S3DataSource", {})
    return source.get("S3Uri") or containers[0].get("ModelDataUrl")


def change_of(ev: PackageStateChange, base_group: str, adapter_group: str) -> PackageChange | None:
    d = ev.detail
    if d.ModelPackageGroupName not in (base_group, adapter_group):
        return None
    meta = d.CustomerMetadataProperties
    kind = "base" if d.ModelPackageGroupName == base_group else "adapter"
    modified = (d.LastModifiedTime or d.CreationTime or ev.time).isoformat()
    action = {"Approved": "approved", "Rejected": "rejected"}.get(d.ModelApprovalStatus, "none")
    return PackageChange(
        kind=kind, action=action, package_arn=d.ModelPackageArn, group=d.ModelPackageGroupName,
        version=d.ModelPackageVersion, status=d.ModelApprovalStatus, modified=modified,
        name=meta.get("adapter_name" if kind == "adapter" else "base_model") or f"version-{d.ModelPackageVersion}",
        base_model=meta.get("base_model"), sha256=meta.get("sha256"), artifact_uri=artifact_of(d.InferenceSpecification),
        reason=d.ApprovalDescription, replayed_by_reconciler=ev.source == RECONCILER_SOURCE,
    )
