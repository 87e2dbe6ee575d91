"""SageMaker processing job: held-out loss / perplexity of the trained adapter vs its base model.

Inputs under /opt/ml/processing/: base/ (Hugging Face directory), model/ (the training job's
model.tar.gz), eval/ (one .jsonl). Output: evaluation/evaluation.json, read by the pipeline's
quality gate (a JsonGet on eval_loss and base_eval_loss).
"""
import argparse
import json
import os
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from loraplane_training.evaluation import evaluate  # noqa: E402
from loraplane_training.sagemaker_env import single_jsonl  # noqa: E402

ROOT = "/opt/ml/processing"


def unpack_model(model_dir: str) -> str:
    """The training job's model.tar.gz, extracted next to it (SageMaker always packs model/ so)."""
    archive = os.path.join(model_dir, "model.tar.gz")
    if os.path.exists(archive):
        with tarfile.open(archive) as tar:
            tar.extractall(model_dir, filter="data")
    return model_dir


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--root", default=ROOT)
    p.add_argument("--max-length", type=int, default=256)
    a = p.parse_args()
    adapter = unpack_model(os.path.join(a.root, "model"))
    result = evaluate(os.path.join(a.root, "base"), adapter, single_jsonl(os.path.join(a.root, "eval")), a.max_length)
    out = os.path.join(a.root, "evaluation")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "evaluation.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result), flush=True)
