"""`loraplane models register-base`: upload a Hugging Face model directory and register it."""
import hashlib
import os

from loraplane_core.ingest.registry import register_base_model

from .progress import Progress, Steps

MODEL_FILES_SKIPPED = (".git",)


def model_files(model_dir: str) -> list[str]:
    """The directory's files, .git left out, in the digest's order: folders by path, then files by name."""
    folders = []
    for root, dirs, files in os.walk(model_dir):
        dirs[:] = [d for d in dirs if d not in MODEL_FILES_SKIPPED]
        folders.append((root, sorted(files)))
    return [os.path.join(root, name) for root, files in sorted(folders) for name in files]


def directory_digest(model_dir: str, progress=None) -> str:
    """sha256 over each file's relative path and bytes; `progress(n)` after each chunk of n bytes read."""
    h = hashlib.sha256()
    for path in model_files(model_dir):
        h.update(os.path.relpath(path, model_dir).encode())
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
                if progress:
                    progress(len(chunk))
    return h.hexdigest()


def upload_model_dir(s3, bucket: str, model_dir: str, name: str, steps: Steps | None = None) -> str:
    """Uploads to a content-addressed prefix; returns its s3:// URI (uncompressed, as SageMaker reads it).
    With `steps`, hashing and uploading report their bytes on stderr (a base model is gigabytes)."""
    files = model_files(model_dir)
    total = sum(os.path.getsize(p) for p in files)
    shown = steps is not None and not steps.quiet
    if shown:
        steps(f"Hashing {model_dir}: {len(files)} files, {total / 2**20:.1f} MiB ...")
    digest = directory_digest(model_dir, Progress(model_dir, total, verb="Hashing") if shown else None)
    prefix = f"base-models/{name.replace('/', '--')}/{digest[:16]}/"
    if shown:
        steps(f"Uploading to s3://{bucket}/{prefix} ...")
    sent = Progress(f"s3://{bucket}/{prefix}", total) if shown else None
    for path in files:
        s3.upload_file(path, bucket, prefix + os.path.relpath(path, model_dir).replace(os.sep, "/"), Callback=sent)
    if sent and total == 0:
        sent(0)
    return f"s3://{bucket}/{prefix}"


def register(session, outputs: dict, name: str, image: str, model_dir: str | None = None, s3_uri: str | None = None,
             approve: bool = False, steps: Steps | None = None) -> str:
    """The model package ARN."""
    steps = steps or Steps(quiet=True)
    if model_dir:
        s3_uri = upload_model_dir(session.client("s3"), outputs["AdapterBucketName"], model_dir, name, steps)
    sm = session.client("sagemaker")
    steps(f"Registering {name} ({s3_uri}) in {outputs['BaseModelPackageGroupName']} ...")
    arn = register_base_model(sm, outputs["BaseModelPackageGroupName"], image, name, s3_uri)
    if approve:
        steps("Approving it: the deployment puts it on the endpoint (loraplane status follows it)")
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    return arn
