"""The pipeline's last step: the adapter goes to adapters/<name>/ like any upload, with its training
metadata, so ingest validates and registers it the same way and adds the metrics to the package."""
import hashlib
import json
import os

CONFIG_FILE, WEIGHTS_FILE = "adapter_config.json", "adapter_model.safetensors"
METADATA_FILE = "training_metadata.json"


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_metadata(adapter_name: str, adapter_dir: str, training: dict, evaluation: dict,
                   execution_arn: str | None) -> dict:
    """training: training_metrics.json as the trainer wrote it; evaluation: evaluation.json."""
    metrics = {"training_loss": training["final_loss"], "training_steps": training["steps"],
               "training_seconds": training["seconds"]}
    metrics |= {k: v for k, v in evaluation.items() if isinstance(v, (int, float))}
    return {"adapter_name": adapter_name, "sha256": sha256_file(os.path.join(adapter_dir, WEIGHTS_FILE)),
            "pipeline_execution_arn": execution_arn, "base_model": training.get("base_model"),
            "metrics": metrics, "hyperparameters": training.get("hyperparameters", {}),
            "loss_curve": training.get("loss_curve", [])}


def hand_off(s3, bucket: str, adapter_name: str, adapter_dir: str, metadata: dict) -> str:
    """Metadata first, weights last: by the time the upload is complete its metadata is there."""
    prefix = f"adapters/{adapter_name}/"
    s3.put_object(Bucket=bucket, Key=prefix + METADATA_FILE, Body=json.dumps(metadata, indent=2).encode(),
                  ContentType="application/json")
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        s3.upload_file(os.path.join(adapter_dir, name), bucket, prefix + name)
    return f"s3://{bucket}/{prefix}"
