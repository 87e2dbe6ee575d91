"""Every key of the catalog table, built here and nowhere else (tests/unit/test_catalog_keys.py
checks that no other module spells one). One table, seven key families:

| pk                     | sk                        | what                                          | written by          |
| ---------------------- | ------------------------- | --------------------------------------------- | ------------------- |
| adapter#<name>         | version#<sha256>          | an adapter version and its deployment state   | ingest, deployment  |
| adapter#<name>         | rejection#<fingerprint>   | an upload rejected by validation              | ingest              |
| adapter#<name>         | failure#<execution>       | an ingest or deployment that failed           | ingest, deployment  |
| endpoint#<endpoint>    | base                      | the base model the endpoint serves            | deployment          |
| package#<package ARN>  | approval                  | the last registry status acted on             | deployment          |
| lock#<endpoint>        | lock                      | the endpoint lock (lease)                     | deployment, cleanup |
| queue#<endpoint>       | decision#<start>#<exec>   | an adapter decision waiting for the lock      | deployment          |
"""
from typing import TypedDict

from boto3.dynamodb.conditions import Key as Condition

ADAPTER, VERSION, REJECTION, FAILURE = "adapter#", "version#", "rejection#", "failure#"


class Key(TypedDict):
    pk: str
    sk: str


def adapter_pk(name: str) -> str:
    return f"{ADAPTER}{name}"


def is_adapter_item(item: dict) -> bool:
    return item["pk"].startswith(ADAPTER)


def version_key(adapter: str, sha256: str) -> Key:
    return {"pk": adapter_pk(adapter), "sk": f"{VERSION}{sha256}"}


def rejection_key(adapter: str, fingerprint: str) -> Key:
    return {"pk": adapter_pk(adapter), "sk": f"{REJECTION}{fingerprint}"}


def failure_key(adapter: str, execution: str) -> Key:
    return {"pk": adapter_pk(adapter), "sk": f"{FAILURE}{execution}"}


def adapter_items_condition(name: str):
    """KeyConditionExpression: every item of one adapter."""
    return Condition("pk").eq(adapter_pk(name))


def adapter_versions_condition(name: str):
    """KeyConditionExpression: the version items of one adapter."""
    return Condition("pk").eq(adapter_pk(name)) & Condition("sk").begins_with(VERSION)


def kind_of(item: dict) -> str:
    """version | rejection | failure, for an adapter item."""
    return item["sk"].split("#", 1)[0]


def key_of(item: dict) -> Key:
    return {"pk": item["pk"], "sk": item["sk"]}


def base_key(endpoint: str) -> Key:
    return {"pk": f"endpoint#{endpoint}", "sk": "base"}


def approval_key(package_arn: str) -> Key:
    return {"pk": f"package#{package_arn}", "sk": "approval"}


def lock_key(endpoint: str) -> Key:
    return {"pk": f"lock#{endpoint}", "sk": "lock"}


QUEUE, DECISION = "queue#", "decision#"


def queue_key(endpoint: str, started_at: str, execution: str) -> Key:
    """Oldest first: `started_at` is the execution's start (ISO 8601 UTC), so sk order is queue order."""
    return {"pk": f"{QUEUE}{endpoint}", "sk": f"{DECISION}{started_at}#{execution}"}


def queue_condition(endpoint: str):
    """KeyConditionExpression: the decisions waiting for one endpoint's lock."""
    return Condition("pk").eq(f"{QUEUE}{endpoint}") & Condition("sk").begins_with(DECISION)
