"""Ingest step 3 (and the failure path): write the outcome to the catalog, once."""
from aws_lambda_powertools import Logger, Metrics

from loraplane_core.aws import clients
from loraplane_core.event_parser import event_parser
from loraplane_core.ingest.steps import record
from loraplane_core.ingest.payloads import RecordRequest, RecordResult
from loraplane_core.observability import emit
from loraplane_core.settings import Settings

logger, metrics = Logger(), Metrics()
SETTINGS = Settings.from_env()
CLIENTS = clients(SETTINGS)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=RecordRequest)
def lambda_handler(request: RecordRequest, context) -> dict:
    created = record(CLIENTS, request)
    logger.info("recorded", extra={"kind": request.kind, "created": created})
    emit("Recorded" if created else "DuplicateOutcome", kind=request.kind)
    return RecordResult(created=created).model_dump()
