"""CloudWatch alarms that evaluate and notify in the emulator (shims/alarm_evaluation.py, aws_metrics.py).

First the wiring against the session's emulator with alarms of the tests' own (rounds run on demand, so
each step is decided at once); then a stack of its own, where the emulator's background rounds move the
stack's alarms: a dead letter puts `<project>-<id>-ingest-dead-letters` in ALARM, a failed ingest
execution `-ingest-failed`, a DriftFound data point `-drift`, each announced on the stack's topic."""
import datetime as dt
import json
import os
import uuid

import pytest

from loraplane.emulator.deploy import deploy_stack, local_parameters
from loraplane.emulator.shims import alarm_evaluation, faults
from loraplane.waiting import wait_until
from tests.stack_fixture import delete_stack

STACK, PROJECT = "loraplane-alarms", ("lpalarm", "p-alarm")
PREFIX = "-".join(PROJECT)


@pytest.fixture(scope="module", autouse=True)
def fast_rounds():
    """A round a second (the thread reads the interval before each wait)."""
    before = os.environ.get(alarm_evaluation.INTERVAL_ENV)
    os.environ[alarm_evaluation.INTERVAL_ENV] = "1"
    yield
    if before is None:
        os.environ.pop(alarm_evaluation.INTERVAL_ENV, None)
    else:
        os.environ[alarm_evaluation.INTERVAL_ENV] = before


class Inbox:
    """The notifications of a topic, through an SQS subscription of the test's own."""

    def __init__(self, emulator, topic_arn: str):
        self.sqs, self.seen = emulator.client("sqs"), []
        self.url = self.sqs.create_queue(QueueName=f"alarm-inbox-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        emulator.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)

    def read(self) -> list[dict]:
        while msgs := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", []):
            for m in msgs:
                envelope = json.loads(m["Body"])
                self.seen.append({"subject": envelope.get("Subject"), "message": json.loads(envelope["Message"])})
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
        return self.seen

    def of(self, alarm: str, state: str | None = None) -> list[dict]:
        return [n for n in self.read() if n["message"].get("AlarmName") == alarm
                and state in (None, n["message"]["NewStateValue"])]

    def wait_for(self, alarm: str, state: str, timeout: float = 120) -> dict:
        return wait_until(lambda: self.of(alarm, state), timeout=timeout, interval=0.5,
                          what=f"{alarm} -> {state} on the topic", seen=lambda _: [
                              (n["message"]["AlarmName"], n["message"]["NewStateValue"]) for n in self.seen])[0]


def state(cloudwatch, name: str) -> tuple[str, str]:
    [alarm] = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return alarm["StateValue"], alarm["StateReason"]


# -- the wiring, on alarms of the test's own ------------------------------------------------------------
@pytest.fixture
def own(emulator):
    cloudwatch, sns = emulator.client("cloudwatch"), emulator.client("sns")
    topic = sns.create_topic(Name=f"alarms-{uuid.uuid4().hex[:8]}")["TopicArn"]
    inbox, names = Inbox(emulator, topic), []
    namespace = f"LoRAPlaneTest/{uuid.uuid4().hex[:8]}"

    def alarm(name: str, **overrides) -> str:
        names.append(name)
        cloudwatch.put_metric_alarm(**{
            "AlarmName": name, "AlarmDescription": "errors seen", "Namespace": namespace, "MetricName": "Errors",
            "Dimensions": [{"Name": "service", "Value": "s"}], "Statistic": "Sum", "Period": 60,
            "EvaluationPeriods": 1, "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching", "AlarmActions": [topic], "OKActions": [topic], **overrides})
        return name

    def put(value: float, seconds_ago: float = 0) -> None:
        at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=seconds_ago)
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=[
            {"MetricName": "Errors", "Dimensions": [{"Name": "service", "Value": "s"}], "Value": value,
             "Timestamp": at}])

    yield cloudwatch, inbox, alarm, put
    cloudwatch.delete_alarms(AlarmNames=names)
    sns.delete_topic(TopicArn=topic)
    inbox.sqs.delete_queue(QueueUrl=inbox.url)


