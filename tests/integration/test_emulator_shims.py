"""The shims' output compared with AWS's documented event samples (../shared/aws-events)."""
import json
import re
from pathlib import Path

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel

from loraplane.waiting import wait_until

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "aws-events"
FIXTURES = Path(__file__).resolve().parents[1] / "events"


def sample(name: str) -> dict:
    path = SAMPLES / name if (SAMPLES / name).exists() else FIXTURES / name
    return json.loads(path.read_text())


def capture(stack, name: str, pattern: dict) -> str:
    """Route matching events to an SQS queue, as a user's own rule would."""
    url = stack.sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = stack.emulator.client("events")
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
    return url


def received(stack, url: str, count: int) -> list[dict]:
    got: list[dict] = []

    def probe():
        for m in stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            got.append(json.loads(m["Body"]))
            stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return len(got) >= count

    wait_until(probe, timeout=20, what=f"{count} events")
    return got


def test_s3_object_created_matches_documented_shape(stack):
    url = capture(stack, "s3-shape", {"source": ["aws.s3"], "detail": {"object": {"key": [{"prefix": "shape/"}]}}})
    stack.s3.put_object(Bucket=stack.bucket, Key="shape/a", Body=b"12345")
    [event] = received(stack, url, 1)
    doc = sample("s3-object-created.json")
    assert set(event) == set(doc) and set(event["detail"]) == set(doc["detail"])
    assert set(event["detail"]["object"]) == set(doc["detail"]["object"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
    parsed = parse(event=event, model=S3EventNotificationEventBridgeModel)
    assert parsed.detail.object.key == "shape/a" and parsed.detail.object.size == 5 and parsed.detail.reason == "PutObject"


def test_model_package_state_change_on_create_and_update(stack):
    url = capture(stack, "mp-shape", {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
                                      "detail": {"ModelPackageGroupName": ["shim-group"]}})
    stack.sm.create_model_package_group(ModelPackageGroupName="shim-group")
    arn = stack.sm.create_model_package(
        ModelPackageGroupName="shim-group", ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={"Containers": [{"Image": "img", "ModelDataUrl": "s3://b/k.tar.gz"}],
                                "SupportedContentTypes": ["application/json"], "SupportedResponseMIMETypes": ["application/json"]},
        CustomerMetadataProperties={"adapter_name": "x"})["ModelPackageArn"]
    stack.sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    created, updated = sorted(received(stack, url, 2), key=lambda e: e["detail"]["ModelApprovalStatus"] != "PendingManualApproval")
    doc = sample("sagemaker-model-package-state-change.json")
    for event in (created, updated):
        assert event["detail-type"] == doc["detail-type"] and event["resources"] == [arn]
        assert {"ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn", "ModelApprovalStatus",
                "ModelPackageStatus", "CreationTime", "InferenceSpecification"} <= set(event["detail"])
    assert updated["detail"]["ModelApprovalStatus"] == "Approved"
    # moto alone would drop the metadata on this update
    assert stack.sm.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"] == {"adapter_name": "x"}


def test_schedule_rules_are_not_triggered_by_events(stack):
    """moto matches a schedule-only rule against every event; AWS never does."""
    events, sfn = stack.emulator.client("events"), stack.sfn

    def count() -> int:
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=stack.outputs["DeployStateMachineArn"])
        return sum(len(page["executions"]) for page in pages)

    before = count()
    rules = events.list_rules()["Rules"]
    assert any(r.get("ScheduleExpression") for r in rules)  # the reconciler's schedule
    events.put_events(Entries=[{"Source": "test", "DetailType": "anything", "Detail": "{}"}])
    import time
    time.sleep(2)
    assert count() == before


def test_a_retried_create_model_package_returns_the_first_package(emulator):
    """A Lambda that timed out after CreateModelPackage is retried with the same ClientToken: one version."""
    sm = emulator.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="client-token-test")
    spec = {"Containers": [{"Image": "img", "ModelDataUrl": "s3://b/a.tar.gz"}],
            "SupportedContentTypes": ["application/json"], "SupportedResponseMIMETypes": ["application/json"]}
    first, again, other = (sm.create_model_package(ModelPackageGroupName="client-token-test", InferenceSpecification=spec,
                                                   ClientToken=token)["ModelPackageArn"] for token in ("t1", "t1", "t2"))
    assert first == again != other
    listed = sm.list_model_packages(ModelPackageGroupName="client-token-test")["ModelPackageSummaryList"]
    assert sorted(p["ModelPackageArn"] for p in listed) == sorted([first, other])


def test_fault_switch_fails_chosen_calls_as_aws_would(emulator):
    """Injected faults reach boto3 as AWS's errors: a throttle that the SDK's retries ride out, a
    refusal that surfaces, a 5xx; and a Lambda that crashes instead of running its handler."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from loraplane.emulator.local_aws import CREDENTIALS
    from loraplane.emulator.shims import faults

    def client(service: str, attempts: int = 1):
        return boto3.client(service, endpoint_url=emulator.url, region_name=emulator.region, **CREDENTIALS,
                            config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}))

    sm, ddb = client("sagemaker"), client("dynamodb")
    try:
        faults.fail_call("sagemaker", "ListModelPackageGroups", "ThrottlingException")
        try:
            sm.list_model_package_groups()
            raise AssertionError("no fault")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ThrottlingException"
        sm.list_model_package_groups()  # times=1: the next call goes through
        throttle = faults.fail_call("sagemaker", "ListModelPackageGroups", "ThrottlingException", times=2)
        client("sagemaker", attempts=5).list_model_package_groups()
        assert throttle.failed == 2  # the SDK retried past both
        faults.fail_call("dynamodb", "ListTables", "InternalServerError", status=500)
        try:
            ddb.list_tables()
            raise AssertionError("no fault")
        except ClientError as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        denied = faults.fail_call("sagemaker", "ListModelPackageGroups", "AccessDeniedException", times=-1)
        for _ in range(3):
            try:
                sm.list_model_package_groups()
            except ClientError as e:
                assert e.response["Error"]["Code"] == "AccessDeniedException"
        assert denied.failed == 3
    finally:
        faults.clear()
    sm.list_model_package_groups()


def test_fault_switch_crashes_and_times_out_lambdas(stack):
    from loraplane.emulator.shims import faults

    fn = f"{stack.params['SageMakerProjectName']}-{stack.params['SageMakerProjectId']}-record"
    lam = stack.emulator.client("lambda")
    try:
        faults.fail_lambda("-record", "crash")
        faults.fail_lambda("-record", "timeout")
        crashed = json.loads(lam.invoke(FunctionName=fn, Payload=b"{}")["Payload"].read())
        timed_out = json.loads(lam.invoke(FunctionName=fn, Payload=b"{}")["Payload"].read())
    finally:
        faults.clear()
    assert crashed["errorType"] == "Runtime.ExitError" and timed_out["errorType"] == "Sandbox.Timedout"
    ran = lam.invoke(FunctionName=fn, Payload=b"{}")  # no fault left: the handler runs (and refuses {})
    assert json.loads(ran["Payload"].read())["errorType"] == "ValidationError"
