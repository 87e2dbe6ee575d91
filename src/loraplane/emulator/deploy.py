"""Deploys the real template.yaml into the emulator, as `sam package` + `sam deploy` would:
local code folders are zipped to S3, the SAM transform is done offline by aws-sam-translator,
and the expanded template is created as a CloudFormation stack."""
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

from .local_aws import ACCOUNT

REPO = Path(__file__).resolve().parents[3]
ARTIFACT_BUCKET = "loraplane-local-artifacts"


def zip_dir(directory: Path, prefix: str = "") -> bytes:
    """Reproducible: fixed timestamps and modes, so the same files give the same bytes (and key)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                info = zipfile.ZipInfo(prefix + str(path.relative_to(directory)), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr, info.compress_type = 0o644 << 16, zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def package(template: dict, root: Path, s3=None, bucket: str = ARTIFACT_BUCKET, content_keys: bool = False) -> dict:
    """Replace local CodeUri / ContentUri / DefinitionUri with what `sam package` would upload.
    Without an S3 client, code locations are placeholders (enough to inspect the expansion).
    content_keys: artifacts/<sha256>.zip (published templates: versions never overwrite each other)."""
    if s3 is not None and bucket == ARTIFACT_BUCKET:
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)

    def upload(name: str, data: bytes) -> dict:
        key = f"artifacts/{hashlib.sha256(data).hexdigest()}.zip" if content_keys else name
        if s3 is not None:
            s3.put_object(Bucket=bucket, Key=key, Body=data)
        return {"Bucket": bucket, "Key": key}

    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = upload(f"{logical_id}.zip", zip_dir(root / props["CodeUri"]))
        elif kind == "AWS::Serverless::LayerVersion" and isinstance(props.get("ContentUri"), str):
            content = root / props["ContentUri"]  # `sam build` output already has python/
            prefix = "" if (content / "python").is_dir() else "python/"
            props["ContentUri"] = upload(f"{logical_id}.zip", zip_dir(content, prefix=prefix))
        elif kind == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            props["Definition"] = json.loads((root / props.pop("DefinitionUri")).read_text())
    return template


def expand(template_path: Path, parameters: dict[str, str], s3=None, region: str = "us-east-1",
           account: str = "123456789012", bucket: str = ARTIFACT_BUCKET, content_keys: bool = False) -> dict:
    """The template as CloudFormation sees it after the SAM transform."""
    template = yaml_parse(template_path.read_text())
    packaged = package(template, template_path.parent, s3, bucket, content_keys)
    # Our template names no AWS managed policy by name, so the translator needs no IAM lookup.
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region))
    return translator.translate(packaged, parameter_values={**parameters, "AWS::AccountId": account},
                                get_managed_policy_map=lambda: {})


def deploy_stack(emulator, stack_name: str, parameters: dict[str, str], template_path: Path | None = None) -> dict:
    """Create (or replace) the stack; returns its outputs."""
    template_path = template_path or REPO / "template.yaml"
    expanded = expand(template_path, parameters, emulator.client("s3"), emulator.region, ACCOUNT)
    cfn = emulator.client("cloudformation")
    cfn.create_stack(
        StackName=stack_name, TemplateBody=json.dumps(expanded),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        Tags=[{"Key": "sagemaker:project-name", "Value": parameters["SageMakerProjectName"]},
              {"Key": "sagemaker:project-id", "Value": parameters["SageMakerProjectId"]}],
    )
    cfn.get_waiter("stack_create_complete").wait(StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return stack_outputs(cfn, stack_name)


def stack_outputs(cfn, stack_name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def local_parameters(project_name: str = "loraplane", project_id: str = "p-local", **overrides: str) -> dict[str, str]:
    params = {"SageMakerProjectName": project_name, "SageMakerProjectId": project_id,
              "ServingImageUri": os.environ.get("LORAPLANE_SERVING_IMAGE", "loraplane/serving:local")}
    params.update(overrides)
    return params
