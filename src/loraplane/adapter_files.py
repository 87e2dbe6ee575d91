"""`loraplane adapters validate|upload`: an adapter directory (or adapter.tar.gz) checked with ingest's own rules
(loraplane_core.adapters: same code, same reasons), and uploaded in the layout ingest reads (CONTRACTS §2)."""
import json
import os
import shutil
import tempfile
from dataclasses import asdict

from loraplane_core.adapters.base_profile import BaseModelProfile
from loraplane_core.adapters.reasons import AdapterRejected
from loraplane_core.adapters.upload_layout import ARCHIVE_FILE, CONFIG_FILE, UPLOAD_PREFIX, WEIGHTS_FILE
from loraplane_core.adapters.validation import Policy, ValidatedAdapter, validate_adapter_dir

from .cli_errors import Usage
from .progress import Progress  # noqa: F401 - upload's progress; tests import it from here

ENCRYPTION_KEYS = ("s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id")


def is_archive(path: str) -> bool:
    return os.path.isfile(path) and path.endswith((".tar.gz", ".tgz"))


def check_source(path: str) -> None:
    if not (os.path.isdir(path) or is_archive(path)):
        raise Usage(f"{path} is neither a directory nor a .tar.gz archive",
                    "Pass the folder PEFT's save_pretrained wrote, or an adapter.tar.gz holding its files")


def offline_base(base_dir: str, name: str | None = None) -> BaseModelProfile:
    """The base model's LoRA profile from its config.json; named as register-base names it (the folder)."""
    config = os.path.join(base_dir, "config.json")
    if not os.path.isfile(config):
        raise Usage(f"no config.json in {base_dir}",
                    "Pass --base-model-dir the Hugging Face model directory of the base model")
    name = name or os.path.basename(os.path.normpath(base_dir))
    try:
        return BaseModelProfile.from_config_file(name, config)
    except (ValueError, KeyError) as e:  # not JSON, an unsupported family, a missing field
        raise Usage(f"{config} is not a base model LoRA Plane serves ({type(e).__name__}: {e})") from None


def stack_base(session, outputs: dict) -> BaseModelProfile | None:
    """The base model ingest validates against: the one the endpoint serves, else the latest approved."""
    from loraplane_core.approved_bases import deployed_base_model

    table = session.resource("dynamodb").Table(outputs["CatalogTableName"])
    return deployed_base_model(session.client("sagemaker"), session.client("s3"), table,
                               outputs["BaseModelPackageGroupName"], outputs.get("EndpointName"))


def stack_policy(parameters: dict) -> Policy:
    default = Policy()
    return Policy(max_rank=int(parameters.get("MaxLoraRank") or default.max_rank),
                  max_bytes=int(parameters.get("MaxAdapterBytes") or default.max_bytes))


def validate(path: str, policy: Policy, base: BaseModelProfile | None) -> ValidatedAdapter:
    """validate_adapter_dir on the directory, or on the archive extracted as ingest extracts it."""
    check_source(path)
    if not is_archive(path):
        return validate_adapter_dir(path, policy, base)
    from loraplane_core.adapters.staging import stage_files  # extracts as ingest does: links, `..`, sizes refused

    work = tempfile.mkdtemp(prefix="loraplane-validate-")
    try:
        dest = os.path.join(work, "adapter")
        os.mkdir(dest)
        stage_files({ARCHIVE_FILE: os.path.getsize(path)}, lambda _, to: shutil.copyfile(path, to), dest,
                    policy.max_bytes, from_archive=True)
        return validate_adapter_dir(dest, policy, base)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check(path: str, policy: Policy, base: BaseModelProfile | None) -> dict:
    """The verdict as JSON-able data: valid with what ingest would record, or the rule broken and why."""
    try:
        checked = validate(path, policy, base)
    except AdapterRejected as r:
        return {"path": path, "valid": False, "reason": str(r.reason), "message": r.message}
    return {"path": path, "valid": True, **asdict(checked), "target_modules": list(checked.target_modules)}


def render_check(result: dict, output: str) -> str:
    if output == "json":
        return json.dumps(result, indent=2)
    if not result["valid"]:
        return f"rejected  {result['reason']}: {result['message']}"
    return (f"valid     base {result['base_model']}, rank {result['rank']}, target modules "
            f"{','.join(result['target_modules'])}, {result['dtype']}, {result['size_bytes']} bytes, "
            f"sha256 {result['sha256'][:12]}")


# -- upload --------------------------------------------------------------------------------------------
def required_encryption(s3, bucket: str) -> dict:
    """SSE-KMS arguments when the bucket policy denies uploads without them; {} otherwise (the template's
    policy only requires TLS, and the bucket's default encryption applies the stack's KMS key)."""
    from botocore.exceptions import ClientError

    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except (ClientError, ValueError, KeyError):  # no policy, or no permission to read it: the default applies
        return {}
    statements = policy.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    def demands(statement) -> bool:
        conditions = statement.get("Condition") or {}
        keys = [k.lower() for c in (conditions.values() if isinstance(conditions, dict) else ()) if isinstance(c, dict)
                for k in c]
        return statement.get("Effect") == "Deny" and any(k in ENCRYPTION_KEYS for k in keys)

    demanded = any(demands(s) for s in statements if isinstance(s, dict))
    if not demanded:
        return {}
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    key = next((r["ApplyServerSideEncryptionByDefault"].get("KMSMasterKeyID") for r in rules
                if "ApplyServerSideEncryptionByDefault" in r), None)
    return {"ServerSideEncryption": "aws:kms", **({"SSEKMSKeyId": key} if key else {})}


def files_of(path: str) -> list[tuple[str, str]]:
    """(local path, file name under adapters/<name>/): the two files ingest reads, or the archive."""
    if is_archive(path):
        return [(path, ARCHIVE_FILE)]
    missing = [f for f in (CONFIG_FILE, WEIGHTS_FILE) if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise Usage(f"{path} has no {' or '.join(missing)}", "Save the adapter with PEFT's save_pretrained "
                       "(safe_serialization=True)")
    return [(os.path.join(path, f), f) for f in (WEIGHTS_FILE, CONFIG_FILE)]  # any order works (CONTRACTS §2)


def upload(s3, bucket: str, name: str, path: str, quiet: bool = False) -> dict:
    """Uploads with boto3's managed transfer (multipart for large weights) to s3://bucket/adapters/<name>/."""
    from boto3.s3.transfer import TransferConfig

    prefix = f"{UPLOAD_PREFIX}{name}/"
    extra = required_encryption(s3, bucket)
    uploaded = []
    for local_path, filename in files_of(path):
        size = os.path.getsize(local_path)
        callback = None if quiet else Progress(f"s3://{bucket}/{prefix}{filename}", size)
        s3.upload_file(local_path, bucket, prefix + filename, ExtraArgs=extra or None, Callback=callback,
                       Config=TransferConfig(multipart_threshold=64 * 1024 * 1024))
        if callback and size == 0:
            callback(0)
        uploaded.append({"key": prefix + filename, "bytes": size})
    return {"adapter": name, "source": f"s3://{bucket}/{prefix}", "files": uploaded,
            "encryption": extra.get("ServerSideEncryption", "bucket default")}
