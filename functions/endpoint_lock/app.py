"""Takes or gives back the endpoint's lock: endpoint changes never overlap."""
import datetime

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser

from loraplane_core import endpoint_lock
from loraplane_core.aws import clients
from loraplane_core.deploy_models import LockRequest
from loraplane_core.errors import LockTimeout
from loraplane_core.settings import LockSettings

logger, tracer = Logger(), Tracer()
SETTINGS = LockSettings.from_env()
CLIENTS = clients(SETTINGS)


def waited_seconds(started_at: str | None) -> float:
    if not started_at:
        return 0.0
    started = datetime.datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    return (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=LockRequest)
def lambda_handler(request: LockRequest, context) -> dict:
    table, endpoint = CLIENTS.catalog, SETTINGS.endpoint_name
    if request.action == "release":
        return {"released": endpoint_lock.release(table, endpoint, request.owner)}
    if endpoint_lock.acquire(table, endpoint, request.owner,
                             lease_seconds=endpoint_lock.lease_for(SETTINGS.deployment_timeout_seconds)):
        return {"acquired": True}
    if waited_seconds(request.started_at) > SETTINGS.lock_wait_seconds:
        holder = endpoint_lock.holder(table, endpoint) or {}
        raise LockTimeout(f"{endpoint} is held by {holder.get('owner')} for longer than "
                          f"{SETTINGS.lock_wait_seconds}s")
    return {"acquired": False}
