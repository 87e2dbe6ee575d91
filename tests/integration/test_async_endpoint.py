"""The journey with `ServingMode=async`: the on-demand container behind a SageMaker asynchronous
endpoint. An adapter uploaded, registered, approved and live (its smoke test itself goes through
InvokeEndpointAsync), then a request naming it answers in S3 with an SNS success notification, and a
request that fails leaves its failure object and an error notification. A stack of its own in the
session's emulator (its own project name: its own bucket, groups, endpoint and topics)."""
import json
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from loraplane import invoke_async
from loraplane.base_models import register
from loraplane.cli_errors import NotFound, Usage
from loraplane.emulator.deploy import deploy_stack, local_parameters
from loraplane.waiting import wait_until
from loraplane_core import async_inference
from loraplane_core.deployment import versions as deployments
from tests.stack_fixture import Stack, delete_stack

from .test_deployment import decide, upload_version, version_state, wait_deployments_idle, wait_state, zero_effect_copy

STACK = "loraplane-async"
PROMPT = {"inputs": "Hello, who are you?", "parameters": {"max_new_tokens": 8}}


@pytest.fixture(scope="module")
def async_stack(emulator, tiny_base_dir) -> Stack:
    params = local_parameters("lpas", "p-as", ServingMode="async", ScaleToZero="true", MaxLoraRank="16",
                              UploadGraceSeconds="20", InstanceCount="1", MaxInstanceCount="2")
    outputs = deploy_stack(emulator, STACK, params)
    s = Stack(emulator, outputs, params)
    try:
        arn = register(boto3.Session(), outputs, "tiny-llama", params["ServingImageUri"], model_dir=tiny_base_dir,
                       approve=True)
        wait_until(lambda: (deployments.deployed_base(s.table, outputs["EndpointName"]) or {}).get(
            "package_arn") == arn, timeout=600, interval=2, what="the async endpoint")
        wait_deployments_idle(s)
        yield s
    finally:
        delete_stack(emulator, STACK)  # its EndpointCleanup stops the endpoint's serving process
    # Teardown removed what the deployments made: the variant's scaling, its alarm, the async config.
    resource = f"endpoint/{outputs['EndpointName']}/variant/AllTraffic"
    assert emulator.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource])["ScalableTargets"] == []
    assert emulator.client("cloudwatch").describe_alarms(AlarmNames=["lpas-p-as-scale-from-zero"])["MetricAlarms"] == []
    assert emulator.client("sagemaker").list_endpoint_configs(NameContains="lpas-p-as-async")["EndpointConfigs"] == []


