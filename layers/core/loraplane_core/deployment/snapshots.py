"""Reads what the decisions need (decisions.py) from the catalog and the registry: the only I/O
before a decision. The registry is read now, under the endpoint lock, never taken from an event:
an event or a reconciler replay may describe a decision the user has since overturned."""
import datetime
import logging

from loraplane_core import approved_bases
from loraplane_core.adapters import rate_limits
from loraplane_core.aws import AwsClients
from loraplane_core.deployment import transitions, versions
from loraplane_core.deployment.decisions import (
    AdapterSnapshot,
    BaseSnapshot,
    Seen,
    VersionView,
)
from loraplane_core.deployment.payloads import BaseTarget
from loraplane_core.deployment.serving_modes import serving_mode
from loraplane_core.package_events import PackageChange, artifact_of
from loraplane_core.sagemaker_gateway import describe
from loraplane_core.settings import Settings

logger = logging.getLogger(__name__)


def seen_of(table, package_arn: str) -> Seen | None:
    last = transitions.last_status(table, package_arn)
    return Seen(last["status"], last.get("modified", "")) if last else None


def modified_of(described: dict) -> str:
    """LastModifiedTime, or CreationTime for a package never updated (created Approved)."""
    modified = described.get("LastModifiedTime") or described.get("CreationTime")
    return modified.astimezone(datetime.timezone.utc).isoformat() if modified else ""


def approved_at(seen: Seen | None, described: dict) -> str:
    """When the version was approved ("" if the registry does not approve it now): the approval the
    deployment recorded (transitions.py), else - the event never seen, lost to the dead-letter
    queue - the registry's LastModifiedTime. SageMaker records no approval time; a later update
    that keeps the status (a description, metadata) is not a new approval."""
    if described.get("ModelApprovalStatus") != "Approved":
        return ""
    if seen and seen.status == "Approved":
        return seen.modified
    return modified_of(described)


def version_view(c: AwsClients, item: dict) -> VersionView:
    # A package deleted from the registry must not serve, nor block its adapter's other versions.
    described = describe(c.sagemaker.describe_model_package, ModelPackageName=item["package_arn"]) or \
        {"ModelApprovalStatus": "Rejected"}
    rps, tpm, problems = rate_limits.from_metadata(described.get("CustomerMetadataProperties"))
    if problems:  # the version still serves, under the stack's default limits
        logger.warning("%s: rate limit metadata ignored: %s", item["package_arn"], "; ".join(problems))
    return VersionView(package_arn=item["package_arn"], version=int(item["package_version"]), sha256=item["sha256"],
                       artifact_uri=item["artifact_uri"], base_model=item.get("base_model"),
                       state=item.get("state", "registered"), registry_status=described["ModelApprovalStatus"],
                       approved_at=approved_at(seen_of(c.catalog, item["package_arn"]), described),
                       registry_modified=modified_of(described), requests_per_second=rps, tokens_per_minute=tpm)


def version_views(c: AwsClients, adapter: str) -> tuple[VersionView, ...]:
    return tuple(version_view(c, item) for item in versions.versions(c.catalog, adapter))


def all_version_views(c: AwsClients) -> dict[str, tuple[VersionView, ...]]:
    return {adapter: version_views(c, adapter) for adapter in versions.adapter_names(c.catalog)}


def adapter_snapshot(c: AwsClients, s: Settings, change: PackageChange) -> AdapterSnapshot:
    base = versions.deployed_base(c.catalog, s.endpoint_name)
    return AdapterSnapshot(adapter=change.name, versions=version_views(c, change.name),
                           deployed_base=base["base_model"] if base else None,
                           base_ready=serving_mode(c, s).base_ready(), seen=seen_of(c.catalog, change.package_arn))


def base_target_of(described: dict) -> BaseTarget:
    version = int(described["ModelPackageVersion"])
    return BaseTarget(package_arn=described["ModelPackageArn"], version=version,
                      base_model=described.get("CustomerMetadataProperties", {}).get("base_model", f"version-{version}"),
                      model_uri=artifact_of(described["InferenceSpecification"]) or "")


def base_snapshot(c: AwsClients, s: Settings, change: PackageChange) -> BaseSnapshot:
    deployed = versions.deployed_target(c.catalog, s.endpoint_name)
    deployed_approved_at = ""
    if deployed:
        deployed_described = c.sagemaker.describe_model_package(ModelPackageName=deployed.package_arn)
        deployed_approved_at = approved_at(seen_of(c.catalog, deployed.package_arn), deployed_described)
    described = c.sagemaker.describe_model_package(ModelPackageName=change.package_arn)
    seen = seen_of(c.catalog, change.package_arn)
    replacement = None  # read when the package serving is rejected now (the event may say otherwise)
    if described["ModelApprovalStatus"] == "Rejected" and deployed and deployed.package_arn == change.package_arn:
        other = approved_bases.latest_approved_base(c.sagemaker, c.catalog, change.group, excluding=change.package_arn)
        replacement = base_target_of(other) if other else None
    return BaseSnapshot(deployed=deployed, deployed_approved_at=deployed_approved_at, seen=seen,
                        approved_at=approved_at(seen, described), registry_status=described["ModelApprovalStatus"],
                        registry_modified=modified_of(described), replacement=replacement)
