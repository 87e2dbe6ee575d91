"""The fine-tuning pipeline: generated offline by the SageMaker SDK, deployed as generated."""
import json
import os
import re
import subprocess

from .conftest import REPO

DEFINITION = REPO / "pipelines" / "adapter-training.pipeline.json"
SDK_PYTHON = REPO / ".venv" / "tools" / "sagemaker" / "bin" / "python"


def definition() -> dict:
    return json.loads(DEFINITION.read_text())


def test_sdk_regenerates_the_committed_definition_offline():
    """No credentials, no instance metadata, and every connection refused: still the same bytes."""
    assert SDK_PYTHON.exists(), "the SageMaker SDK venv is missing: run make install"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_EC2_METADATA_DISABLED": "true", "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    run = subprocess.run([str(SDK_PYTHON), str(REPO / "pipelines" / "build_pipeline.py"), "--check"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]


def test_definition_has_the_parameters_steps_gate_and_experiments():
    d = definition()
    params = {p["Name"] for p in d["Parameters"]}
    assert {"AdapterName", "BaseModelUri", "BaseModelName", "TrainDataUri", "EvalDataUri", "Rank", "Alpha", "Epochs",
            "LearningRate", "TargetModules", "MaxLength", "TrainingInstanceType"} <= params
    train, evaluate, gate = d["Steps"]
    assert (train["Name"], train["Type"], evaluate["Type"], gate["Type"]) == ("Train", "Training", "Processing", "Condition")
    hp = train["Arguments"]["HyperParameters"]
    assert hp["sagemaker_program"] == "train_job.py" and hp["rank"]["Std:Join"]["Values"] == [{"Get": "Parameters.Rank"}]
    assert train["Arguments"]["ResourceConfig"]["InstanceType"] == {"Get": "Parameters.TrainingInstanceType"}
    # The evaluation reads the trained model and writes the report the gate reads.
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in evaluate["Arguments"]["ProcessingInputs"]}
    assert inputs["model"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert "evaluate_job.py" in evaluate["Arguments"]["AppSpecification"]["ContainerEntrypoint"]
    [report] = evaluate["PropertyFiles"]
    conditions = gate["Arguments"]["Conditions"]
    assert [c["LeftValue"]["Std:JsonGet"]["Path"] for c in conditions] == ["eval_loss", "eval_loss"]
    assert conditions[0]["RightValue"]["Std:JsonGet"]["Path"] == "base_eval_loss"
    assert all(c["LeftValue"]["Std:JsonGet"]["PropertyFile"]["Get"] == f"Steps.Evaluate.PropertyFiles.{report['PropertyFileName']}"
               for c in conditions)
    [handoff] = gate["Arguments"]["IfSteps"]
    [fail] = gate["Arguments"]["ElseSteps"]
    assert handoff["Name"] == "HandOff" and fail["Type"] == "Fail"
    args = handoff["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert args[args.index("--bucket") + 1] == "${AdapterBucket}"
    assert args[args.index("--execution-arn") + 1] == {"Get": "Execution.PipelineExecutionArn"}
    experiments = d["PipelineExperimentConfig"]
    assert experiments["ExperimentName"] == {"Get": "Execution.PipelineName"}
    assert {"Get": "Execution.PipelineExecutionId"} in experiments["TrialName"]["Std:Join"]["Values"]


def test_stack_deploys_the_committed_definition(sam_template):
    pipeline = sam_template["Resources"]["TrainingPipeline"]
    assert pipeline["Type"] == "AWS::SageMaker::Pipeline"
    body = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Sub"]
    assert json.loads(body) == definition(), "run make pipeline (pipelines/embed_in_template.py)"


def test_every_placeholder_is_one_the_template_resolves(sam_template):
    names = set(re.findall(r"\$\{([^}]+)\}", DEFINITION.read_text()))
    known = set(sam_template["Parameters"]) | set(sam_template["Resources"]) | {"AWS::Region", "AWS::Partition", "AWS::AccountId"}
    assert names and {n.split(".")[0] for n in names} <= known, names


def test_pipeline_roles_are_separate_and_the_job_role_is_the_only_one_passed(expanded):
    resources = expanded["Resources"]
    assert resources["TrainingPipeline"]["Properties"]["RoleArn"] == {"Fn::GetAtt": ["PipelineExecutionRole", "Arn"]}
    statements = [s for p in resources["PipelineExecutionRole"]["Properties"]["Policies"]
                  for s in p["PolicyDocument"]["Statement"]]
    [passes] = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert passes["Resource"] == {"Fn::GetAtt": ["PipelineJobRole", "Arn"]}
    assert passes["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    job = [s for p in resources["PipelineJobRole"]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
    [writes] = [s for s in job if s["Action"] == "s3:PutObject"]
    assert sorted(r["Fn::Sub"] for r in writes["Resource"]) == ["${AdapterBucket.Arn}/adapters/*",
                                                                 "${AdapterBucket.Arn}/pipeline-runs/*"]
