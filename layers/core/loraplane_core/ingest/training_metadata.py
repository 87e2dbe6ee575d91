"""Provenance of pipeline-trained adapters: `adapters/<name>/training_metadata.json`.

The fine-tuning pipeline writes it before the adapter's files. When it is there and describes
these very weights (its sha256), the model package gets the metrics (ModelMetrics, and
CustomerMetadataProperties such as training_loss) and the pipeline execution (GeneratedBy).
A stale or unreadable file never blocks an upload: it is left out.
"""
import json
import logging
from typing import Annotated

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

METADATA_FILE = "training_metadata.json"
MAX_METADATA_BYTES = 256 * 1024
MAX_METRICS = 16  # CustomerMetadataProperties holds 50 entries; leave room for ours
MAX_METRIC_NAME = 64  # Validate's output travels in the state machine (256 KB): names stay short

logger = logging.getLogger(__name__)


class TrainingMetadata(BaseModel):
    """The file as the pipeline's hand-off step writes it (other fields are kept in S3 only)."""
    model_config = ConfigDict(defer_build=True)  # built on first use, not in every handler's cold start
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    pipeline_execution_arn: str | None = Field(default=None, max_length=1024)
    metrics: dict[Annotated[str, Field(min_length=1, max_length=MAX_METRIC_NAME)], float] = Field(
        default_factory=dict, max_length=256)


class TrainingProvenance(BaseModel):
    """What validation passes on to registration (small: it travels in the state machine)."""
    model_config = ConfigDict(defer_build=True)
    metrics_uri: str
    pipeline_execution_arn: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)


def read_metadata(s3, bucket: str, key: str) -> tuple[TrainingMetadata, bytes] | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_METADATA_BYTES - 1}")["Body"].read()
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "AccessDenied"):
            return None
        raise
    try:
        return TrainingMetadata.model_validate(json.loads(body)), body
    except (ValueError, ValidationError) as e:
        logger.warning("ignoring unreadable %s: %s", key, str(e)[:300])
        return None


def attach_provenance(s3, bucket: str, upload_prefix: str, sha256: str, artifact_prefix: str) -> TrainingProvenance | None:
    """Copies the metadata next to the serving artifact (content-addressed, as the model package
    must keep pointing at it after later uploads) when it describes these weights."""
    found = read_metadata(s3, bucket, upload_prefix + METADATA_FILE)
    if found is None:
        return None
    metadata, body = found
    if metadata.sha256 != sha256:
        logger.info("%s%s describes other weights (%s): left out", upload_prefix, METADATA_FILE, metadata.sha256[:12])
        return None
    key = artifact_prefix + METADATA_FILE
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    metrics = dict(sorted(metadata.metrics.items())[:MAX_METRICS])
    return TrainingProvenance(metrics_uri=f"s3://{bucket}/{key}", pipeline_execution_arn=metadata.pipeline_execution_arn,
                              metrics=metrics)


def package_fields(p: TrainingProvenance) -> dict:
    """The CreateModelPackage arguments that carry a training run's results."""
    fields = {"ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": p.metrics_uri}}}}
    if p.pipeline_execution_arn:
        fields["MetadataProperties"] = {"GeneratedBy": p.pipeline_execution_arn}
    return fields


def metadata_properties(p: TrainingProvenance) -> dict[str, str]:
    return {name[:128]: f"{value:.6g}" for name, value in p.metrics.items()}
