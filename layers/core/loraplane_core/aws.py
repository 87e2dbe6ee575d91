"""The AWS clients the core needs (`AwsClients`), and the Lambdas' implementation of it: boto3
clients created on first use (a handler pays only for the ones it calls, at cold start), with
adaptive retries."""
from functools import cached_property
from typing import Any, Protocol

import boto3
from botocore.config import Config

from loraplane_core.settings import Settings

RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=5, read_timeout=60)


class AwsClients(Protocol):
    """The one client container of the core: steps take it, tests pass in-process moto clients."""
    s3: Any
    sagemaker: Any
    catalog: Any  # the catalog table (boto3 DynamoDB Table resource)
    sns: Any
    runtime: Any  # sagemaker-runtime
    autoscaling: Any
    cloudwatch: Any  # the scale-from-zero alarms (inference-components mode)
    stepfunctions: Any


class LazyClients:
    """AwsClients for a Lambda."""

    def __init__(self, settings: Settings):
        self._settings = settings

    @cached_property
    def s3(self):
        return boto3.client("s3", config=RETRIES)

    @cached_property
    def sagemaker(self):
        return boto3.client("sagemaker", config=RETRIES)

    @cached_property
    def catalog(self):
        return boto3.resource("dynamodb", config=RETRIES).Table(self._settings.catalog_table)

    @cached_property
    def sns(self):
        return boto3.client("sns", config=RETRIES)

    @cached_property
    def runtime(self):
        # Smoke tests: a cold adapter is fetched and loaded inside the first invocation.
        return boto3.client("sagemaker-runtime", config=Config(retries={"mode": "standard", "max_attempts": 3},
                                                               connect_timeout=5, read_timeout=120))

    @cached_property
    def autoscaling(self):
        return boto3.client("application-autoscaling", config=RETRIES)

    @cached_property
    def cloudwatch(self):
        return boto3.client("cloudwatch", config=RETRIES)

    @cached_property
    def stepfunctions(self):
        return boto3.client("stepfunctions", config=RETRIES)


def clients(settings: Settings) -> AwsClients:
    return LazyClients(settings)
