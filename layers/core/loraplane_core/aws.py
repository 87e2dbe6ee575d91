"""boto3 clients for the Lambdas, built once per container with adaptive retries."""
import boto3
from botocore.config import Config

from .ingest import Clients
from .settings import Settings

RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=5, read_timeout=60)


def clients(settings: Settings) -> Clients:
    return Clients(
        s3=boto3.client("s3", config=RETRIES),
        sagemaker=boto3.client("sagemaker", config=RETRIES),
        catalog=boto3.resource("dynamodb", config=RETRIES).Table(settings.catalog_table),
        sns=boto3.client("sns", config=RETRIES),
    )