def test_an_alarm_evaluates_its_metric_and_notifies_each_change(own):
    cloudwatch, inbox, alarm, put = own
    name = alarm(f"errors-{uuid.uuid4().hex[:6]}")
    alarm_evaluation.evaluate_all()
    assert state(cloudwatch, name)[0] == "OK"  # no data, treated as not breaching
    ok = inbox.wait_for(name, "OK")
    assert ok["message"]["OldStateValue"] == "INSUFFICIENT_DATA"  # where a new alarm starts, as on AWS

    # In the period before the newest (60 s periods: it stays in the 3-period range for about 110 s more, so
    # background rounds on a slow machine do not move the alarm on before the asserts below).
    put(3, seconds_ago=70)
    alarm_evaluation.evaluate_all()
    value, reason = state(cloudwatch, name)
    assert value == "ALARM" and reason.startswith("Threshold Crossed: 1 out of the last 1 datapoints [3.0 (")
    note = inbox.wait_for(name, "ALARM")
    assert note["subject"] == f'ALARM: "{name}" in US East (N. Virginia)'
    msg = note["message"]
    assert (msg["OldStateValue"], msg["NewStateReason"], msg["AlarmDescription"]) == ("OK", reason, "errors seen")
    assert msg["AlarmArn"].endswith(f":alarm:{name}") and msg["AWSAccountId"] == "123456789012"
    assert msg["Trigger"]["Dimensions"] == [{"value": "s", "name": "service"}]
    assert (msg["Trigger"]["Statistic"], msg["Trigger"]["Period"], msg["Trigger"]["Threshold"]) == ("SUM", 60, 0.0)
    [described] = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    data = json.loads(described["StateReasonData"])
    assert data["recentDatapoints"] == [3.0] and data["evaluatedDatapoints"][0]["sampleCount"] == 1.0

    alarm(name, AlarmDescription="errors seen, updated")  # an update keeps the state: no second ALARM
    assert state(cloudwatch, name)[0] == "ALARM"
    alarm_evaluation.evaluate_all()
    assert len(inbox.of(name, "ALARM")) == 1

    put(0)  # the newest period's datapoint is within the threshold: it decides
    alarm_evaluation.evaluate_all()
    assert state(cloudwatch, name)[0] == "OK"
    assert [n["message"]["OldStateValue"] for n in inbox.of(name, "OK")] == ["INSUFFICIENT_DATA", "ALARM"]


def test_set_alarm_state_notifies_and_lasts_until_the_next_evaluation(own):
    cloudwatch, inbox, alarm, _ = own
    name = alarm(f"forced-{uuid.uuid4().hex[:6]}")
    alarm_evaluation.evaluate_all()
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing the pager")
    assert inbox.wait_for(name, "ALARM")["message"]["NewStateReason"] == "testing the pager"
    alarm_evaluation.evaluate_all()
    assert state(cloudwatch, name)[0] == "OK"


