"""Invokes the endpoint through SageMaker runtime, as a user would, after every change."""
from aws_lambda_powertools import Logger, Metrics

from loraplane_core.aws import clients
from loraplane_core.deployment import smoke as steps  # its task only (cold start)
from loraplane_core.deployment.payloads import SmokeRequest
from loraplane_core.errors import SmokeTestFailed
from loraplane_core.event_parser import event_parser
from loraplane_core.observability import emit
from loraplane_core.settings import Settings

logger, metrics = Logger(), Metrics()
SETTINGS = Settings.from_env()
CLIENTS = clients(SETTINGS)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=SmokeRequest)
def lambda_handler(request: SmokeRequest, context) -> dict:
    try:
        result = steps.smoke_test(CLIENTS, SETTINGS, request)
    except SmokeTestFailed:
        emit("SmokeTest", result="failed")  # the alarm <project>-<id>-smoke-test-failed
        raise
    emit("SmokeTest", result="passed")
    for rider in result.riders.values():  # decisions carried out with this one (lock batching)
        emit("SmokeTest", result="failed" if rider.error else "passed")
    return result.model_dump(mode="json")
