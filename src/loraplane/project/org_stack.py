"""The organisation-level stack (project_template/template.yaml): artifact bucket and launch role,
created or updated in place."""
from pathlib import Path

from ..emulator.deploy import REPO

TEMPLATE = REPO / "project_template" / "template.yaml"
DEFAULT_STACK = "loraplane-project-template"


def outputs(cfn, name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def exists(cfn, name: str) -> bool:
    try:
        status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except cfn.exceptions.ClientError:
        return False
    return status != "DELETE_COMPLETE"


def ensure(cfn, name: str = DEFAULT_STACK, parameters: dict[str, str] | None = None,
           template: Path = TEMPLATE) -> dict[str, str]:
    """Creates the stack, or updates it ("No updates are to be performed" is fine); returns its outputs."""
    args = {"StackName": name, "TemplateBody": template.read_text(), "Capabilities": ["CAPABILITY_NAMED_IAM"],
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()]}
    if not exists(cfn, name):
        cfn.create_stack(**args)
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 300})
        return outputs(cfn, name)
    try:
        cfn.update_stack(**args)
    except cfn.exceptions.ClientError as e:
        if "No updates are to be performed" not in str(e):
            raise
        return outputs(cfn, name)
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 300})
    return outputs(cfn, name)
