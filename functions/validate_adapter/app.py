"""Ingest step 1: is the upload complete, valid, and new? Stages the serving artifact if so."""
from aws_lambda_powertools import Logger, Metrics

from loraplane_core.aws import clients
from loraplane_core.event_parser import event_parser
from loraplane_core.ingest.validate import validate_upload
from loraplane_core.ingest.payloads import ValidateRequest
from loraplane_core.observability import emit
from loraplane_core.settings import Settings

logger, metrics = Logger(), Metrics()
SETTINGS = Settings.from_env()
CLIENTS = clients(SETTINGS)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=ValidateRequest)
def lambda_handler(request: ValidateRequest, context) -> dict:
    result = validate_upload(CLIENTS, SETTINGS, request.event, request.final)
    logger.info("validated upload",
                extra={"outcome": result.outcome, "adapter": result.adapter_name, "reason": result.reason})
    emit("Upload", outcome=result.outcome)
    if result.outcome == "rejected":
        emit("UploadRejected", reason=result.reason or "unknown")
    return result.model_dump()
