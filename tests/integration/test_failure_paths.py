"""Failures are recorded and notified, never lost: Catch states, retries, dead letters."""
import json
import time
from pathlib import Path

import pytest

from loraplane.emulator.local_aws import ACCOUNT, REGION
from loraplane.waiting import wait_until


def test_register_failure_ends_in_ingest_failed(stack, make_adapter, notifications):
    """The model registry refuses the create (its group is gone): after the retries the
    execution takes the failure path - catalog record, notification, IngestFailed."""
    from moto.sagemaker.models import sagemaker_backends

    groups = sagemaker_backends[ACCOUNT][REGION].model_package_groups
    name = stack.outputs["AdapterModelPackageGroupName"]
    group = groups.pop(name)
    try:
        stack.upload(make_adapter(seed=31), "doomed")
        item = stack.wait_for_item("doomed", "failure#", timeout=120)
        # Both files' executions run at once: the group comes back only when both are done, or the
        # later one's retries would register the version after all.
        stack.wait_idle(timeout=180)
    finally:
        groups[name] = group
    assert item["state"] == "failed" and item["reason"]
    statuses = {e["status"] for e in stack.executions_for("adapters/doomed/")}
    assert statuses == {"FAILED"}
    failed = [e for e in stack.executions_for("adapters/doomed/")][0]
    history = stack.sfn.get_execution_history(executionArn=failed["executionArn"])["events"]
    assert any(h["type"] == "ExecutionFailed" and h["executionFailedEventDetails"]["error"] == "IngestFailed" for h in history)
    entered = [h["stateEnteredEventDetails"]["name"] for h in history if h["type"].endswith("StateEntered")]
    assert entered[-3:] == ["RecordFailure", "NotifyFailure", "IngestFailed"]
    notes = [n for n in notifications() if n["message"].get("adapter_name") == "doomed"]
    assert notes and all(n["message"]["event"] == "adapter.failed" for n in notes)
    assert stack.packages("doomed") == []


def test_undeliverable_event_goes_to_dead_letter_queue(stack):
    """A rule whose target cannot be started: after EventBridge's retries the event is dead-lettered."""
    events = stack.emulator.client("events")
    dlq_url = stack.outputs["IngestDeadLetterQueueUrl"]
    dlq_arn = stack.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="broken-target", EventPattern=json.dumps({
        "source": ["aws.s3"], "detail": {"object": {"key": [{"prefix": "dlq-test/"}]}}}))
    events.put_targets(Rule="broken-target", Targets=[{
        "Id": "missing", "Arn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:does-not-exist",
        "DeadLetterConfig": {"Arn": dlq_arn}}])
    try:
        stack.s3.put_object(Bucket=stack.bucket, Key="dlq-test/x", Body=b"x")
        msg = wait_until(lambda: stack.sqs.receive_message(QueueUrl=dlq_url, MessageAttributeNames=["All"]).get("Messages"),
                         timeout=30, what="a dead letter")[0]
    finally:
        events.remove_targets(Rule="broken-target", Ids=["missing"])
        events.delete_rule(Name="broken-target")
    assert json.loads(msg["Body"])["detail"]["object"]["key"] == "dlq-test/x"
    assert msg["MessageAttributes"]["TARGET_ARN"]["StringValue"].endswith("does-not-exist")


def test_lambda_errors_surface_as_function_errors(stack):
    """The emulated Lambda runtime reports a handler exception like Lambda does."""
    fn = f"{stack.params['SageMakerProjectName']}-{stack.params['SageMakerProjectId']}-record"
    resp = stack.emulator.client("lambda").invoke(FunctionName=fn, Payload=json.dumps({"kind": "nonsense"}))
    assert resp.get("FunctionError")
    payload = json.loads(resp["Payload"].read())
    assert payload["errorType"] == "ValidationError" and "kind" in payload["errorMessage"]


@pytest.mark.parametrize("scale", ["0.05"])
def test_wait_states_are_fast_forwarded(stack, make_adapter, scale):
    """UploadGraceSeconds is 20 in this stack; with LORAPLANE_WAIT_SCALE=0.05 it takes about 1 s."""
    t0 = time.monotonic()
    stack.upload(make_adapter(seed=32), "lonely", ("adapter_config.json",))
    stack.wait_for_item("lonely", "rejection#", timeout=30)
    assert time.monotonic() - t0 < 15


def test_dead_letters_are_redriven_once(stack):
    """`loraplane redrive`: an upload event that waited in the dead-letter queue starts its ingest,
    leaves the queue, and a second redrive finds nothing of it."""
    from loraplane.redrive import execution_name, redrive

    event = json.loads((Path(__file__).parents[1] / "events" / "s3-object-created.json").read_text())
    event["detail"]["bucket"]["name"] = stack.bucket
    event["detail"]["object"]["key"] = "adapters/redriven/notes.txt"  # not an adapter file: a quick ending
    url = stack.outputs["IngestDeadLetterQueueUrl"]
    message_id = stack.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))["MessageId"]
    done = redrive(stack.sqs, stack.sfn, stack.outputs, "ingest")
    [mine] = [r for r in done if r.message_id == message_id]
    assert mine.execution.endswith(":" + execution_name(message_id))
    status = wait_until(lambda: (lambda s: s if s != "RUNNING" else None)(
        stack.sfn.describe_execution(executionArn=mine.execution)["status"]), timeout=60, what="the redriven ingest")
    assert status == "SUCCEEDED"
    assert json.loads(stack.sfn.describe_execution(executionArn=mine.execution)["input"]) == event
    again = redrive(stack.sqs, stack.sfn, stack.outputs, "ingest")
    assert message_id not in {r.message_id for r in again}
