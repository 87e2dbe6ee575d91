"""Fixtures for integration and e2e tests: one embedded AWS emulator per test session, with the real stack deployed and a base model approved."""
import json
import os
import time

import pytest

from loraplane.base_models import register
from loraplane.emulator.deploy import deploy_stack, local_parameters
from loraplane.emulator.server import Emulator
from loraplane.waiting import wait_until
from loraplane_core import catalog

STACK = "loraplane-test"
SESSION_ENDPOINTS: set[str] = set()  # endpoints of session-wide stacks: their serving processes outlive modules
# Tests sleep through no real grace period: 20 s of Wait state take 1 s.
os.environ["LORAPLANE_WAIT_SCALE"] = "0.05"


class Stack:
    def __init__(self, emulator: Emulator, outputs: dict, params: dict):
        self.emulator, self.outputs, self.params = emulator, outputs, params
        self.bucket = outputs["AdapterBucketName"]
        self.s3, self.sm = emulator.client("s3"), emulator.client("sagemaker")
        self.sfn, self.sqs = emulator.client("stepfunctions"), emulator.client("sqs")
        self.table = emulator.resource("dynamodb").Table(outputs["CatalogTableName"])
        self.machine = outputs["IngestStateMachineArn"]

    def upload(self, adapter_dir: str, name: str, files=("adapter_config.json", "adapter_model.safetensors")):
        for f in files:
            self.s3.upload_file(os.path.join(adapter_dir, f), self.bucket, f"adapters/{name}/{f}")

    def packages(self, adapter_name: str) -> list[dict]:
        found = []
        pages = self.sm.get_paginator("list_model_packages").paginate(
            ModelPackageGroupName=self.outputs["AdapterModelPackageGroupName"])
        for page in pages:
            for p in page["ModelPackageSummaryList"]:
                described = self.sm.describe_model_package(ModelPackageName=p["ModelPackageArn"])
                if described.get("CustomerMetadataProperties", {}).get("adapter_name") == adapter_name:
                    found.append(described)
        return found

    def items(self, adapter_name: str) -> list[dict]:
        return catalog.adapter_items(self.table, adapter_name)

    def wait_for_item(self, adapter_name: str, prefix: str, timeout: float = 60) -> dict:
        return wait_until(lambda: next((i for i in self.items(adapter_name) if i["sk"].startswith(prefix)), None),
                          timeout=timeout, what=f"a {prefix} record for {adapter_name}")

    def wait_idle(self, timeout: float = 90) -> None:
        """Until no ingest execution is running (late duplicates would show up after this)."""
        wait_until(lambda: not self.sfn.list_executions(stateMachineArn=self.machine, statusFilter="RUNNING")["executions"],
                   timeout=timeout, what="ingest executions to finish")

    def executions_for(self, key_prefix: str) -> list[dict]:
        out = []
        pages = self.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.machine)
        for e in (e for page in pages for e in page["executions"]):
            d = self.sfn.describe_execution(executionArn=e["executionArn"])
            if json.loads(d["input"])["detail"]["object"]["key"].startswith(key_prefix):
                out.append(d)
        return out


def delete_stack(emulator: Emulator, name: str, timeout: float = 300) -> None:
    """Deletes a test module's own stack (its EndpointCleanup custom resource stops its endpoint's
    serving processes) and waits until it is gone."""
    cfn = emulator.client("cloudformation")
    cfn.delete_stack(StackName=name)

    def statuses() -> list[str]:
        return [s["StackStatus"] for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == name]

    wait_until(lambda: "DELETE_IN_PROGRESS" not in statuses(), timeout=timeout, interval=1,
               what=f"stack {name} to be deleted", seen=lambda _: statuses())
    assert "DELETE_FAILED" not in statuses(), [e["ResourceStatusReason"] for e in cfn.describe_stack_events(
        StackName=name)["StackEvents"] if e.get("ResourceStatusReason")][:3]


@pytest.fixture(scope="session")
def emulator() -> Emulator:
    """The one emulator of the test session: moto's backends and the shims are process-wide."""
    em = Emulator().start()
    os.environ.update(em.environment())
    yield em
    from loraplane.emulator import hosting
    from loraplane.emulator.shims import lambda_runtime

    em.stop()
    left = [c.label for c in hosting.manager().started if c.group_alive()]
    assert not left, f"serving processes outlived the emulator: {left}"
    assert not lambda_runtime.environments().pids(), "Lambda execution environments outlived the emulator"


@pytest.fixture(scope="session")
def stack(emulator, tiny_base_dir) -> Stack:
    params = local_parameters(UploadGraceSeconds="20", MaxLoraRank="16", MaxAdapterBytes="1000000")
    outputs = deploy_stack(emulator, STACK, params)
    SESSION_ENDPOINTS.add(outputs["EndpointName"])
    s = Stack(emulator, outputs, params)
    import boto3

    register(boto3.Session(), outputs, "tiny-llama", params["ServingImageUri"], model_dir=tiny_base_dir, approve=True)
    return s


@pytest.fixture(scope="session")
def notifications(stack):
    """Every SNS notification of the stack, through an SQS subscription; call to drain."""
    queue_url = stack.sqs.create_queue(QueueName="test-notifications")["QueueUrl"]
    arn = stack.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.emulator.client("sns").subscribe(TopicArn=stack.outputs["NotificationTopicArn"], Protocol="sqs", Endpoint=arn)
    seen: list[dict] = []

    def drain(wait: float = 0.5) -> list[dict]:
        time.sleep(wait)
        while True:
            msgs = stack.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                return seen
            for m in msgs:
                envelope = json.loads(m["Body"])
                seen.append({"subject": envelope.get("Subject"), "message": json.loads(envelope["Message"])})
                stack.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])

    return drain
