"""Takes or gives back the endpoint's lock: endpoint changes never overlap."""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser

from loraplane_core.aws import clients
from loraplane_core.deployment import steps
from loraplane_core.deployment.payloads import AcquireLock, LockRequest, ReleaseLock
from loraplane_core.settings import LockSettings

logger, tracer = Logger(), Tracer()
SETTINGS = LockSettings.from_env()
CLIENTS = clients(SETTINGS)
STEPS = {AcquireLock: steps.acquire_lock, ReleaseLock: steps.release_lock}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=LockRequest)
def lambda_handler(request: LockRequest, context) -> dict:
    return STEPS[type(request)](CLIENTS, SETTINGS, request).model_dump(mode="json", exclude_none=True)
