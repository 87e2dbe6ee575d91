"""Deployment step 1: a registry event becomes a deployment only if it is a real, new decision."""
from aws_lambda_powertools import Logger, Metrics

from loraplane_core.aws import clients
from loraplane_core.deployment import transitions
from loraplane_core.deployment.payloads import TransitionRequest
from loraplane_core.event_parser import event_parser
from loraplane_core.observability import emit
from loraplane_core.settings import Settings

logger, metrics = Logger(), Metrics()
SETTINGS = Settings.from_env()
CLIENTS = clients(SETTINGS)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=TransitionRequest)
def lambda_handler(request: TransitionRequest, context) -> dict:
    result = transitions.detect(CLIENTS.catalog, SETTINGS, request.event)
    emit("Decision", result="acted_on" if result.proceed else "ignored")
    logger.info("transition", extra={"proceed": result.proceed, "why": result.why})
    return result.model_dump(mode="json")
