"""The wiring around the deployment's decisions, on moto's in-process DynamoDB and SageMaker (no
server, no serving process): transitions, the endpoint lock, and snapshots read from the catalog
and the registry into decisions.plan_adapter (the decisions themselves: test_decisions.py)."""
import copy
import json
from pathlib import Path

import boto3
import pytest
from loraplane_core import catalog_keys, errors
from loraplane_core.deployment import decisions, endpoint_lock, snapshots, transitions
from loraplane_core.deployment import versions as deployments
from loraplane_core.package_events import change_of, parse_event
from loraplane_core.settings import Settings

EVENT = json.loads((Path(__file__).parents[1] / "events" / "sagemaker-model-package-state-change.json").read_text())
GROUP = "versionedmp-p-idy6c3e1fiqj"
SETTINGS = Settings(project_name="p", project_id="i", adapter_bucket="b", catalog_table="catalog", idempotency_table="x",
                    topic_arn="t", adapter_group=GROUP, base_group="p-i-base", serving_image_uri="img",
                    endpoint_name="p-i-endpoint", execution_role_arn="arn:aws:iam::1:role/endpoint")


@pytest.fixture
def aws(in_process_aws):
    ddb = boto3.resource("dynamodb", region_name="us-east-1")
    table = ddb.create_table(TableName=f"catalog-{in_process_aws}", BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                   {"AttributeName": "sk", "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                        {"AttributeName": "sk", "KeyType": "RANGE"}])
    yield table, boto3.client("sagemaker", region_name="us-east-1")


def event(status: str, modified: str, version: int = 2, **meta) -> dict:
    ev = copy.deepcopy(EVENT)
    arn = f"arn:aws:sagemaker:us-east-2:123456789012:model-package/{GROUP}/{version}"
    ev["detail"].update(ModelApprovalStatus=status, LastModifiedTime=modified, ModelPackageVersion=version,
                        ModelPackageArn=arn, CustomerMetadataProperties={"adapter_name": "bot", **meta})
    return ev


def test_aws_sample_event_parses_into_the_exact_package_version():
    change = change_of(parse_event(EVENT), "other-group", GROUP)
    assert change.kind == "adapter" and change.action == "rejected" and change.version == 2
    assert change.package_arn == EVENT["detail"]["ModelPackageArn"]
    assert change.artifact_uri == EVENT["detail"]["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    assert change_of(parse_event(EVENT), "a", "b") is None  # another project's group


def test_only_real_transitions_proceed(aws):
    table, _ = aws
    created = transitions.detect(table, SETTINGS, parse_event(event("PendingManualApproval", "2026-01-01T10:00:00Z")))
    assert not created.proceed and "nothing to deploy" in created.why
    approved = transitions.detect(table, SETTINGS, parse_event(event("Approved", "2026-01-01T10:05:00Z")))
    assert approved.proceed and approved.change.action == "approved"
    duplicate = transitions.detect(table, SETTINGS, parse_event(event("Approved", "2026-01-01T10:05:00Z")))
    assert not duplicate.proceed
    rejected = transitions.detect(table, SETTINGS, parse_event(event("Rejected", "2026-01-01T10:10:00Z")))
    assert rejected.proceed and rejected.change.action == "rejected"
    # The approval event delivered again, late: older than what we know, so no flip back.
    late = transitions.detect(table, SETTINGS, parse_event(event("Approved", "2026-01-01T10:05:00Z")))
    assert not late.proceed
    assert transitions.last_status(table, rejected.change.package_arn)["status"] == "Rejected"


def test_creation_event_arriving_after_the_approval_in_the_same_second_is_ignored(aws):
    """Registered and approved within one second: the Pending event, delivered last, changes nothing."""
    table, _ = aws
    assert transitions.detect(table, SETTINGS, parse_event(event("Approved", "2026-01-01T10:00:00Z"))).proceed
    assert not transitions.detect(table, SETTINGS, parse_event(event("PendingManualApproval", "2026-01-01T10:00:00Z"))).proceed
    assert transitions.last_status(table, event("Approved", "2026-01-01T10:00:00Z")["detail"]["ModelPackageArn"])["status"] == "Approved"


def test_reconciler_replays_bypass_the_transition_check(aws):
    table, _ = aws
    ev = event("Approved", "2026-01-01T10:05:00Z")
    assert transitions.detect(table, SETTINGS, parse_event(ev)).proceed
    replay = {**ev, "source": "loraplane.reconciler"}
    assert transitions.detect(table, SETTINGS, parse_event(replay)).proceed


def test_endpoint_lock_is_exclusive_reentrant_and_expires(aws):
    table, _ = aws
    assert endpoint_lock.acquire(table, "ep", "exec-1", now=1000)
    assert not endpoint_lock.acquire(table, "ep", "exec-2", now=1001)
    assert endpoint_lock.acquire(table, "ep", "exec-1", now=1002)  # a retried acquire by the holder
    assert not endpoint_lock.release(table, "ep", "exec-2")  # not the holder's
    assert endpoint_lock.release(table, "ep", "exec-1")
    assert endpoint_lock.acquire(table, "ep", "exec-2", now=1003)
    # A crashed holder's lease runs out.
    assert endpoint_lock.acquire(table, "ep", "exec-3", now=1003 + endpoint_lock.LEASE_SECONDS + 1)


def put_version(table, sm, adapter: str, sha: str, base: str, status: str, modified: str, state="registered") -> dict:
    if not any(g["ModelPackageGroupName"] == GROUP for g in sm.list_model_package_groups()["ModelPackageGroupSummaryList"]):
        sm.create_model_package_group(ModelPackageGroupName=GROUP)
    arn = sm.create_model_package(ModelPackageGroupName=GROUP, ModelApprovalStatus=status,
                                  InferenceSpecification={"Containers": [{"Image": "img", "ModelDataUrl": f"s3://b/artifacts/{adapter}/{sha}/adapter.tar.gz"}],
                                                          "SupportedContentTypes": ["application/json"],
                                                          "SupportedResponseMIMETypes": ["application/json"]})["ModelPackageArn"]
    version = int(arn.rsplit("/", 1)[1])
    item = {"pk": f"adapter#{adapter}", "sk": f"version#{sha}", "adapter_name": adapter, "state": state, "sha256": sha,
            "package_arn": arn, "package_version": version, "base_model": base, "artifact_uri": f"s3://b/artifacts/{adapter}/{sha}/adapter.tar.gz"}
    table.put_item(Item=item)
    table.put_item(Item={**catalog_keys.approval_key(arn), "status": status, "modified": modified})
    return item


def change_for(item: dict, action: str, modified: str):
    ev = event("Approved" if action == "approved" else "Rejected", modified, version=item["package_version"], base_model=item["base_model"])
    ev["detail"]["ModelPackageArn"] = item["package_arn"]
    change = change_of(parse_event(ev), SETTINGS.base_group, GROUP)
    transitions.record_transition(TABLE["t"], change)  # as DetectTransition does before any plan
    return change


TABLE: dict = {}


def set_base(table, name="tiny"):
    table.put_item(Item={**catalog_keys.base_key("ep"), "package_arn": "arn:base/1", "version": 1, "base_model": name})


class Clients:
    def __init__(self, table, sm):
        self.catalog, self.sagemaker = table, sm


def plan(table, sm, change, base_ready=True):
    """What ApplyAdapterDecision decides: the snapshot read from moto, then the pure decision."""
    base = deployments.deployed_base(table, "ep")
    snap = decisions.AdapterSnapshot(adapter=change.name, versions=snapshots.version_views(Clients(table, sm), change.name),
                                     deployed_base=base["base_model"] if base else None, base_ready=base_ready,
                                     seen=snapshots.seen_of(table, change.package_arn))
    return decisions.plan_adapter(snap, change)


def test_adapter_plans(aws):
    table, sm = aws
    TABLE["t"] = table
    v1 = put_version(table, sm, "bot", "a" * 64, "tiny", "Approved", "2026-01-01T10:00:00+00:00")
    assert plan(table, sm, change_for(v1, "approved", "2026-01-01T10:00:00+00:00")).outcome == "deferred"  # no base yet
    set_base(table)
    p = plan(table, sm, change_for(v1, "approved", "2026-01-01T10:00:00+00:00"))
    assert p.outcome == "deploy" and p.target.package_arn == v1["package_arn"] and p.previous is None
    deployments.set_state(table, v1, "live")
    other = put_version(table, sm, "bot", "c" * 64, "other-base", "Approved", "2026-01-01T10:01:00+00:00")
    assert plan(table, sm, change_for(other, "approved", "2026-01-01T10:01:00+00:00")).outcome == "incompatible"
    v2 = put_version(table, sm, "bot", "b" * 64, "tiny", "Approved", "2026-01-01T09:00:00+00:00")
    # v2's approval is older than v1's, which is live: the later decision stands.
    assert plan(table, sm, change_for(v2, "approved", "2026-01-01T09:00:00+00:00")).outcome == "superseded"
    # Rejecting live v1 brings back the most recently approved compatible version: v2.
    sm.update_model_package(ModelPackageArn=v1["package_arn"], ModelApprovalStatus="Rejected")
    p = plan(table, sm, change_for(v1, "rejected", "2026-01-01T11:00:00+00:00"))
    assert p.outcome == "deploy" and p.target.package_arn == v2["package_arn"]
    assert p.previous.package_arn == v1["package_arn"]
    # With v2 rejected too, nothing compatible is left: retire.
    sm.update_model_package(ModelPackageArn=v2["package_arn"], ModelApprovalStatus="Rejected")
    assert plan(table, sm, change_for(v1, "rejected", "2026-01-01T11:00:00+00:00")).outcome == "retire"
    # Rejecting a version that is not live changes nothing on the endpoint.
    assert plan(table, sm, change_for(v2, "rejected", "2026-01-01T11:00:00+00:00")).outcome == "rejected_not_live"


def test_a_decision_overtaken_by_a_newer_one_is_not_applied(aws):
    """v approved at t1, rejected at t2; the approval's execution gets the lock last: it must not deploy."""
    table, sm = aws
    TABLE["t"] = table
    set_base(table)
    v = put_version(table, sm, "bot", "d" * 64, "tiny", "Approved", "2026-01-01T10:00:00+00:00")
    approval = change_for(v, "approved", "2026-01-01T10:00:00+00:00")
    change_for(v, "rejected", "2026-01-01T10:01:00+00:00")
    assert plan(table, sm, approval).outcome == "superseded"


def test_a_replayed_approval_of_a_version_rejected_since_is_not_applied(aws):
    """The reconciler's replay says "Approved" (its DescribeModelPackage snapshot); the user rejects
    the version before the replay gets the lock: the registry, read now, decides (issue 11, #4)."""
    table, sm = aws
    TABLE["t"] = table
    set_base(table)
    v = put_version(table, sm, "bot", "f" * 64, "tiny", "Approved", "2026-01-01T10:00:00+00:00")
    replay = change_for(v, "approved", "2026-01-01T10:00:00+00:00").model_copy(update={"replayed_by_reconciler": True})
    assert plan(table, sm, replay).outcome == "deploy"
    sm.update_model_package(ModelPackageArn=v["package_arn"], ModelApprovalStatus="Rejected")
    assert plan(table, sm, replay).outcome == "retire"  # the rejection is what is acted on


def test_a_decision_before_ingest_recorded_the_version_is_retried(aws):
    table, sm = aws
    TABLE["t"] = table
    set_base(table)
    v = put_version(table, sm, "late", "e" * 64, "tiny", "Approved", "2026-01-01T10:00:00+00:00")
    table.delete_item(Key={"pk": v["pk"], "sk": v["sk"]})
    with pytest.raises(errors.VersionNotCatalogued):
        plan(table, sm, change_for(v, "approved", "2026-01-01T10:00:00+00:00"))


def test_a_step_that_lost_the_lock_changes_nothing(aws):
    """Fencing: the lease ran out and another execution took the endpoint."""
    table, _ = aws
    assert endpoint_lock.acquire(table, "ep-f", "exec-1", now=1000)
    endpoint_lock.ensure_held(table, "ep-f", "exec-1", now=1001)
    with pytest.raises(errors.LockLost):
        endpoint_lock.ensure_held(table, "ep-f", "exec-2", now=1001)
    with pytest.raises(errors.LockLost):  # our own lease, run out
        endpoint_lock.ensure_held(table, "ep-f", "exec-1", now=1000 + endpoint_lock.LEASE_SECONDS + 1)
    assert endpoint_lock.release(table, "ep-f", "exec-1")
    with pytest.raises(errors.LockLost):
        endpoint_lock.ensure_held(table, "ep-f", "exec-1", now=1002)
