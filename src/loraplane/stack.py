"""Finds the deployed stack's resources (AWS or the emulator) from CloudFormation."""
import os

import boto3

DEFAULT_STACK = "loraplane-local"


def stack_name(explicit: str | None = None) -> str:
    return explicit or os.environ.get("LORAPLANE_STACK", DEFAULT_STACK)


def describe(name: str, session: boto3.Session | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(outputs, parameters) of the stack."""
    cfn = (session or boto3.Session()).client("cloudformation")
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return ({o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
            {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])})
