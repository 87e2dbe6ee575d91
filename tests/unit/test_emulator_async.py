"""The emulator's InvokeEndpointAsync before anything runs (no server): any request ends in a queued
job or a named refusal (AWS's ValidationError), never an exception of another kind; where the result
and its failure go; the notification's shape (docs/emulator.md cites each)."""
import io
import threading
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loraplane.emulator.shims import sagemaker_async, sagemaker_runtime

from .recorder import Recorder

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


# -- the input, streamed and bounded --------------------------------------------------------------------
class Body(io.BytesIO):
    """An S3 object's streaming body, counting what was read."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.asked: list[int] = []

    def read(self, size=-1):
        self.asked.append(size)
        return super().read(size)


def s3_with(data: bytes, length: int | None = None):
    body = Body(data)
    return body, Recorder(lambda op, kwargs: {"ContentLength": len(data) if length is None else length, "Body": body})


def test_an_input_over_the_limit_fails_unread():
    job = plan(InputLocation="s3://b/async/inputs/big.json")
    body, s3 = s3_with(b"x" * 11, length=sagemaker_async.MAX_INPUT_BYTES + 1)
    with pytest.raises(sagemaker_async.InputTooLarge) as e:
        sagemaker_async._payload(s3, job)
    assert body.asked == [] and body.closed
    assert str(e.value) == ("ClientError: The input s3://b/async/inputs/big.json is 1000000001 bytes, over the "
                            "1000000000 bytes (1 GB) an asynchronous inference request takes.")
    assert [op for op, _ in s3.calls] == ["get_object"]  # one request: no size checked apart from what is read


@given(st.binary(max_size=300), st.lists(st.integers(1, 64) | st.just(-1) | st.none(), min_size=1, max_size=6),
       st.integers(0, 40))
def test_the_input_is_read_in_pieces_and_never_past_its_length(data, sizes, extra):
    body, s3 = s3_with(data + b"y" * extra, length=len(data))  # an object longer than it said
    payload = sagemaker_async._payload(s3, plan(InputLocation="s3://b/k"))
    assert len(payload) == len(data) and payload.read(0) == b""
    got, i = bytearray(), 0
    while chunk := payload.read(sizes[i % len(sizes)]):
        got += chunk
        i += 1
        assert i <= len(data) + 1
    assert bytes(got) == data and payload.read() == b""
    assert all(size is not None and 0 <= size <= len(data) for size in body.asked)


def test_requests_streams_the_input_with_its_length(tmp_path):
    """What the worker hands requests (BoundedInput as data) goes out in blocks, with Content-Length."""
    import http.server

    import requests

    received = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received["length"] = self.headers.get("Content-Length")
            received["chunked"] = self.headers.get("Transfer-Encoding")
            received["body"] = self.rfile.read(int(received["length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    data = bytes(range(256)) * 1024  # 256 KiB
    body, s3 = s3_with(data)
    try:
        payload = sagemaker_async._payload(s3, plan(InputLocation="s3://b/k"))
        r = requests.post(f"http://127.0.0.1:{server.server_address[1]}/invocations", data=payload, timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert r.status_code == 200 and received == {"length": str(len(data)), "chunked": None, "body": data}
    assert max(body.asked) < len(data)  # in blocks, never the whole input at once


# -- the queue ends with the emulator ---------------------------------------------------------------------
def test_stop_ends_the_workers_and_drops_what_is_queued(monkeypatch):
    started, release, ran = threading.Event(), threading.Event(), []

    def slow_run(job, stopped=None):
        ran.append(job.inference_id)
        started.set()
        release.wait(30)

    monkeypatch.setattr(sagemaker_async, "run", slow_run)
    sagemaker_async.join(sagemaker_async.stop())  # whatever an earlier test left
    first, second = (plan(InputLocation="s3://b/k", InferenceId=i) for i in ("first", "second"))
    assert sagemaker_async.enqueue(first)
    assert started.wait(30)
    assert sagemaker_async.enqueue(second) or True  # queued behind the busy worker, or taken by an idle one
    workers = sagemaker_async.stop()
    assert len(workers) == sagemaker_async.WORKERS
    release.set()
    assert sagemaker_async.join(workers, timeout=30) == []
    assert ran in (["first"], ["first", "second"])  # "second" only if a worker took it before stop()
    assert sagemaker_async.stop() == []  # stopping again: nothing running any more

    # A request after the stop starts new workers, which stop again.
    ran.clear()
    assert sagemaker_async.enqueue(plan(InputLocation="s3://b/k", InferenceId="later"))
    for _ in range(3000):
        if ran:
            break
        threading.Event().wait(0.01)
    assert ran == ["later"]
    assert sagemaker_async.join(sagemaker_async.stop(), timeout=30) == []


def test_a_request_in_flight_at_stop_writes_nothing(monkeypatch):
    stopped = threading.Event()
    s3, sns = Recorder(), Recorder()
    monkeypatch.setattr(sagemaker_async, "_clients", lambda region: (s3, sns))

    def answer_as_the_emulator_stops(s3_, job):
        stopped.set()
        return True, "application/json", b"[]", ""

    monkeypatch.setattr(sagemaker_async, "_answer", answer_as_the_emulator_stops)
    sagemaker_async.run(plan(InputLocation="s3://b/k"), stopped)
    assert s3.calls == [] and sns.calls == []
