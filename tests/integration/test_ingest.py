"""The real ingest state machine in the emulator: upload -> validate -> register -> record -> notify."""
import io
import json
import os
import tarfile
import threading
import uuid

from loraplane.emulator.local_aws import ACCOUNT
from loraplane.emulator.shims.s3_eventbridge import object_created_event
from loraplane.waiting import wait_until
from loraplane_core.adapters.archive import build_adapter_archive


def for_adapter(notes, name):
    return [n for n in notes if n["message"].get("adapter_name") == name]


def test_upload_creates_exactly_one_package(stack, make_adapter, notifications):
    adapter = make_adapter(seed=11)
    stack.upload(adapter, "first-bot", ("adapter_model.safetensors", "adapter_config.json"))
    item = stack.wait_for_item("first-bot", "version#")
    stack.wait_idle()
    packages = stack.packages("first-bot")
    assert len(packages) == 1
    pkg = packages[0]
    meta = pkg["CustomerMetadataProperties"]
    assert meta["adapter_name"] == "first-bot" and meta["base_model"] == "tiny-llama" and meta["rank"] == "8"
    assert meta["target_modules"] == "q_proj,v_proj" and meta["sha256"] == item["sha256"]
    assert meta["source"] == f"s3://{stack.bucket}/adapters/first-bot/"
    assert pkg["ModelApprovalStatus"] == "PendingManualApproval"
    # The serving artifact is one .tar.gz holding the two files at its top level.
    container = pkg["InferenceSpecification"]["Containers"][0]
    bucket, key = container["ModelDataUrl"].removeprefix("s3://").split("/", 1)
    body = stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert container["Image"] == stack.params["ServingImageUri"]
    registered = [n for n in for_adapter(notifications(), "first-bot") if n["message"]["event"] == "adapter.registered"]
    assert len(registered) == 1 and registered[0]["message"]["package_arn"] == pkg["ModelPackageArn"]


def test_replayed_events_create_nothing_new(stack, make_adapter):
    stack.upload(make_adapter(seed=12), "replayed")
    stack.wait_for_item("replayed", "version#")
    stack.wait_idle()
    events = [json.loads(e["input"]) for e in stack.executions_for("adapters/replayed/")]
    assert len(events) == 2
    for event in reversed(events * 3):  # every event three times, newest first
        stack.sfn.start_execution(stateMachineArn=stack.machine, name=f"replay-{uuid.uuid4()}", input=json.dumps(event))
    stack.wait_idle()
    assert len(stack.packages("replayed")) == 1
    assert len([i for i in stack.items("replayed") if i["sk"].startswith("version#")]) == 1


