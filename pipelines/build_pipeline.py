"""Writes the fine-tuning pipeline's definition with the SageMaker Python SDK v3, offline.

Run by the SDK's own venv (`make pipeline`, i.e. .venv/tools/sagemaker/bin/python
pipelines/build_pipeline.py): no AWS credentials and no AWS call are needed, because nothing is
uploaded at definition time - the job code comes from the CodeUri parameter (training/ packed as
sourcedir.tar.gz by `loraplane pipeline start`), data and models from S3 parameters.

The stack's resources appear as CloudFormation placeholders (${AdapterBucket}, ${PipelineJobRole.Arn},
${AWS::Region}, ...) that template.yaml's Fn::Sub fills in; `pipelines/embed_in_template.py`
copies this file into the template, and tests/template/test_pipeline.py keeps the three in step.

Steps: Train (PEFT LoRA SFT, training/train_job.py) -> Evaluate (held-out loss / perplexity of
the adapter and of the base model, training/evaluate_job.py) -> QualityGate (adapter loss below
the base model's and below MaxEvalLoss) -> HandOff (adapter + training_metadata.json under
adapters/<name>/, training/handoff_job.py) | QualityGateFailed. Runs are grouped as experiments:
one experiment per pipeline, one trial per execution.
"""
import json
import logging
import os
import sys
import warnings

os.environ.setdefault("SAGEMAKER_TELEMETRY_OPT_OUT", "true")  # offline: never phone home
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the SDK builds clients at import; none is called
os.environ["SAGEMAKER_VALIDATE_ROLE"] = "false"  # the role is the stack's, checked by IAM when a job starts
logging.disable(logging.WARNING)  # the SDK logs every default it fills in
warnings.filterwarnings("ignore", message="Running within a PipelineSession")  # that is the point here

import boto3  # noqa: E402
from sagemaker.core import image_uris  # noqa: E402
from sagemaker.core.processing import Processor  # noqa: E402
from sagemaker.core.shapes import (  # noqa: E402
    MetricDefinition, ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output,
)
from sagemaker.core.training.configs import Compute, InputData, OutputDataConfig, StoppingCondition  # noqa: E402
from sagemaker.core.workflow.conditions import ConditionLessThan, ConditionLessThanOrEqualTo  # noqa: E402
from sagemaker.core.workflow.execution_variables import ExecutionVariables  # noqa: E402
from sagemaker.core.workflow.functions import Join, JsonGet  # noqa: E402
from sagemaker.core.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString  # noqa: E402
from sagemaker.core.workflow.pipeline_context import PipelineSession  # noqa: E402
from sagemaker.core.workflow.properties import PropertyFile  # noqa: E402
from sagemaker.mlops.workflow import (  # noqa: E402
    ConditionStep, FailStep, Pipeline, PipelineExperimentConfig, ProcessingStep, TrainingStep,
)
from sagemaker.train.model_trainer import ModelTrainer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUTPUT = os.path.join(HERE, "adapter-training.pipeline.json")
# Filled in by the template's Fn::Sub (never literal names: the stack decides them).
PIPELINE_NAME = "${SageMakerProjectName}-${SageMakerProjectId}-train"
BUCKET = "${AdapterBucket}"
# An ARN in the shape the SDK accepts without asking IAM (Ref of a role is its name; path "/").
JOB_ROLE = "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${PipelineJobRole}"
KMS_KEY = "${AdapterKey.Arn}"
PROCESSING_ROOT = "/opt/ml/processing"
# Processing jobs get the code as sourcedir.tar.gz: unpack, add the pinned extras, run a script.
RUN_SCRIPT = ("set -e; cd /opt/ml/processing/code; tar -xzf sourcedir.tar.gz; "
              "pip install --quiet -r requirements.txt; exec python3 \"$0\" \"$@\"")


def training_image() -> str:
    """Hugging Face's PyTorch training image (torch, transformers, CUDA, the SageMaker training
    toolkit), from the SDK's offline table, for the stack's region (same registry account in most)."""
    uri = image_uris.retrieve("huggingface", region="us-east-1", version="5.3.0", base_framework_version="pytorch2.9.0",
                              py_version="py312", image_scope="training", instance_type="ml.g5.2xlarge")
    return uri.replace(".us-east-1.", ".${AWS::Region}.")


