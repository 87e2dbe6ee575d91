"""Ingest step 2: create the model package version, exactly once per (adapter, weights)."""
from functools import cache

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer

from loraplane_core.aws import clients
from loraplane_core.event_parser import event_parser
from loraplane_core.ingest.steps import register_version
from loraplane_core.ingest.payloads import Registration, ValidationResult
from loraplane_core.observability import emit
from loraplane_core.settings import Settings

logger, metrics = Logger(), Metrics()
SETTINGS = Settings.from_env()
CLIENTS = clients(SETTINGS)
# Content hash as identity: concurrent or replayed events for the same weights share one result.
IDEMPOTENCY = IdempotencyConfig(event_key_jmespath="[adapter_name, sha256]", expires_after_seconds=24 * 3600)


def register(validation: ValidationResult) -> Registration:
    registration = register_version(CLIENTS, SETTINGS, validation)
    emit("AdapterRegistered")  # inside the idempotent function: once per (adapter, weights)
    return registration


@cache
def register_once():
    """`register`, idempotent. Built on first use, as the other clients are (loraplane_core.aws): the
    persistence layer creates its DynamoDB client when constructed."""
    persistence = DynamoDBPersistenceLayer(table_name=SETTINGS.idempotency_table)
    return idempotent_function(data_keyword_argument="validation", persistence_store=persistence, config=IDEMPOTENCY,
                               output_serializer=PydanticSerializer)(register)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=ValidationResult)
def lambda_handler(validation: ValidationResult, context) -> dict:
    IDEMPOTENCY.register_lambda_context(context)
    registration = register_once()(validation=validation)
    logger.info("registered", extra={"adapter": validation.adapter_name, "package": registration.package_arn})
    return registration.model_dump()
