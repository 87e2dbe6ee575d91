"""Custom resource `EndpointCleanup`: on stack deletion, removes what the control plane created at
run time (loraplane_core.teardown). Create and Update do nothing. Delete answers SUCCESS once
everything is gone, or FAILED with the reason (the stack goes to DELETE_FAILED, never hangs:
deleting it again retries the teardown, which carries on where it stopped)."""
import time

from aws_lambda_powertools import Logger

from loraplane_core import cfn_response
from loraplane_core.aws import clients
from loraplane_core.settings import Settings
from loraplane_core.teardown import teardown

logger = Logger()
SETTINGS = Settings.from_env()
CLIENTS = clients(SETTINGS)
MARGIN_S = 60  # time kept to answer CloudFormation before the Lambda times out


@logger.inject_lambda_context
def lambda_handler(event: dict, context) -> None:
    # A plain dict: Powertools' data classes package imports every event class (~20 ms of cold start).
    physical_id = event.get("PhysicalResourceId") or f"{SETTINGS.endpoint_name}-cleanup"
    if event.get("RequestType") != "Delete":
        cfn_response.send(event, "SUCCESS", physical_id, "nothing to do until the stack is deleted")
        return
    deadline = time.time() + context.get_remaining_time_in_millis() / 1000 - MARGIN_S
    try:
        deleted = teardown(CLIENTS.sagemaker, CLIENTS.autoscaling, CLIENTS.catalog, SETTINGS.endpoint_name,
                           SETTINGS.resource_prefix, deadline, cloudwatch=CLIENTS.cloudwatch)
    except Exception as e:  # noqa: BLE001 - every failure must reach CloudFormation, or the stack waits an hour
        logger.exception("teardown failed")
        cfn_response.send(event, "FAILED", physical_id, f"endpoint teardown failed: {type(e).__name__}: {e}")
        return
    logger.info("endpoint torn down", extra={"deleted": deleted})
    cfn_response.send(event, "SUCCESS", physical_id, "endpoint resources deleted")

