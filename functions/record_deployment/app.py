"""Last deployment step (and the failure path): version states in the catalog, and a notification."""
from aws_lambda_powertools import Logger, Metrics

from loraplane_core.aws import clients
from loraplane_core.deployment import outcomes as steps  # its task only (cold start)
from loraplane_core.deployment.payloads import DeploymentRecord, FailureRecord
from loraplane_core.event_parser import event_parser
from loraplane_core.observability import emit
from loraplane_core.settings import Settings

logger, metrics = Logger(), Metrics()
SETTINGS = Settings.from_env()
CLIENTS = clients(SETTINGS)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=DeploymentRecord)
def lambda_handler(record: DeploymentRecord, context) -> dict:
    notified = steps.record_deployment(CLIENTS, SETTINGS, record)
    # The notification's event names the outcome (deploy, retire, base, failed, ...); a failure after
    # which a rollback ran is told apart, the dashboard's "rolled back".
    rolled_back = isinstance(record, FailureRecord) and record.rollback is not None
    emit("Deployment", outcome="rolled_back" if rolled_back else notified.event.removeprefix("deployment."))
    return notified.model_dump(mode="json")
