"""Scheduled: compares the registry with what the endpoint serves; reports and repairs drift."""
from aws_lambda_powertools import Logger, Metrics

from loraplane_core.aws import clients
from loraplane_core.deployment.reconciler import reconcile
from loraplane_core.observability import emit
from loraplane_core.settings import ReconcileSettings

logger, metrics = Logger(), Metrics()
SETTINGS = ReconcileSettings.from_env()
CLIENTS = clients(SETTINGS)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context) -> dict:
    # Scheduled events carry nothing we need; {"repair": false} reports without repairing.
    result = reconcile(CLIENTS, SETTINGS, repair=bool((event or {}).get("repair", True)))
    emit("DriftFound", len(result["drift"]))  # every round, 0 included: the drift alarm sees a value
    logger.info("reconciled", extra=result)
    return result
