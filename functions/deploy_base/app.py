"""Base model decisions on the endpoint: start the create/update, check it, roll back, and
re-attach the adapters built for the new base model."""
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser

from loraplane_core import base_deployment, deployments
from loraplane_core.aws import clients
from loraplane_core.deploy_models import BaseRequest
from loraplane_core.reattach import reattach
from loraplane_core.settings import Settings

logger, tracer, metrics = Logger(), Tracer(), Metrics()
SETTINGS = Settings.from_env()
CLIENTS = clients(SETTINGS)


def deployed_target(endpoint: str) -> base_deployment.BaseTarget | None:
    item = deployments.deployed_base(CLIENTS.catalog, endpoint)
    if not item:
        return None
    return base_deployment.BaseTarget(item["package_arn"], int(item["version"]), item["base_model"], item["model_uri"])


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=BaseRequest)
def lambda_handler(request: BaseRequest, context) -> dict:
    sm = CLIENTS.sagemaker
    if request.action == "start":
        target = base_deployment.target_for(sm, CLIENTS.catalog, SETTINGS, request.change,
                                            deployed_target(SETTINGS.endpoint_name))
        if target is None:
            return {"kind": "none", "done": True, "target": None}
        dep = base_deployment.start(sm, SETTINGS, target)
        metrics.add_metric(name=f"BaseDeployment_{dep['kind']}", unit=MetricUnit.Count, value=1)
        return {**dep, "done": dep["kind"] == "unchanged"}
    if request.action == "check":
        return base_deployment.check(sm, SETTINGS, request.deployment)
    if request.action == "rollback":
        previous = deployed_target(SETTINGS.endpoint_name)
        if request.change and request.change.action == "rejected":
            previous = None  # what served before was just rejected: leave what serves now
        if previous is None:
            return {"kind": "none", "done": True, "restored": None}
        metrics.add_metric(name="BaseRollback", unit=MetricUnit.Count, value=1)
        dep = base_deployment.start(sm, SETTINGS, previous)
        return {**dep, "done": dep["kind"] == "unchanged", "restored": previous.version}
    target = base_deployment.BaseTarget(**request.deployment["target"])
    deployments.set_deployed_base(CLIENTS.catalog, SETTINGS.endpoint_name, target, request.deployment["model_name"])
    scaling = base_deployment.ensure_scaling(CLIENTS.autoscaling, SETTINGS)
    return {**reattach(CLIENTS, SETTINGS, target.base_model), "scaling": scaling}
