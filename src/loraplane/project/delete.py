"""`loraplane project delete`: the same teardown as the stack's EndpointCleanup custom resource,
run from here first (with progress and no Lambda time limit), then DeleteStack (whose custom
resource then finds nothing left) and a wait for DELETE_COMPLETE, its status on stderr as it changes."""
import time

from botocore.exceptions import ClientError
from loraplane_core.teardown import TeardownIncomplete, teardown

from ..cli_errors import CliError
from ..progress import Steps
from ..stack import describe

AGAIN = "Run loraplane project delete again: it carries on where this one stopped"


def running_deployments(session, outputs: dict) -> int:
    sfn = session.client("stepfunctions")
    arn = outputs.get("DeployStateMachineArn")
    return len(sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]) if arn else 0


def delete(session, stack_name: str, timeout_s: float = 3600, poll: float = 5.0, steps: Steps | None = None) -> dict:
    """What the teardown deleted, by kind; `steps`: progress lines (stderr). Time running out, or a stack that
    fails to delete, is a CliError saying so and how to carry on."""
    steps = steps or Steps(quiet=True)
    outputs, params = describe(stack_name, session)
    deadline = time.time() + timeout_s
    prefix = f"{params['SageMakerProjectName']}-{params['SageMakerProjectId']}"
    table = session.resource("dynamodb").Table(outputs["CatalogTableName"]) if outputs.get("CatalogTableName") else None
    steps(f"Tearing down endpoint {outputs['EndpointName']} and what the control plane created for it ...")
    try:
        with steps.waiting("tearing down"):
            deleted = teardown(session.client("sagemaker"), session.client("application-autoscaling"), table,
                               outputs["EndpointName"], prefix, deadline, poll, session.client("cloudwatch"))
    except TeardownIncomplete as e:
        raise CliError(f"the teardown did not finish in {timeout_s:.0f}s: {e}", AGAIN) from None
    steps("Deleted: " + (", ".join(f"{len(v)} {k.replace('_', ' ')}" for k, v in deleted.items() if v) or "nothing"))
    steps(f"Deleting stack {stack_name} ...")
    session.client("cloudformation").delete_stack(StackName=stack_name)
    wait_deleted(session.client("cloudformation"), stack_name, deadline, poll, steps)
    steps(f"Stack {stack_name} deleted")
    return deleted


def wait_deleted(cfn, stack_name: str, deadline: float, poll: float, steps: Steps) -> None:
    """Until the stack is gone: its status on stderr when it changes (and a heartbeat while it does not)."""
    shown, last_shown = None, time.monotonic()
    while True:
        try:
            status = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
        except ClientError as e:
            if "does not exist" in e.response.get("Error", {}).get("Message", ""):
                return  # by name, a deleted stack is not found
            raise
        if status == "DELETE_COMPLETE":
            return
        if status == "DELETE_FAILED":
            raise CliError(f"stack {stack_name} is DELETE_FAILED",
                           f"aws cloudformation describe-stack-events --stack-name {stack_name} names the resource; "
                           + AGAIN)
        if status != shown or time.monotonic() - last_shown >= 30:
            steps(f"{stack_name}: {status}")
            shown, last_shown = status, time.monotonic()
        if time.time() > deadline:
            raise CliError(f"stack {stack_name} still {status} after the --timeout", AGAIN)
        time.sleep(max(1.0, poll))
