"""The emulator's InvokeEndpointAsync before anything runs (no server): any request ends in a queued
job or a named refusal (AWS's ValidationError), never an exception of another kind; where the result
and its failure go; the notification's shape (docs/emulator.md cites each)."""
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loraplane.emulator.shims import sagemaker_async, sagemaker_runtime

CONFIG = {"OutputConfig": {"S3OutputPath": "s3://b/async/outputs", "S3FailurePath": "s3://b/async/failures",
                           "NotificationConfig": {"SuccessTopic": "arn:ok", "ErrorTopic": "arn:err"}},
          "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4}}


def plan(config=CONFIG, **params):
    return sagemaker_async.plan("1", "r", {"EndpointName": "e", **params}, config, new_id=lambda: "id")


def test_a_request_is_queued_with_its_result_locations():
    job = plan(InputLocation="s3://b/async/inputs/x.json", InferenceId="mine")
    assert (job.inference_id, job.output_location, job.failure_location) == (
        "mine", "s3://b/async/outputs/id.out", "s3://b/async/failures/id-error.out")
    assert (job.success_topic, job.error_topic) == ("arn:ok", "arn:err")
    named = plan(InputLocation="s3://b/k", Filename="r1.json", S3OutputPathExtension="batch-7/")
    assert (named.output_location, named.failure_location) == (
        "s3://b/async/outputs/batch-7/r1.json", "s3://b/async/failures/batch-7/r1.json-error.out")
    assert plan(Body=b"{}").inference_id == "id"


@pytest.mark.parametrize("config, params, refusal", [
    (None, {"InputLocation": "s3://b/k"}, "not an asynchronous endpoint"),
    ({"OutputConfig": {"S3FailurePath": "s3://b/f"}}, {"InputLocation": "s3://b/k"}, "no OutputConfig.S3OutputPath"),
    (CONFIG, {}, "Exactly one of InputLocation and Body"),
    (CONFIG, {"InputLocation": "s3://b/k", "Body": b"{}"}, "Exactly one of InputLocation and Body"),
    (CONFIG, {"InputLocation": "https://b.s3.amazonaws.com/k"}, "not an S3 URI"),
    (CONFIG, {"InputLocation": "s3://b/"}, "not an S3 URI"),
])
def test_refusals(config, params, refusal):
    with pytest.raises(sagemaker_async.Refused, match=refusal):
        plan(config, **params)


@given(st.dictionaries(st.sampled_from(["InputLocation", "Body", "Filename", "S3OutputPathExtension", "InferenceId"]),
                       st.text(max_size=40)))
def test_any_request_is_a_job_or_a_refusal(params):
    try:
        job = plan(**params)
    except sagemaker_async.Refused as e:
        assert str(e)
        return
    assert job.output_location.startswith("s3://b/async/outputs/") and job.failure_location


def test_the_notifications_have_aws_shape():
    job = plan(InputLocation="s3://b/async/inputs/x.json", ContentType="application/json")
    job.received = 0.0
    ok = sagemaker_async.notification(job, True, 1.5, "application/json")
    assert ok == {"awsRegion": "r", "eventTime": "1970-01-01T00:00:01.500Z", "receivedTime": "1970-01-01T00:00:00.000Z",
                  "invocationStatus": "Completed",
                  "requestParameters": {"contentType": "application/json", "endpointName": "e",
                                        "inputLocation": "s3://b/async/inputs/x.json"},
                  "responseParameters": {"contentType": "application/json",
                                         "outputLocation": "s3://b/async/outputs/id.out"},
                  "inferenceId": "id", "eventVersion": "1.0", "eventSource": "aws:sagemaker",
                  "eventName": "InferenceResult"}
    failed = sagemaker_async.notification(job, False, 2.0, None, "ClientError: Received client error (404) from model.")
    assert failed["invocationStatus"] == "Failed" and failed["failureReason"].startswith("ClientError: Received")
    assert failed["responseParameters"] == {"failureLocation": "s3://b/async/failures/id-error.out"}


def request(headers: dict, body: bytes = b"") -> SimpleNamespace:
    return SimpleNamespace(path="/endpoints/e/async-invocations", headers=headers, raw_body=body)


def test_the_request_is_read_as_aws_sends_it():
    params = sagemaker_runtime.async_params(request({
        "X-Amzn-SageMaker-InputLocation": "s3://b/k", "X-Amzn-SageMaker-Content-Type": "application/json",
        "X-Amzn-SageMaker-Custom-Attributes": "adapter=bot", "X-Amzn-SageMaker-RequestTTLSeconds": "120"}))
    assert params == {"EndpointName": "e", "InputLocation": "s3://b/k", "ContentType": "application/json",
                      "CustomAttributes": "adapter=bot", "RequestTTLSeconds": 120}
    assert sagemaker_runtime.async_params(request({}, b"{}"))["Body"] == b"{}"


@given(st.text(max_size=30), st.sampled_from(["RequestTTLSeconds", "InvocationTimeoutSeconds"]))
def test_integer_headers_are_integers_or_refused(value, member):
    header = {"RequestTTLSeconds": "X-Amzn-SageMaker-RequestTTLSeconds",
              "InvocationTimeoutSeconds": "X-Amzn-SageMaker-InvocationTimeoutSeconds"}[member]
    try:
        params = sagemaker_runtime.async_params(request({header: value}))
    except ValueError as e:
        assert "Member must be an integer" in str(e)
        return
    assert isinstance(params[member], int)
