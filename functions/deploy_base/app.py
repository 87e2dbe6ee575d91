"""Base model decisions on the endpoint: start the create/update, check it, create the base
component of a new endpoint, roll back, and re-attach the adapters built for the new base model."""
from aws_lambda_powertools import Logger, Metrics

from loraplane_core.aws import clients
from loraplane_core.deployment import steps
from loraplane_core.deployment.payloads import (
    BaseRequest, CheckBase, CreateBaseComponent, ReattachAdapters, RollBackBase, StartBase,
)
from loraplane_core.event_parser import event_parser
from loraplane_core.observability import emit
from loraplane_core.settings import Settings

logger, metrics = Logger(), Metrics()
SETTINGS = Settings.from_env()
CLIENTS = clients(SETTINGS)
STEPS = {StartBase: steps.start_base, CheckBase: steps.check_base, CreateBaseComponent: steps.create_base_component,
         RollBackBase: steps.rollback_base, ReattachAdapters: steps.reattach_adapters}


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=BaseRequest)
def lambda_handler(request: BaseRequest, context) -> dict:
    result = STEPS[type(request)](CLIENTS, SETTINGS, request)
    emit("BaseStep", step=request.action)
    logger.info(f"base {request.action}", extra={"result": result.model_dump(mode="json")})
    return result.model_dump(mode="json")