def parameters() -> dict:
    p = [
        ParameterString("AdapterName"),  # adapters/<name>/: 1-30 of [a-z0-9-]
        ParameterString("BaseModelUri"),  # s3:// prefix of the base model's Hugging Face directory
        ParameterString("BaseModelName"),  # base_model_name_or_path, as registered in the base group
        ParameterString("TrainDataUri"),  # s3:// URI of the training .jsonl (prompt/completion lines)
        ParameterString("EvalDataUri"),  # s3:// URI of the held-out .jsonl
        ParameterString("CodeUri"),  # s3:// URI of training/ packed as sourcedir.tar.gz
        ParameterInteger("Rank", default_value=8),
        ParameterInteger("Alpha", default_value=16),
        ParameterString("TargetModules", default_value="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"),
        ParameterInteger("Epochs", default_value=3),
        ParameterFloat("LearningRate", default_value=2e-4),
        ParameterInteger("MaxLength", default_value=1024),
        ParameterInteger("Seed", default_value=0),
        ParameterString("TrainingInstanceType", default_value="ml.g5.2xlarge"),
        ParameterString("ProcessingInstanceType", default_value="ml.g5.2xlarge"),
        ParameterString("TrainingImage", default_value=training_image()),
        # Quality gate: the adapter's held-out loss must also be at most this.
        ParameterFloat("MaxEvalLoss", default_value=10.0),
    ]
    return {x.name: x for x in p}


def train_step(session: PipelineSession, p: dict) -> TrainingStep:
    trainer = ModelTrainer(
        sagemaker_session=session, role=JOB_ROLE, training_image=p["TrainingImage"], base_job_name="lora-sft",
        compute=Compute(instance_type=p["TrainingInstanceType"], instance_count=1, volume_size_in_gb=100),
        stopping_condition=StoppingCondition(max_runtime_in_seconds=24 * 3600),
        output_data_config=OutputDataConfig(s3_output_path=f"s3://{BUCKET}/pipeline-runs/training", kms_key_id=KMS_KEY),
        # The SageMaker training toolkit of the image fetches, unpacks and runs the code.
        # Every value a string, as CreateTrainingJob wants (numbers through Std:Join).
        hyperparameters={
            "sagemaker_program": "train_job.py", "sagemaker_submit_directory": p["CodeUri"],
            "target_modules": p["TargetModules"], "base_name": p["BaseModelName"],
        } | {name: p[param].to_string() for name, param in (
            ("rank", "Rank"), ("alpha", "Alpha"), ("epochs", "Epochs"), ("lr", "LearningRate"),
            ("max_length", "MaxLength"), ("seed", "Seed"))},
    ).with_metric_definitions([  # shown per trial in SageMaker Experiments
        MetricDefinition(name="train:loss", regex=r"loss=([0-9.]+)"),
    ])
    args = trainer.train(input_data_config=[
        InputData(channel_name="train", data_source=p["TrainDataUri"]),
        InputData(channel_name="base", data_source=p["BaseModelUri"]),
    ])
    return TrainingStep(name="Train", step_args=args, display_name="Fine-tune the LoRA adapter")


def processor(session: PipelineSession, p: dict, script: str, name: str) -> Processor:
    return Processor(
        sagemaker_session=session, role=JOB_ROLE, image_uri=p["TrainingImage"], base_job_name=name,
        instance_type=p["ProcessingInstanceType"], instance_count=1, volume_size_in_gb=100, output_kms_key=KMS_KEY,
        entrypoint=["/bin/bash", "-c", RUN_SCRIPT, script],
    )


def s3_input(name: str, source, destination: str) -> ProcessingInput:
    return ProcessingInput(input_name=name, s3_input=ProcessingS3Input(
        s3_uri=source, local_path=f"{PROCESSING_ROOT}/{destination}", s3_data_type="S3Prefix",
        s3_input_mode="File", s3_data_distribution_type="FullyReplicated"))