@pytest.fixture(scope="module")
def results(async_stack):
    """Every notification on the success and error topics, through SQS subscriptions: call to read."""
    sqs, sns = async_stack.sqs, async_stack.emulator.client("sns")
    queues = {}
    for status, output in (("Completed", "AsyncSuccessTopicArn"), ("Failed", "AsyncErrorTopicArn")):
        url = sqs.create_queue(QueueName=f"async-{status.lower()}-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=async_stack.outputs[output], Protocol="sqs", Endpoint=queue_arn)
        queues[status] = url
    seen: dict[str, list[dict]] = {"Completed": [], "Failed": []}

    def read(status: str) -> list[dict]:
        for m in sqs.receive_message(QueueUrl=queues[status], MaxNumberOfMessages=10).get("Messages", []):
            seen[status].append(json.loads(json.loads(m["Body"])["Message"]))
            sqs.delete_message(QueueUrl=queues[status], ReceiptHandle=m["ReceiptHandle"])
        return seen[status]

    yield read
    for url in queues.values():
        sqs.delete_queue(QueueUrl=url)


def submit(stack: Stack, adapter: str | None = None, **extra) -> async_inference.Submitted:
    args = {"CustomAttributes": f"adapter={adapter}"} if adapter else {}
    return async_inference.submit(stack.emulator.client("sagemaker-runtime"), stack.s3, stack.bucket,
                                  stack.outputs["EndpointName"], json.dumps(PROMPT).encode(), **args, **extra)


def notified(read, status: str, request: async_inference.Submitted) -> dict:
    return wait_until(lambda: next((m for m in read(status) if m["inferenceId"] == request.inference_id), None),
                      timeout=60, interval=0.5, what=f"the {status} notification of {request.inference_id}")


def answer(stack: Stack, request: async_inference.Submitted) -> str:
    import time

    return json.loads(async_inference.wait(stack.s3, request, time.time() + 60, poll_seconds=0.2))[0]["generated_text"]


def test_the_endpoint_is_asynchronous_and_scales_to_zero(async_stack):
    sm, out = async_stack.sm, async_stack.outputs
    endpoint = sm.describe_endpoint(EndpointName=out["EndpointName"])
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    assert endpoint["EndpointConfigName"].startswith("lpas-p-as-async")
    assert config["ProductionVariants"][0]["ModelName"].startswith("lpas-p-as-base-")
    output = config["AsyncInferenceConfig"]["OutputConfig"]
    assert output["S3OutputPath"] == f"s3://{async_stack.bucket}/async/outputs"
    assert output["S3FailurePath"] == f"s3://{async_stack.bucket}/async/failures"
    assert output["NotificationConfig"] == {"SuccessTopic": out["AsyncSuccessTopicArn"],
                                            "ErrorTopic": out["AsyncErrorTopicArn"]}
    assert out["AsyncInputPrefix"] == f"s3://{async_stack.bucket}/async/inputs/"
    scaling = async_stack.emulator.client("application-autoscaling")
    resource = f"endpoint/{out['EndpointName']}/variant/AllTraffic"
    [target] = scaling.describe_scalable_targets(ServiceNamespace="sagemaker",
                                                 ResourceIds=[resource])["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 2)
    policies = {p["PolicyName"]: p for p in scaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=resource)["ScalingPolicies"] if p["ResourceId"] == resource}
    tracked = policies["lpas-p-as-backlog"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracked["CustomizedMetricSpecification"]["MetricName"] == "ApproximateBacklogSizePerInstance"
    assert policies["lpas-p-as-scale-from-zero"]["PolicyType"] == "StepScaling"
    [alarm] = async_stack.emulator.client("cloudwatch").describe_alarms(
        AlarmNames=["lpas-p-as-scale-from-zero"])["MetricAlarms"]
    assert alarm["MetricName"] == "HasBacklogWithoutCapacity"
    assert alarm["Dimensions"] == [{"Name": "EndpointName", "Value": out["EndpointName"]}]


def test_the_async_journey(async_stack, results, make_adapter):
    """upload -> registered -> approved -> live -> a request naming the adapter answers in S3 and is
    notified; a failing request leaves its failure object and an error notification."""
    item = upload_version(async_stack, make_adapter(seed=41), "batcher")
    assert item["state"] == "registered"
    decide(async_stack, item, "Approved")
    wait_state(async_stack, "batcher", item, "live")  # its smoke test went through InvokeEndpointAsync
    wait_deployments_idle(async_stack)
    # ... into a folder of its own, the only results the smoke test's role may read (template.yaml)
    smoke = async_stack.s3.list_objects_v2(Bucket=async_stack.bucket, Prefix="async/outputs/smoke/")
    assert smoke.get("KeyCount", 0) >= 2  # the base model's answer and the adapter's

    base, tuned = submit(async_stack), submit(async_stack, "batcher")
    assert tuned.output_location.startswith(f"s3://{async_stack.bucket}/async/outputs/")
    assert "/smoke/" not in tuned.output_location
    assert answer(async_stack, tuned) != answer(async_stack, base)
    success = notified(results, "Completed", tuned)
    assert success["responseParameters"]["outputLocation"] == tuned.output_location
    assert success["requestParameters"] == {"contentType": "application/json",
                                            "endpointName": async_stack.outputs["EndpointName"],
                                            "inputLocation": tuned.input_location}
    assert (success["eventSource"], success["eventName"]) == ("aws:sagemaker", "InferenceResult")

    failing = submit(async_stack, "nobody")
    with pytest.raises(async_inference.AsyncRequestFailed, match="adapter 'nobody' not found"):
        answer(async_stack, failing)
    error = notified(results, "Failed", failing)
    assert error["responseParameters"]["failureLocation"] == failing.failure_location
    assert error["failureReason"].startswith("ClientError: Received client error (404) from model")
    assert not any(m["inferenceId"] == failing.inference_id for m in results("Completed"))


def test_a_failed_async_smoke_test_rolls_back(async_stack, make_adapter):
    """An adapter that changes nothing answers like the base model through InvokeEndpointAsync: the
    smoke test fails, the version is marked failed and nothing of it stays live."""
    dud = upload_version(async_stack, zero_effect_copy(make_adapter(seed=42)), "dud")
    decide(async_stack, dud, "Approved")
    wait_until(lambda: any(i["sk"].startswith("failure#") for i in async_stack.items("dud")), timeout=240,
               interval=1, what="the failure record")
    wait_deployments_idle(async_stack)
    assert version_state(async_stack, "dud", dud["package_arn"]) == "failed"
    assert "SmokeTestFailed" in next(i for i in async_stack.items("dud") if i["sk"].startswith("failure#"))["reason"]
    manifest = json.loads(async_stack.s3.get_object(Bucket=async_stack.bucket, Key="live/manifest.json")["Body"].read())
    assert "dud" not in manifest["adapters"]


def test_bad_requests_are_refused(async_stack, results):
    runtime, endpoint = async_stack.emulator.client("sagemaker-runtime"), async_stack.outputs["EndpointName"]

    def refused(call) -> str:
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "ValidationError"
        return e.value.response["Error"]["Message"]

    assert "only InvokeEndpointAsync" in refused(lambda: runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="application/json", Body=json.dumps(PROMPT)))
    assert "Exactly one of InputLocation and Body" in refused(lambda: runtime.invoke_endpoint_async(
        EndpointName=endpoint))
    assert "not an S3 URI" in refused(lambda: runtime.invoke_endpoint_async(
        EndpointName=endpoint, InputLocation="https://example.com/input.json"))
    assert "not found" in refused(lambda: runtime.invoke_endpoint_async(
        EndpointName="lpas-p-as-missing", InputLocation=f"s3://{async_stack.bucket}/async/inputs/x.json"))
    # An input that is not there fails the request itself, asynchronously, as any failure does.
    missing = runtime.invoke_endpoint_async(EndpointName=endpoint,
                                            InputLocation=f"s3://{async_stack.bucket}/async/inputs/none.json")
    error = notified(results, "Failed", async_inference.Submitted(missing["InferenceId"], "", "", None))
    assert "could not read the input" in error["failureReason"]


def test_an_input_over_the_size_limit_fails_unread(async_stack, results, monkeypatch):
    """1 GB on AWS; the emulator runs in this process, so a limit of 16 bytes stands in for it."""
    from loraplane.emulator.shims import sagemaker_async

    monkeypatch.setattr(sagemaker_async, "MAX_INPUT_BYTES", 16)
    request = submit(async_stack)
    with pytest.raises(async_inference.AsyncRequestFailed, match="over the 16 bytes"):
        answer(async_stack, request)
    error = notified(results, "Failed", request)
    assert error["failureReason"] == (f"ClientError: The input {request.input_location} is "
                                      f"{len(json.dumps(PROMPT))} bytes, over the 16 bytes (1 GB) an asynchronous "
                                      "inference request takes.")
    assert error["responseParameters"]["failureLocation"] == request.failure_location


def test_the_library_behind_invoke_async(async_stack):
    """`loraplane invoke --async`: the base model answers through S3; an adapter that is not live is the
    CLI's not-found error; a real-time stack's endpoint is a usage error."""
    session, outputs = boto3.Session(), async_stack.outputs
    submitted = []
    answer = invoke_async.run(session, outputs, None, "Hello, who are you?", max_tokens=8, wait_seconds=60,
                              poll_seconds=0.2, on_submitted=submitted.append)
    assert isinstance(answer["text"], str) and answer["text"] and answer["adapter"] == "base"
    assert submitted[0]["output_location"] == answer["output_location"]
    assert answer["input_location"].startswith(outputs["AsyncInputPrefix"])
    with pytest.raises(NotFound, match="adapter ghost is not live"):
        invoke_async.run(session, outputs, "ghost", "Hello", wait_seconds=60, poll_seconds=0.2)
    with pytest.raises(Usage, match="not asynchronous"):
        invoke_async.run(session, {**outputs, "ServingMode": "on-demand"}, None, "Hello")


def test_invoke_on_an_async_stack_goes_through_s3(async_stack, capsys):
    """`loraplane invoke` sees the stack's ServingMode and asks asynchronously without --async; json alone
    on stdout, where the request went on stderr; --stream is a usage error there."""
    from loraplane.cli import main

    rc = main(["invoke", "--base", "Hello, who are you?", "--max-tokens", "8", "--stack-name", STACK,
               "--output", "json", "--wait-seconds", "60"])
    out, err = capsys.readouterr()
    answer = json.loads(out)
    assert rc == 0 and answer["text"] and answer["output_location"].startswith("s3://")
    assert err.startswith("queued ") and answer["output_location"] in err
    assert main(["invoke", "--base", "Hello", "--stream", "--stack-name", STACK]) == 2
    assert "does not stream" in capsys.readouterr().err
