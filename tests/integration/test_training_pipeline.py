"""The fine-tuning pipeline in the emulator: the stack creates it, `loraplane pipeline start` starts
runs, and what its hand-off step writes is validated and registered like any upload, with metrics."""
import io
import json
import os
import subprocess
import sys
import tarfile

import boto3
import pytest

from loraplane.pipeline_run import RunRequest, start
from loraplane_training.dataset import DatasetError
from loraplane_training.evaluation import evaluate
from loraplane_training.sft import TrainOptions, train

REPO = os.path.join(os.path.dirname(__file__), "..", "..")
DATASET = os.path.join(REPO, "examples", "datasets", "support-bot.jsonl")


def committed_definition(stack) -> dict:
    """pipelines/adapter-training.pipeline.json with the placeholders as CloudFormation resolves them."""
    from loraplane.emulator.local_aws import ACCOUNT
    from tests.stack_fixture import STACK

    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in
                stack.emulator.client("cloudformation").list_stack_resources(StackName=STACK)["StackResourceSummaries"]}
    key_arn = f"arn:aws:kms:{stack.emulator.region}:{ACCOUNT}:key/{physical['AdapterKey']}"
    values = {"AdapterBucket": stack.bucket, "SageMakerProjectName": stack.params["SageMakerProjectName"],
              "SageMakerProjectId": stack.params["SageMakerProjectId"], "PipelineJobRole": physical["PipelineJobRole"],
              "AdapterKey.Arn": key_arn, "AWS::Region": stack.emulator.region, "AWS::Partition": "aws",
              "AWS::AccountId": ACCOUNT}
    text = open(os.path.join(REPO, "pipelines", "adapter-training.pipeline.json")).read()
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    assert "${" not in text
    return json.loads(text)


def test_stack_creates_the_pipeline_from_the_committed_definition(stack):
    name = stack.outputs["TrainingPipelineName"]
    p = stack.params
    assert name == f"{p['SageMakerProjectName']}-{p['SageMakerProjectId']}-train"
    described = stack.sm.describe_pipeline(PipelineName=name)
    assert json.loads(described["PipelineDefinition"]) == committed_definition(stack)
    job_role = json.loads(described["PipelineDefinition"])["Steps"][0]["Arguments"]["RoleArn"]
    assert described["RoleArn"] != job_role  # the pipeline's role passes the jobs' role; it is not it


def test_pipeline_start_uploads_code_and_data_then_starts_a_run(stack):
    arn = start(boto3.Session(), stack.outputs, RunRequest("pipe-started", DATASET, hyperparameters={"Rank": 4}))
    params = {p["Name"]: p["Value"] for p in stack.sm.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=arn)["PipelineParameters"]}
    assert params["AdapterName"] == "pipe-started" and params["Rank"] == "4" and params["BaseModelName"] == "tiny-llama"
    base = stack.sm.list_model_packages(ModelPackageGroupName=stack.outputs["BaseModelPackageGroupName"])
    assert params["BaseModelUri"].startswith(f"s3://{stack.bucket}/base-models/tiny-llama/") and base

    def read(uri: str) -> bytes:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        return stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    lines = open(DATASET).read().splitlines(keepends=True)
    train_lines, eval_lines = read(params["TrainDataUri"]).decode(), read(params["EvalDataUri"]).decode()
    assert eval_lines == lines[4] and train_lines == "".join(lines[:4] + lines[5:])  # every 5th line held out
    with tarfile.open(fileobj=io.BytesIO(read(params["CodeUri"])), mode="r:gz") as tar:
        names = set(tar.getnames())
    assert {"train_job.py", "evaluate_job.py", "handoff_job.py", "requirements.txt",
            "loraplane_training/sft.py", "loraplane_training/dataset.py"} <= names


