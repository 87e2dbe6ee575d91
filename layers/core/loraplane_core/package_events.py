""""SageMaker Model Package State Change" events (shared/aws-events), in an EventBridge envelope.
SageMaker sends one on create and on every update, with no previous status, possibly more than once:
see transitions.py for what counts as a change."""
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from loraplane_core.ingest.payloads import Payload  # validators built on first use

RECONCILER_SOURCE = "loraplane.reconciler"


class EventBridgeEvent(Payload):
    """The EventBridge envelope: the fields of Powertools' EventBridgeModel, whose parser package adds
    ~70 ms to a cold start. https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html"""
    model_config = ConfigDict(populate_by_name=True)
    version: str
    id: str
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: Any
    replay_name: str | None = Field(None, alias="replay-name")


class PackageDetail(Payload):
    ModelPackageGroupName: str
    ModelPackageVersion: int
    ModelPackageArn: str
    ModelApprovalStatus: Literal["Approved", "Rejected", "PendingManualApproval"]
    ApprovalDescription: str | None = None
    LastModifiedTime: datetime | None = None
    CreationTime: datetime | None = None
    InferenceSpecification: dict[str, Any] = Field(default_factory=dict)
    CustomerMetadataProperties: dict[str, str] = Field(default_factory=dict)


class PackageStateChange(EventBridgeEvent):
    detail: PackageDetail


class PackageChange(Payload):
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
    return PackageStateChange.model_validate(event)


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
