"""Adapter decisions on the endpoint: apply (go live / retire), check until in service, roll back;
settle the queued decisions carried out with them (lock batching)."""
from aws_lambda_powertools import Logger, Metrics

from loraplane_core.aws import clients
from loraplane_core.deployment import steps
from loraplane_core.deployment.payloads import (
    AdapterRequest,
    ApplyAdapter,
    CheckAdapter,
    RollBackAdapter,
    RollBackFailedRiders,
)
from loraplane_core.event_parser import event_parser
from loraplane_core.observability import emit
from loraplane_core.settings import Settings

logger, metrics = Logger(), Metrics()
SETTINGS = Settings.from_env()
CLIENTS = clients(SETTINGS)
STEPS = {ApplyAdapter: steps.apply_adapter, CheckAdapter: steps.check_adapter, RollBackAdapter: steps.rollback_adapter,
         RollBackFailedRiders: steps.rollback_failed_riders}


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=AdapterRequest)
def lambda_handler(request: AdapterRequest, context) -> dict:
    result = STEPS[type(request)](CLIENTS, SETTINGS, request)
    emit("AdapterStep", step=request.action)
    logger.info(f"adapter {request.action}", extra={"result": result.model_dump(mode="json")})
    return result.model_dump(mode="json")
