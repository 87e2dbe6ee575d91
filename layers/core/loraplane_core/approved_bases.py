"""Which base model package should serve: one definition for ingest (an adapter is validated against
the base it will run on), deployment (what replaces a rejected base), the reconciler and the CLI.

The latest approved base is the approved package with the latest approval (the transition the
deployment recorded, else the registry's LastModifiedTime when the event was never seen:
deployment/snapshots.approved_at), ties broken by version, skipping a package whose deployment failed for that very approval (it waits
for a new approval)."""
import datetime
import json
from dataclasses import dataclass
from urllib.parse import urlparse

from loraplane_core.adapters.base_profile import BaseModelProfile
from loraplane_core.deployment import transitions
from loraplane_core.deployment.versions import deployed_base
from loraplane_core.ingest.registry import base_model_uri


@dataclass(frozen=True)
class BaseCandidate:
    package_arn: str
    version: int
    approved_at: str  # ISO 8601, UTC
    deploy_failed: bool = False


def pick_latest(candidates: list[BaseCandidate], excluding: str = "") -> BaseCandidate | None:
    """The decision, pure: latest approval, then highest version; failed or excluded ones never."""
    eligible = [c for c in candidates if c.package_arn != excluding and not c.deploy_failed]
    return max(eligible, key=lambda c: (c.approved_at, c.version), default=None)


def candidate_of(described: dict, seen: dict) -> BaseCandidate:
    """A described Approved package and its recorded transition (empty if never seen)."""
    recorded = seen.get("status") == "Approved" and seen.get("modified")
    modified = described.get("LastModifiedTime") or described["CreationTime"]  # never updated: created Approved
    approved_at = recorded or modified.astimezone(datetime.timezone.utc).isoformat()
    failed = bool(seen.get("deploy_failed")) and seen.get("deploy_failed") == seen.get("modified")
    return BaseCandidate(described["ModelPackageArn"], int(described["ModelPackageVersion"]), approved_at, failed)


def latest_approved_base(sm, table, group: str, excluding: str = "") -> dict | None:
    """The described package `pick_latest` chooses among the group's Approved ones, or None."""
    described = {}
    pages = sm.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group, ModelApprovalStatus="Approved")
    for page in pages:
        for summary in page["ModelPackageSummaryList"]:
            arn = summary["ModelPackageArn"]
            if arn != excluding:
                described[arn] = sm.describe_model_package(ModelPackageName=arn)
    chosen = pick_latest([candidate_of(d, transitions.last_status(table, arn) or {}) for arn, d in described.items()],
                         excluding)
    return described[chosen.package_arn] if chosen else None


def serving_base_package(sm, table, group: str, endpoint: str | None) -> dict | None:
    """The base package the endpoint serves (the deployment's record), else - before any deployment
    finished - the latest approved one."""
    deployed = deployed_base(table, endpoint) if endpoint else None
    if deployed:
        return sm.describe_model_package(ModelPackageName=deployed["package_arn"])
    return latest_approved_base(sm, table, group)


def deployed_base_model(sm, s3, table, base_group: str, endpoint: str | None) -> BaseModelProfile | None:
    """The base model the endpoint serves, else the latest approved one, with its module shapes from
    its config.json: what ingest validates an adapter against."""
    package = serving_base_package(sm, table, base_group, endpoint)
    if package is None:
        return None
    name = package.get("CustomerMetadataProperties", {}).get("base_model")
    uri = urlparse(base_model_uri(package).rstrip("/") + "/config.json")
    body = s3.get_object(Bucket=uri.netloc, Key=uri.path.lstrip("/"), Range="bytes=0-1048575")["Body"].read()
    return BaseModelProfile.from_hf_config(name, json.loads(body))
