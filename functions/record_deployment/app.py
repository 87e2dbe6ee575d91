"""Last deployment step (and the failure path): version states in the catalog, and a notification."""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser

from loraplane_core.aws import clients
from loraplane_core.deployment import steps
from loraplane_core.deployment.payloads import DeploymentRecord
from loraplane_core.settings import Settings

logger, tracer = Logger(), Tracer()
SETTINGS = Settings.from_env()
CLIENTS = clients(SETTINGS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=DeploymentRecord)
def lambda_handler(record: DeploymentRecord, context) -> dict:
    return steps.record_deployment(CLIENTS, SETTINGS, record).model_dump(mode="json")