def test_disabled_actions_and_alarms_without_an_emulated_metric(own):
    cloudwatch, inbox, alarm, put = own
    quiet = alarm(f"quiet-{uuid.uuid4().hex[:6]}", ActionsEnabled=False)
    endpoint = alarm(f"endpoint-{uuid.uuid4().hex[:6]}", Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors")
    put(1)
    alarm_evaluation.evaluate_all()
    assert state(cloudwatch, quiet)[0] == "ALARM"
    assert state(cloudwatch, endpoint) == ("INSUFFICIENT_DATA", "Unchecked: Initial alarm creation")
    cloudwatch.set_alarm_state(AlarmName=endpoint, StateValue="ALARM", StateReason="as a test sets it")
    alarm_evaluation.evaluate_all()
    assert state(cloudwatch, endpoint) == ("ALARM", "as a test sets it")  # nothing else moves it
    assert inbox.of(quiet) == [] and len(inbox.of(endpoint, "ALARM")) == 1


def test_a_round_drops_datapoints_older_than_cloudwatch_keeps_them(emulator):
    """metric_retention.py: 15 days, as CloudWatch keeps 1-minute datapoints; newer ones stay."""
    cloudwatch, namespace = emulator.client("cloudwatch"), f"LoRAPlaneTest/{uuid.uuid4().hex[:8]}"
    now = dt.datetime.now(dt.timezone.utc)
    for name, at in (("Old", now - dt.timedelta(days=16)), ("Recent", now - dt.timedelta(days=13))):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": name, "Value": 1, "Timestamp": at}])
    alarm_evaluation.evaluate_all()

    def points(name: str, at: dt.datetime) -> list:
        return cloudwatch.get_metric_statistics(Namespace=namespace, MetricName=name, Statistics=["Sum"], Period=3600,
                                                StartTime=at - dt.timedelta(hours=1),
                                                EndTime=at + dt.timedelta(hours=1))["Datapoints"]

    assert points("Old", now - dt.timedelta(days=16)) == []
    assert [p["Sum"] for p in points("Recent", now - dt.timedelta(days=13))] == [1.0]


# -- the stack's alarms, moved by the background rounds -----------------------------------------------------
@pytest.fixture(scope="module")
def alarmed(emulator):
    outputs = deploy_stack(emulator, STACK, local_parameters(*PROJECT))
    inbox = Inbox(emulator, outputs["NotificationTopicArn"])
    yield outputs, inbox
    faults.clear()
    delete_stack(emulator, STACK)
    inbox.sqs.delete_queue(QueueUrl=inbox.url)


def test_a_dead_letter_puts_the_dead_letter_alarm_in_alarm(emulator, alarmed):
    outputs, inbox = alarmed
    sqs, cloudwatch = emulator.client("sqs"), emulator.client("cloudwatch")
    queue = outputs["IngestDeadLetterQueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"detail-type": "Object Created"}))
    note = inbox.wait_for(f"{PREFIX}-ingest-dead-letters", "ALARM")
    msg = note["message"]
    assert msg["OldStateValue"] in ("OK", "INSUFFICIENT_DATA")
    assert msg["NewStateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [1.0 (")
    assert msg["Trigger"] | {"Dimensions": None} == {
        "MetricName": "ApproximateNumberOfMessagesVisible", "Namespace": "AWS/SQS", "StatisticType": "Statistic",
        "Statistic": "MAXIMUM", "Unit": None, "Dimensions": None, "Period": 300, "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold", "Threshold": 0.0, "TreatMissingData": "notBreaching",
        "EvaluateLowSampleCountPercentile": ""}
    assert msg["Trigger"]["Dimensions"] == [{"value": queue.rsplit("/", 1)[-1], "name": "QueueName"}]
    assert note["subject"].startswith(f'ALARM: "{PREFIX}-ingest-dead-letters" in ')
    assert state(cloudwatch, f"{PREFIX}-ingest-dead-letters")[0] == "ALARM"
    now = dt.datetime.now(dt.timezone.utc)  # the metric itself, as the dashboard reads it
    [point] = cloudwatch.get_metric_statistics(
        Namespace="AWS/SQS", MetricName="ApproximateNumberOfMessagesVisible", Statistics=["Maximum"], Period=3600,
        Dimensions=[{"Name": "QueueName", "Value": queue.rsplit("/", 1)[-1]}], StartTime=now - dt.timedelta(hours=1),
        EndTime=now + dt.timedelta(minutes=1))["Datapoints"]
    assert point["Maximum"] == 1.0
    assert state(cloudwatch, f"{PREFIX}-deploy-dead-letters")[0] == "OK"  # its queue is empty
    # The endpoint's alarms read AWS/SageMaker, which the emulator does not produce: never evaluated.
    assert state(cloudwatch, f"{PREFIX}-endpoint-5xx")[0] == "INSUFFICIENT_DATA"


def test_a_failed_ingest_execution_puts_the_failed_alarm_in_alarm(emulator, alarmed):
    outputs, inbox = alarmed
    sfn = emulator.client("stepfunctions")
    faults.fail_lambda(f"{PREFIX}-validate", "crash", times=-1)  # every attempt: retries exhausted, then Fail
    event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
             "account": "123456789012", "time": "2025-05-24T10:00:00Z", "region": "us-east-1", "resources": [],
             "detail": {"bucket": {"name": outputs["AdapterBucketName"]},
                        "object": {"key": "adapters/crashing/adapter_config.json", "size": 2}}}
    try:
        arn = sfn.start_execution(stateMachineArn=outputs["IngestStateMachineArn"],
                                  input=json.dumps(event))["executionArn"]
        wait_until(lambda: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING", timeout=180, interval=1,
                   what="the ingest execution to end")
    finally:
        faults.clear()
    assert sfn.describe_execution(executionArn=arn)["status"] == "FAILED"
    msg = inbox.wait_for(f"{PREFIX}-ingest-failed", "ALARM")["message"]
    assert (msg["Trigger"]["Namespace"], msg["Trigger"]["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    assert msg["Trigger"]["Dimensions"] == [{"value": outputs["IngestStateMachineArn"], "name": "StateMachineArn"}]
    assert inbox.of(f"{PREFIX}-deploy-failed") == []  # the other state machine's alarm has no failure to see


def test_an_application_metric_puts_its_alarm_in_alarm(emulator, alarmed):
    _, inbox = alarmed
    emulator.client("cloudwatch").put_metric_data(Namespace="LoRAPlane", MetricData=[
        {"MetricName": "DriftFound", "Dimensions": [{"Name": "service", "Value": PREFIX}], "Value": 2}])
    msg = inbox.wait_for(f"{PREFIX}-drift", "ALARM")["message"]
    assert msg["Trigger"]["Namespace"] == "LoRAPlane" and "[2.0 (" in msg["NewStateReason"]
