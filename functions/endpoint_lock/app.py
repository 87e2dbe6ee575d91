"""Takes or gives back the endpoint's lock: endpoint changes never overlap."""
from aws_lambda_powertools import Logger, Metrics

from loraplane_core.aws import clients
from loraplane_core.deployment import endpoint_lock as steps  # its tasks only (cold start)
from loraplane_core.deployment.payloads import AcquireLock, LockRequest, ReleaseLock
from loraplane_core.event_parser import event_parser
from loraplane_core.observability import emit
from loraplane_core.settings import LockSettings

logger, metrics = Logger(), Metrics()
SETTINGS = LockSettings.from_env()
CLIENTS = clients(SETTINGS)
STEPS = {AcquireLock: steps.acquire_lock, ReleaseLock: steps.release_lock}


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=LockRequest)
def lambda_handler(request: LockRequest, context) -> dict:
    if isinstance(request, AcquireLock):
        # Each attempt (the state machine retries every 10 s): a lock held for long shows as a rising wait.
        emit("LockWaitSeconds", round(steps.waited_seconds(request.started_at), 1))
    return STEPS[type(request)](CLIENTS, SETTINGS, request).model_dump(mode="json", exclude_none=True)