def evaluate_step(session: PipelineSession, p: dict, train: TrainingStep, report: PropertyFile) -> ProcessingStep:
    model = train.properties.ModelArtifacts.S3ModelArtifacts
    args = processor(session, p, "evaluate_job.py", "lora-eval").run(
        inputs=[s3_input("code", p["CodeUri"], "code"), s3_input("base", p["BaseModelUri"], "base"),
                s3_input("model", model, "model"), s3_input("eval", p["EvalDataUri"], "eval")],
        outputs=[ProcessingOutput(output_name="evaluation", s3_output=ProcessingS3Output(
            s3_uri=Join(on="/", values=[f"s3://{BUCKET}/pipeline-runs/evaluation", ExecutionVariables.PIPELINE_EXECUTION_ID]),
            local_path=f"{PROCESSING_ROOT}/evaluation", s3_upload_mode="EndOfJob"))],
        arguments=["--max-length", p["MaxLength"].to_string()],
    )
    return ProcessingStep(name="Evaluate", step_args=args, property_files=[report],
                          display_name="Held-out loss and perplexity vs the base model")


def handoff_step(session: PipelineSession, p: dict, train: TrainingStep, evaluation: ProcessingStep) -> ProcessingStep:
    report_uri = evaluation.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri
    args = processor(session, p, "handoff_job.py", "lora-handoff").run(
        inputs=[s3_input("code", p["CodeUri"], "code"),
                s3_input("model", train.properties.ModelArtifacts.S3ModelArtifacts, "model"),
                s3_input("evaluation", report_uri, "evaluation")],
        arguments=["--bucket", BUCKET, "--adapter-name", p["AdapterName"],
                   "--execution-arn", ExecutionVariables.PIPELINE_EXECUTION_ARN],
    )
    return ProcessingStep(name="HandOff", step_args=args, display_name="Upload to adapters/<name>/ for ingest")


def build() -> Pipeline:
    # A region for the SDK's clients, and dummy keys so nothing looks for credentials: no call is made.
    boto = boto3.Session(region_name="us-east-1", aws_access_key_id="offline", aws_secret_access_key="offline")
    session = PipelineSession(boto_session=boto, default_bucket=BUCKET)
    p = parameters()
    report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
    train = train_step(session, p)
    evaluation = evaluate_step(session, p, train, report)
    eval_loss = JsonGet(step_name=evaluation.name, property_file=report, json_path="eval_loss")
    gate = ConditionStep(
        name="QualityGate", display_name="Better than the base model on held-out data",
        conditions=[ConditionLessThan(left=eval_loss, right=JsonGet(step_name=evaluation.name, property_file=report,
                                                                     json_path="base_eval_loss")),
                    ConditionLessThanOrEqualTo(left=eval_loss, right=p["MaxEvalLoss"])],
        if_steps=[handoff_step(session, p, train, evaluation)],
        else_steps=[FailStep(name="QualityGateFailed", error_message=Join(on=" ", values=[
            "the adapter's held-out loss", eval_loss, "is not below the base model's or above MaxEvalLoss"]))],
    )
    return Pipeline(
        name=PIPELINE_NAME, parameters=list(p.values()), steps=[train, evaluation, gate], sagemaker_session=session,
        pipeline_experiment_config=PipelineExperimentConfig(
            ExecutionVariables.PIPELINE_NAME, Join(on="-", values=[p["AdapterName"], ExecutionVariables.PIPELINE_EXECUTION_ID])),
    )


def definition() -> str:
    """Canonical text: sorted keys, so regenerating gives the same bytes."""
    return json.dumps(json.loads(build().definition()), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    text = definition()
    if "--check" in sys.argv:  # exit 1 when the committed file is not what the SDK generates now
        with open(OUTPUT) as f:
            sys.exit(0 if f.read() == text else f"{OUTPUT} is out of date: run make pipeline")
    with open(OUTPUT, "w") as f:
        f.write(text)
    print(OUTPUT)
