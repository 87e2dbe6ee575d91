"""SageMaker processing job, the pipeline's last step: writes the adapter under
s3://<bucket>/adapters/<name>/ with training_metadata.json, where ingest picks it up.

Inputs under /opt/ml/processing/: model/ (the training job's model.tar.gz), evaluation/
(evaluation.json). Arguments: --bucket, --adapter-name, --execution-arn.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from evaluate_job import ROOT, unpack_model  # noqa: E402
from loraplane_training.handoff import build_metadata, hand_off  # noqa: E402
from loraplane_training.sft import METRICS_FILE  # noqa: E402

if __name__ == "__main__":
    import boto3

    p = argparse.ArgumentParser()
    p.add_argument("--root", default=ROOT)
    p.add_argument("--bucket", required=True)
    p.add_argument("--adapter-name", required=True)
    p.add_argument("--execution-arn")
    a = p.parse_args()
    adapter = unpack_model(os.path.join(a.root, "model"))
    with open(os.path.join(adapter, METRICS_FILE)) as f:
        training = json.load(f)
    with open(os.path.join(a.root, "evaluation", "evaluation.json")) as f:
        evaluation = json.load(f)
    metadata = build_metadata(a.adapter_name, adapter, training, evaluation, a.execution_arn)
    print(hand_off(boto3.client("s3"), a.bucket, a.adapter_name, adapter, metadata), flush=True)
