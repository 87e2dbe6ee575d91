"""Adapter decisions on the endpoint: apply (go live / retire), check until in service, roll back."""
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser

from loraplane_core import adapter_rollout
from loraplane_core.aws import clients
from loraplane_core.deploy_models import AdapterRequest
from loraplane_core.settings import Settings

logger, tracer, metrics = Logger(), Tracer(), Metrics()
SETTINGS = Settings.from_env()
CLIENTS = clients(SETTINGS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=AdapterRequest)
def lambda_handler(request: AdapterRequest, context) -> dict:
    if request.action == "apply":
        plan = adapter_rollout.apply(CLIENTS, SETTINGS, request.change)
        metrics.add_metric(name=f"AdapterPlan_{plan['outcome']}", unit=MetricUnit.Count, value=1)
        logger.info("adapter plan", extra={"adapter": plan["adapter"], "outcome": plan["outcome"]})
        return plan
    if request.action == "check":
        return adapter_rollout.check(CLIENTS, SETTINGS, request.deployment)
    metrics.add_metric(name="AdapterRollback", unit=MetricUnit.Count, value=1)
    return adapter_rollout.rollback(CLIENTS, SETTINGS, request.deployment)
