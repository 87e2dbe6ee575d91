"""Finds the deployed stack's resources (AWS or the emulator) from CloudFormation."""
import os

import boto3

from .cli_errors import NotFound

DEFAULT_STACK = "loraplane-local"


class StaleStack(NotFound, KeyError):
    """The stack lacks an output (or parameter) this version of the command reads: it was deployed from an
    older template. A KeyError too, for code that asks with try/except KeyError."""

    __str__ = Exception.__str__  # KeyError's would quote the message


class StackValues(dict):
    """A stack's outputs or parameters: a missing key is a one-line error naming it and the fix, no KeyError."""

    def __init__(self, values: dict, stack: str, kind: str):
        super().__init__(values)
        self.stack, self.kind = stack, kind

    def __missing__(self, key):
        raise StaleStack(f"stack {self.stack} has no {self.kind} {key} (deployed from an older template)",
                         "Update the stack: sam deploy with the current template.yaml (the local stack: "
                         "loraplane local down, then local up)")


def stack_name(explicit: str | None = None) -> str:
    return explicit or os.environ.get("LORAPLANE_STACK", DEFAULT_STACK)


def describe(name: str, session: boto3.Session | None = None) -> tuple[StackValues, StackValues]:
    """(outputs, parameters) of the stack."""
    cfn = (session or boto3.Session()).client("cloudformation")
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return (StackValues({o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}, name, "output"),
            StackValues({p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}, name,
                        "parameter"))
