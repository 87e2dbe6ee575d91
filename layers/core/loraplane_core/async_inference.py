"""Asynchronous inference (ServingMode async): where its requests and results live in the adapter
bucket, the endpoint config's AsyncInferenceConfig (pure), and one request's round trip through S3
(the smoke tests', and `loraplane.invoke_async` for users).

SageMaker reads a request's payload from S3 (InputLocation), queues it, and writes the model's answer
to `S3OutputPath` or, when the model fails, to `S3FailurePath`, then publishes to the SuccessTopic or
ErrorTopic (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html). The endpoint's
execution role may read only `async/inputs/` and write only `async/outputs/` and `async/failures/`:
inputs must be uploaded under `async/inputs/`. The smoke tests' requests and results have a `smoke/`
folder of their own in each (S3OutputPathExtension), the only results their role may read.
"""
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlparse

ASYNC_PREFIX = "async/"
INPUTS, OUTPUTS, FAILURES = "async/inputs/", "async/outputs/", "async/failures/"
SMOKE_INPUTS = "async/inputs/smoke/"  # the smoke test's own requests (its role writes only there)
SMOKE_EXTENSION = "smoke"  # ... and results: async/outputs/smoke/, async/failures/smoke/ (it reads only those)
EXTENSION_HEADER = "X-Amzn-SageMaker-S3OutputPathExtension"
# Requests one instance works on at once (ClientConfig.MaxConcurrentInvocationsPerInstance, 1-1000):
# vLLM batches concurrent requests itself, so a handful in flight keeps the GPU busy; the rest queue.
MAX_CONCURRENT_PER_INSTANCE = 8
POLL_SECONDS = 1.0


def config(bucket: str, success_topic: str, error_topic: str) -> dict:
    """The AsyncInferenceConfig of the stack's endpoint configs (topics left out when not set)."""
    notification = {k: v for k, v in (("SuccessTopic", success_topic), ("ErrorTopic", error_topic)) if v}
    output = {"S3OutputPath": f"s3://{bucket}/{OUTPUTS.rstrip('/')}",
              "S3FailurePath": f"s3://{bucket}/{FAILURES.rstrip('/')}"}
    if notification:
        output["NotificationConfig"] = notification
    return {"OutputConfig": output,
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": MAX_CONCURRENT_PER_INSTANCE}}


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of s3://bucket/key; ValueError for anything else."""
    parsed = urlparse(uri or "")
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.lstrip("/"):
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}"[:200])
    return parsed.netloc, parsed.path.lstrip("/")


@dataclass(frozen=True)
class Submitted:
    inference_id: str
    input_location: str
    output_location: str
    failure_location: str | None


@dataclass(frozen=True)
class Result:
    ok: bool
    body: bytes  # the answer, or what the failure object holds
    location: str


class AsyncRequestFailed(Exception):
    """The endpoint wrote the request's failure object: str() is its content (bounded)."""


def submit(runtime, s3, bucket: str, endpoint: str, body: bytes, input_prefix: str = INPUTS,
           content_type: str = "application/json", output_extension: str | None = None, **invoke) -> Submitted:
    """Uploads `body` under `input_prefix` and queues it (InvokeEndpointAsync); `output_extension`: its
    S3OutputPathExtension (a folder under the output and failure paths); `invoke`: its other arguments
    (CustomAttributes, InferenceId, ...)."""
    key = f"{input_prefix}{uuid.uuid4()}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    location = f"s3://{bucket}/{key}"
    args = {"EndpointName": endpoint, "InputLocation": location, "ContentType": content_type, **invoke}
    resp = _invoke_async(runtime, args, output_extension)
    return Submitted(resp["InferenceId"], location, resp["OutputLocation"], resp.get("FailureLocation"))


def _invoke_async(runtime, args: dict, extension: str | None) -> dict:
    """InvokeEndpointAsync with S3OutputPathExtension: a member of botocore's model since early 2026, so an
    older botocore (Lambda's runtime brings its own) gets it as the header that member is sent as."""
    members = runtime.meta.service_model.operation_model("InvokeEndpointAsync").input_shape.members
    if not extension or "S3OutputPathExtension" in members:
        return runtime.invoke_endpoint_async(**args, **({"S3OutputPathExtension": extension} if extension else {}))

    def add_header(request, **_):
        request.headers[EXTENSION_HEADER] = extension

    event = "before-sign.sagemaker-runtime.InvokeEndpointAsync"
    runtime.meta.events.register(event, add_header)
    try:
        return runtime.invoke_endpoint_async(**args)
    finally:
        runtime.meta.events.unregister(event, add_header)


def _read(s3, uri: str) -> bytes | None:
    bucket, key = split_s3_uri(uri)
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def poll(s3, request: Submitted) -> Result | None:
    """The request's result if SageMaker wrote one yet (the output, else the failure object)."""
    body = _read(s3, request.output_location)
    if body is not None:
        return Result(True, body, request.output_location)
    if request.failure_location:
        body = _read(s3, request.failure_location)
        if body is not None:
            return Result(False, body, request.failure_location)
    return None


def wait(s3, request: Submitted, deadline: float, poll_seconds: float = POLL_SECONDS) -> bytes:
    """The answer; AsyncRequestFailed when the endpoint wrote a failure, TimeoutError at `deadline`
    (epoch seconds): the request may still complete later."""
    while True:
        result = poll(s3, request)
        if result is not None:
            if result.ok:
                return result.body
            raise AsyncRequestFailed(result.body[:500].decode("utf-8", "replace"))
        if time.time() >= deadline:
            raise TimeoutError(f"no result for {request.inference_id} at {request.output_location} in time")
        time.sleep(min(poll_seconds, max(0.0, deadline - time.time())))