def test_pipeline_start_refuses_a_bad_dataset_before_uploading(stack, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "Hi", "completion": "Hello"}\n{"prompt": "Hi"}\n')
    with pytest.raises(DatasetError, match="line 2: missing field 'completion'"):
        start(boto3.Session(), stack.outputs, RunRequest("pipe-bad", str(bad)))
    assert stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix="pipeline-inputs/pipe-bad/")["KeyCount"] == 0


def run_handoff(root, bucket: str, name: str, execution_arn: str) -> None:
    job = subprocess.run([sys.executable, os.path.join(REPO, "training", "handoff_job.py"), "--root", str(root),
                          "--bucket", bucket, "--adapter-name", name, "--execution-arn", execution_arn],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert job.returncode == 0, job.stderr[-2000:]


def test_pipeline_produced_adapter_is_registered_with_its_metrics(stack, tiny_base_dir, tmp_path):
    """The Train and Evaluate steps' outputs, made here as the jobs make them; then the real
    hand-off script writes to the stack's bucket and ingest does the rest."""
    execution = start(boto3.Session(), stack.outputs, RunRequest("pipe-bot", DATASET))
    model_dir, root = tmp_path / "model-dir", tmp_path / "processing"
    result = train(TrainOptions(base_dir=tiny_base_dir, data=DATASET, out_dir=str(model_dir)), progress=lambda line: None)
    (root / "model").mkdir(parents=True)
    with tarfile.open(root / "model" / "model.tar.gz", "w:gz") as tar:
        for name in os.listdir(model_dir):
            tar.add(model_dir / name, arcname=name)
    report = evaluate(tiny_base_dir, str(model_dir), DATASET)
    (root / "evaluation").mkdir()
    (root / "evaluation" / "evaluation.json").write_text(json.dumps(report))
    run_handoff(root, stack.bucket, "pipe-bot", execution)

    item = stack.wait_for_item("pipe-bot", "version#")
    stack.wait_idle()
    [pkg] = stack.packages("pipe-bot")
    meta = pkg["CustomerMetadataProperties"]
    # Validated and registered exactly as an upload ...
    assert meta["adapter_name"] == "pipe-bot" and meta["base_model"] == "tiny-llama" and meta["sha256"] == item["sha256"]
    assert meta["source"] == f"s3://{stack.bucket}/adapters/pipe-bot/" and meta["rank"] == "8"
    # ... plus what the run measured, and which run it was.
    assert float(meta["training_loss"]) == pytest.approx(result.final_loss, rel=1e-5)
    assert float(meta["eval_loss"]) == pytest.approx(report["eval_loss"], rel=1e-5)
    assert float(meta["base_eval_loss"]) == pytest.approx(report["base_eval_loss"], rel=1e-5)
    assert int(meta["training_steps"]) == result.steps
    assert pkg["MetadataProperties"]["GeneratedBy"] == execution
    statistics = pkg["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["ContentType"] == "application/json"
    bucket, key = statistics["S3Uri"].removeprefix("s3://").split("/", 1)
    assert key == f"artifacts/pipe-bot/{item['sha256']}/training_metadata.json"
    stored = json.loads(stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert stored["sha256"] == item["sha256"] and stored["loss_curve"] == result.loss_curve


def test_metadata_of_other_weights_is_left_out(stack, make_adapter):
    """A training_metadata.json left from an earlier run does not describe a later manual upload."""
    stale = {"sha256": "0" * 64, "pipeline_execution_arn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/x/execution/y",
             "metrics": {"training_loss": 0.1}}
    stack.s3.put_object(Bucket=stack.bucket, Key="adapters/pipe-stale/training_metadata.json", Body=json.dumps(stale).encode())
    stack.upload(make_adapter(seed=21), "pipe-stale")
    stack.wait_for_item("pipe-stale", "version#")
    stack.wait_idle()
    [pkg] = stack.packages("pipe-stale")
    assert "training_loss" not in pkg["CustomerMetadataProperties"]
    assert "ModelMetrics" not in pkg and "GeneratedBy" not in pkg.get("MetadataProperties", {})