def test_duplicate_out_of_order_events_before_any_registration(stack, make_adapter, notifications):
    """The rule is off while the files land; then each file's event is delivered three times,
    weights first, all at once."""
    events_api = stack.emulator.client("events")
    rule = f"{stack.params['SageMakerProjectName']}-{stack.params['SageMakerProjectId']}-upload"
    events_api.disable_rule(Name=rule)
    try:
        stack.upload(make_adapter(seed=13), "burst")
    finally:
        events_api.enable_rule(Name=rule)
    from moto.s3.models import s3_backends

    backend = s3_backends[ACCOUNT]["aws"]
    bucket = backend.get_bucket(stack.bucket)
    events = [object_created_event(ACCOUNT, bucket, "s3:ObjectCreated:Put", backend.get_object(stack.bucket, f"adapters/burst/{f}"))
              for f in ("adapter_model.safetensors", "adapter_config.json")]
    threads = [threading.Thread(target=stack.sfn.start_execution, kwargs={
        "stateMachineArn": stack.machine, "name": f"dup-{uuid.uuid4()}", "input": json.dumps(e)}) for e in events * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stack.wait_for_item("burst", "version#")
    stack.wait_idle()
    assert len(stack.packages("burst")) == 1
    registered = [n for n in for_adapter(notifications(), "burst") if n["message"]["event"] == "adapter.registered"]
    assert len(registered) == 1
    statuses = [e["status"] for e in stack.executions_for("adapters/burst/")]
    assert statuses == ["SUCCEEDED"] * 6


def test_invalid_upload_is_rejected_with_reason(stack, make_adapter, notifications):
    stack.upload(make_adapter(rank=32), "too-big-rank")
    item = stack.wait_for_item("too-big-rank", "rejection#")
    stack.wait_idle()
    assert item["reason"] == "RANK_TOO_HIGH" and "MaxLoraRank" in item["message"]
    assert stack.packages("too-big-rank") == []
    notes = for_adapter(notifications(), "too-big-rank")
    assert len(notes) == 1 and notes[0]["message"]["reason"] == "RANK_TOO_HIGH"
    assert "RANK_TOO_HIGH" in notes[0]["subject"]


def test_pickle_only_upload(stack, make_adapter):
    import torch
    from safetensors.torch import load_file

    d = make_adapter(seed=14)
    torch.save(load_file(os.path.join(d, "adapter_model.safetensors")), os.path.join(d, "adapter_model.bin"))
    stack.upload(d, "pickled", ("adapter_config.json", "adapter_model.bin"))
    assert stack.wait_for_item("pickled", "rejection#")["reason"] == "PICKLE_WEIGHTS"


def test_half_upload_is_rejected_after_grace_period(stack, make_adapter):
    stack.upload(make_adapter(seed=15), "half", ("adapter_config.json",))
    item = stack.wait_for_item("half", "rejection#", timeout=30)
    assert item["reason"] == "MISSING_WEIGHTS"


def test_tar_gz_upload(stack, make_adapter, tmp_path):
    archive = tmp_path / "adapter.tar.gz"
    build_adapter_archive(make_adapter(seed=16), str(archive))
    stack.s3.upload_file(str(archive), stack.bucket, "adapters/archived/adapter.tar.gz")
    item = stack.wait_for_item("archived", "version#")
    assert item["source"] == f"s3://{stack.bucket}/adapters/archived/adapter.tar.gz"


def test_unsafe_archive_is_rejected(stack, tmp_path):
    path = tmp_path / "adapter.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("../../etc/adapter_config.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    stack.s3.upload_file(str(path), stack.bucket, "adapters/evil/adapter.tar.gz")
    assert stack.wait_for_item("evil", "rejection#")["reason"] == "UNSAFE_ARCHIVE"


def test_new_weights_make_a_new_version_identical_ones_do_not(stack, make_adapter):
    stack.upload(make_adapter(seed=17), "versioned")
    stack.wait_for_item("versioned", "version#")
    stack.wait_idle()
    stack.upload(make_adapter(seed=17), "versioned", ("adapter_model.safetensors",))  # same bytes again
    stack.wait_idle()
    assert len(stack.packages("versioned")) == 1
    stack.upload(make_adapter(seed=18), "versioned", ("adapter_model.safetensors",))  # new weights
    wait_until(lambda: len([i for i in stack.items("versioned") if i["sk"].startswith("version#")]) == 2,
               timeout=60, what="a second version")
    stack.wait_idle()
    assert len({p["CustomerMetadataProperties"]["sha256"] for p in stack.packages("versioned")}) == 2


def test_other_rejections_reach_the_catalog(stack, make_adapter):
    d = make_adapter(seed=19)
    cfg_path = os.path.join(d, "adapter_config.json")
    cfg = json.load(open(cfg_path))
    json.dump({**cfg, "base_model_name_or_path": "meta-llama/Llama-3.1-8B"}, open(cfg_path, "w"))
    stack.upload(d, "wrong-base")
    stack.upload(make_adapter(seed=19), "Bad_Name")
    # Over the stack's MaxAdapterBytes (1 MB here): refused from the listing, before any download.
    stack.s3.put_object(Bucket=stack.bucket, Key="adapters/huge/adapter_model.safetensors", Body=b"\0" * 1_100_000)
    stack.upload(make_adapter(seed=19), "huge", ("adapter_config.json",))
    assert stack.wait_for_item("wrong-base", "rejection#")["reason"] == "BASE_MODEL_MISMATCH"
    assert stack.wait_for_item("Bad_Name", "rejection#")["reason"] == "INVALID_ADAPTER_NAME"
    assert stack.wait_for_item("huge", "rejection#")["reason"] == "TOO_LARGE"


def test_non_adapter_files_are_ignored(stack):
    stack.s3.put_object(Bucket=stack.bucket, Key="adapters/notes/README.md", Body=b"hello")
    execution = wait_until(lambda: [e for e in stack.executions_for("adapters/notes/") if e["status"] != "RUNNING"],
                           timeout=30, what="the README execution")[0]
    assert execution["status"] == "SUCCEEDED" and stack.items("notes") == []


def test_auto_approve_registers_versions_as_approved(stack):
    """AutoApproveAdapters=true: the registration step creates Approved versions."""
    from loraplane_core.ingest.payloads import ValidationResult
    from loraplane_core.ingest.registry import register_adapter

    v = ValidationResult(outcome="valid", adapter_name="auto", source="s3://b/adapters/auto/", sha256="0" * 64,
                         base_model="tiny-llama", rank=8, target_modules=["q_proj"], size_bytes=1,
                         artifact_uri="s3://b/artifacts/auto/x/adapter.tar.gz")
    group = stack.outputs["AdapterModelPackageGroupName"]
    approved = register_adapter(stack.sm, group, "img", v, auto_approve=True)
    pending = register_adapter(stack.sm, group, "img", v.model_copy(update={"sha256": "1" * 64}), auto_approve=False)
    status = {arn: stack.sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"]
              for arn in (approved.package_arn, pending.package_arn)}
    assert status == {approved.package_arn: "Approved", pending.package_arn: "PendingManualApproval"}


def test_event_for_a_deleted_archive_is_ignored(stack):
    """The archive named by the event is gone by the time the event is handled: nothing to do
    (and no endless wait for it)."""
    event = json.load(open(os.path.join(os.path.dirname(__file__), "..", "events", "s3-object-created.json")))
    event["detail"]["bucket"]["name"] = stack.bucket
    event["detail"]["object"]["key"] = "adapters/gone/adapter.tar.gz"
    arn = stack.sfn.start_execution(stateMachineArn=stack.machine, name=f"gone-{uuid.uuid4()}",
                                    input=json.dumps(event))["executionArn"]
    done = wait_until(lambda: (d := stack.sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d,
                      timeout=30, what="the execution")
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"])["validation"]["outcome"] == "ignored"
    assert stack.items("gone") == []
