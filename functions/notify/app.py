"""Ingest step 4 (and the failure path): tell the adapter's owners what happened, over SNS."""
from aws_lambda_powertools import Logger, Metrics

from loraplane_core.aws import clients
from loraplane_core.event_parser import event_parser
from loraplane_core.ingest.steps import adapter_name_of
from loraplane_core.ingest.payloads import RecordRequest
from loraplane_core.ingest.notifications import publish
from loraplane_core.observability import emit
from loraplane_core.settings import Settings

logger, metrics = Logger(), Metrics()
SETTINGS = Settings.from_env()
CLIENTS = clients(SETTINGS)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=RecordRequest)
def lambda_handler(request: RecordRequest, context) -> dict:
    message_id = publish(CLIENTS.sns, SETTINGS.topic_arn, request, adapter_name_of(request))
    emit("Notified", kind=request.kind)
    return {"message_id": message_id}
