"""Ingest step 1, the validate_adapter function's: is the upload complete, valid and new? Stages the
serving artifact if so. Its own module: the other ingest functions (steps.py) do not import the
adapter checks at cold start (docs/benchmarks.md)."""
import os
import shutil
import tempfile

from loraplane_core import catalog
from loraplane_core.adapters.archive import build_adapter_archive
from loraplane_core.adapters.reasons import AdapterRejected, Reason
from loraplane_core.adapters.s3_upload import SETTLE_SECONDS, fetch_upload, plan_upload
from loraplane_core.adapters.upload_layout import check_adapter_name, is_relevant_file, parse_upload_key
from loraplane_core.adapters.validation import Policy, validate_adapter_dir
from loraplane_core.approved_bases import deployed_base_model
from loraplane_core.aws import AwsClients
from loraplane_core.ingest.payloads import ObjectCreated, ValidationResult
from loraplane_core.ingest.training_metadata import attach_provenance
from loraplane_core.settings import Settings


def validate_upload(c: AwsClients, s: Settings, ev: ObjectCreated, final: bool) -> ValidationResult:
    bucket, key = ev.detail.bucket.name, ev.detail.object.key
    upload = parse_upload_key(key)
    if upload is None or not is_relevant_file(upload.filename):
        return ValidationResult(outcome="ignored", source=f"s3://{bucket}/{key}")
    name = upload.adapter_name
    source = f"s3://{bucket}/{upload.prefix}"
    work = tempfile.mkdtemp(prefix="adapter-")
    staged = None
    try:
        check_adapter_name(name)
        staged = plan_upload(c.s3, bucket, upload, final)
        source = staged.source
        if staged.gone:
            return ValidationResult(outcome="ignored", adapter_name=name, source=source)
        if not staged.complete:
            return ValidationResult(outcome="incomplete", adapter_name=name, source=source,
                                    fingerprint=staged.fingerprint, grace_seconds=s.upload_grace_seconds)
        if staged.settling:  # the other file may be landing now: validate the pair once it has
            return ValidationResult(outcome="incomplete", adapter_name=name, source=source,
                                    fingerprint=staged.fingerprint, grace_seconds=SETTLE_SECONDS)
        fetch_upload(c.s3, bucket, upload, staged, work, s.max_adapter_bytes)
        base = deployed_base_model(c.sagemaker, c.s3, c.catalog, s.base_group, s.endpoint_name)
        checked = validate_adapter_dir(work, Policy(max_rank=s.max_lora_rank, max_bytes=s.max_adapter_bytes), base)
    except AdapterRejected as r:
        return ValidationResult(outcome="rejected", adapter_name=name, source=source, reason=str(r.reason),
                                message=r.message, fingerprint=staged.fingerprint if staged else key)
    else:
        result = ValidationResult(
            outcome="valid", adapter_name=name, source=source, fingerprint=staged.fingerprint,
            sha256=checked.sha256, config_sha256=checked.config_sha256, base_model=checked.base_model,
            rank=checked.rank, target_modules=list(checked.target_modules), size_bytes=checked.size_bytes,
        )
        registered = catalog.find_version(c.catalog, name, checked.sha256)
        if registered:
            return duplicate_or_conflict(result, registered)
        # Content-addressed artifact: duplicate events overwrite it with identical bytes.
        archive = os.path.join(work, "adapter.tar.gz")
        build_adapter_archive(work, archive)
        artifact_prefix = f"artifacts/{name}/{checked.sha256}/"
        c.s3.upload_file(archive, bucket, artifact_prefix + "adapter.tar.gz")
        training = attach_provenance(c.s3, bucket, upload.prefix, checked.sha256, artifact_prefix)
        return result.model_copy(update={"artifact_uri": f"s3://{bucket}/{artifact_prefix}adapter.tar.gz",
                                         "training": training})
    finally:
        shutil.rmtree(work, ignore_errors=True)


def duplicate_or_conflict(result: ValidationResult, registered: dict) -> ValidationResult:
    """Identical weights are a duplicate (CONTRACTS.md: nothing new) - unless they come with another
    config than the version registered: then the user is told, rather than left with a version whose
    config is not the one they uploaded last."""
    if registered.get("config_sha256") in (None, result.config_sha256):
        return result.model_copy(update={"outcome": "duplicate"})
    r = AdapterRejected(Reason.CONFIG_CONFLICT, f"these weights are version {registered.get('package_version')} "
                        "already, registered with another adapter_config.json; a new version needs new weights "
                        "(re-save or retrain the adapter with this config)")
    return result.model_copy(update={"outcome": "rejected", "reason": str(r.reason), "message": r.message})
