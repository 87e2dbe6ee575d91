"""`loraplane models register-base`: upload a Hugging Face model directory and register it."""
import hashlib
import os

from loraplane_core.ingest.registry import register_base_model

MODEL_FILES_SKIPPED = (".git",)


def directory_digest(model_dir: str) -> str:
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(model_dir)):
        dirs[:] = sorted(d for d in dirs if d not in MODEL_FILES_SKIPPED)
        for name in sorted(files):
            path = os.path.join(root, name)
            h.update(os.path.relpath(path, model_dir).encode())
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


def upload_model_dir(s3, bucket: str, model_dir: str, name: str) -> str:
    """Uploads to a content-addressed prefix; returns its s3:// URI (uncompressed, as SageMaker reads it)."""
    prefix = f"base-models/{name.replace('/', '--')}/{directory_digest(model_dir)[:16]}/"
    for root, dirs, files in os.walk(model_dir):
        dirs[:] = [d for d in dirs if d not in MODEL_FILES_SKIPPED]
        for file in files:
            path = os.path.join(root, file)
            s3.upload_file(path, bucket, prefix + os.path.relpath(path, model_dir).replace(os.sep, "/"))
    return f"s3://{bucket}/{prefix}"


def register(session, outputs: dict, name: str, image: str, model_dir: str | None = None, s3_uri: str | None = None,
             approve: bool = False) -> str:
    if model_dir:
        s3_uri = upload_model_dir(session.client("s3"), outputs["AdapterBucketName"], model_dir, name)
    sm = session.client("sagemaker")
    arn = register_base_model(sm, outputs["BaseModelPackageGroupName"], image, name, s3_uri)
    if approve:
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    return arn
