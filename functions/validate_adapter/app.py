"""Ingest step 1: is the upload complete, valid, and new? Stages the serving artifact if so."""
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser

from loraplane_core.aws import clients
from loraplane_core.ingest.steps import validate_upload
from loraplane_core.ingest.payloads import ValidateRequest
from loraplane_core.settings import Settings

logger, tracer, metrics = Logger(), Tracer(), Metrics()
SETTINGS = Settings.from_env()
CLIENTS = clients(SETTINGS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=ValidateRequest)
def lambda_handler(request: ValidateRequest, context) -> dict:
    result = validate_upload(CLIENTS, SETTINGS, request.event, request.final)
    logger.info("validated upload", extra={"outcome": result.outcome, "adapter": result.adapter_name, "reason": result.reason})
    metrics.add_metric(name=f"Upload_{result.outcome}", unit=MetricUnit.Count, value=1)
    return result.model_dump()
