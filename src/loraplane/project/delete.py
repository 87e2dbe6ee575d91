"""`loraplane project delete`: the same teardown as the stack's EndpointCleanup custom resource,
run from here first (with progress and no Lambda time limit), then DeleteStack (whose custom
resource then finds nothing left) and a wait for DELETE_COMPLETE."""
import time

from loraplane_core.teardown import teardown

from ..stack import describe


def running_deployments(session, outputs: dict) -> int:
    sfn = session.client("stepfunctions")
    arn = outputs.get("DeployStateMachineArn")
    return len(sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]) if arn else 0


def delete(session, stack_name: str, timeout_s: float = 3600, poll: float = 5.0) -> dict:
    outputs, params = describe(stack_name, session)
    prefix = f"{params['SageMakerProjectName']}-{params['SageMakerProjectId']}"
    table = session.resource("dynamodb").Table(outputs["CatalogTableName"]) if outputs.get("CatalogTableName") else None
    deleted = teardown(session.client("sagemaker"), session.client("application-autoscaling"), table,
                       outputs["EndpointName"], prefix, time.time() + timeout_s, poll, session.client("cloudwatch"))
    cfn = session.client("cloudformation")
    cfn.delete_stack(StackName=stack_name)
    cfn.get_waiter("stack_delete_complete").wait(
        StackName=stack_name, WaiterConfig={"Delay": max(1, int(poll)), "MaxAttempts": int(timeout_s / max(1, poll))})
    return deleted
