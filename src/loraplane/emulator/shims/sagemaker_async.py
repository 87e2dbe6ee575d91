"""Asynchronous inference on local containers: the queue behind InvokeEndpointAsync.

moto's InvokeEndpointAsync answers canned locations and never runs anything. The sagemaker_runtime
shim validates the request and hands it here (`plan`, then `enqueue`); worker threads then do what
SageMaker does (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html): read the
payload from S3 (InputLocation) or take the inline Body, send it to the container that serves the
endpoint exactly as InvokeEndpoint does, write the answer to `S3OutputPath` (or the container's error
to `S3FailurePath`) and publish the notification of
https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-check-predictions.html to the
SuccessTopic (ErrorTopic). The queue is bounded (a full queue answers ServiceUnavailable); AWS's is not.
Nothing scales: the endpoint's container serves whatever auto scaling asks for.
"""
import datetime
import json
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlparse

log = logging.getLogger(__name__)

MAX_INPUT_BYTES = 1024 ** 3  # "payload sizes up to 1GB" (async-inference.html)
DEFAULT_TTL_S, DEFAULT_TIMEOUT_S = 21600, 900  # RequestTTLSeconds, InvocationTimeoutSeconds (API defaults)
QUEUE_SIZE, WORKERS = 1000, 4
FAILURE_REASON = ("ClientError: Received {kind} error ({status}) from model. See the SageMaker Endpoint logs in "
                  "your account for more information.")


@dataclass
class Job:
    account: str
    region: str
    endpoint: str
    params: dict  # the request's members (InvokeEndpointAsync), validated
    inference_id: str
    output_location: str
    failure_location: str | None
    success_topic: str | None
    error_topic: str | None
    received: float = field(default_factory=time.time)


class Refused(Exception):
    """A request AWS would refuse: str() is the ValidationError's message."""


def _join(path: str, *parts: str) -> str:
    return "/".join([path.rstrip("/"), *(p.strip("/") for p in parts if p)])


def plan(account: str, region: str, params: dict, config: dict | None, new_id=lambda: str(uuid.uuid4())) -> Job:
    """The job for a request whose members botocore's model already accepted; Refused otherwise.
    Pure: `config` is the endpoint's AsyncInferenceConfig (None: not an async endpoint)."""
    endpoint = params["EndpointName"]
    if not config:
        raise Refused(f"Endpoint {endpoint} is not an asynchronous endpoint: its endpoint configuration has no "
                      "AsyncInferenceConfig. Use InvokeEndpoint.")
    if ("Body" in params) == ("InputLocation" in params):
        raise Refused("Exactly one of InputLocation and Body must be provided.")
    location = params.get("InputLocation")
    if location is not None:
        parsed = urlparse(location)
        if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
            raise Refused(f"InputLocation {location[:200]!r} is not an S3 URI of an object (s3://bucket/key).")
    output = config.get("OutputConfig") or {}
    if not output.get("S3OutputPath"):  # optional in the API; the emulator has nowhere else to write
        raise Refused(f"Endpoint {endpoint}'s AsyncInferenceConfig has no OutputConfig.S3OutputPath: the emulator "
                      "writes answers only there.")
    notification = output.get("NotificationConfig") or {}
    name = params.get("Filename") or f"{new_id()}.out"
    extension = params.get("S3OutputPathExtension", "")
    failure = output.get("S3FailurePath")
    return Job(account, region, endpoint, params, params.get("InferenceId") or new_id(),
               _join(output["S3OutputPath"], extension, name),
               _join(failure, extension, name.removesuffix(".out") + "-error.out") if failure else None,
               notification.get("SuccessTopic"), notification.get("ErrorTopic"))


def _iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def notification(job: Job, ok: bool, now: float, content_type: str | None = None, reason: str = "") -> dict:
    """The SNS message of a finished request, in the shape AWS publishes (check-predictions page)."""
    request = {k: v for k, v in (("accept", job.params.get("Accept")), ("contentType", job.params.get("ContentType")),
                                 ("endpointName", job.endpoint), ("inputLocation", job.params.get("InputLocation")))
               if v}
    message = {"awsRegion": job.region, "eventTime": _iso(now), "receivedTime": _iso(job.received),
               "invocationStatus": "Completed" if ok else "Failed"}
    if not ok:
        message["failureReason"] = reason
    response = {"contentType": content_type} if content_type else {}
    if ok:
        response["outputLocation"] = job.output_location
    elif job.failure_location:
        response["failureLocation"] = job.failure_location
    message |= {"requestParameters": request, "responseParameters": response, "inferenceId": job.inference_id,
                "eventVersion": "1.0", "eventSource": "aws:sagemaker", "eventName": "InferenceResult"}
    return message


# -- the queue and its workers --------------------------------------------------------------------
_queue: "queue.Queue[Job]" = queue.Queue(maxsize=QUEUE_SIZE)
_workers: list[threading.Thread] = []
_lock = threading.Lock()
_hooks: dict = {}  # "forward": the sagemaker_runtime shim's call of a container; "route": its routing


def install(forward, route) -> None:
    _hooks.update(forward=forward, route=route)


def enqueue(job: Job) -> bool:
    """False when the queue is full (the caller answers ServiceUnavailable)."""
    with _lock:
        while len(_workers) < WORKERS:
            worker = threading.Thread(target=_work, daemon=True, name=f"sagemaker-async-{len(_workers)}")
            worker.start()
            _workers.append(worker)
    try:
        _queue.put_nowait(job)
        return True
    except queue.Full:
        return False


def _work() -> None:
    while True:
        job = _queue.get()
        try:
            run(job)
        except Exception:  # noqa: BLE001 - one request's trouble never stops the worker
            log.exception("async inference %s failed in the emulator", job.inference_id)
        finally:
            _queue.task_done()


def _clients(region: str):
    import boto3

    from .. import hosting

    manager = hosting.manager()
    return manager.s3(region), boto3.client("sns", endpoint_url=manager.endpoint_url, region_name=region,
                                            aws_access_key_id="testing", aws_secret_access_key="testing")


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def _payload(s3, job: Job) -> bytes:
    if "Body" in job.params:
        return job.params["Body"]
    bucket, key = _split(job.params["InputLocation"])
    head = s3.head_object(Bucket=bucket, Key=key)
    if head["ContentLength"] > MAX_INPUT_BYTES:
        raise ValueError(f"the input is {head['ContentLength']} bytes: more than the 1 GB allowed")
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def run(job: Job) -> None:
    """Processes one request: the output or failure object, then its notification."""
    s3, sns = _clients(job.region)
    ok, content_type, body, reason = _answer(s3, job)
    location = job.output_location if ok else job.failure_location
    if location:
        bucket, key = _split(location)
        s3.put_object(Bucket=bucket, Key=key, Body=body, **({"ContentType": content_type} if content_type else {}))
    topic = job.success_topic if ok else job.error_topic
    if topic:
        message = notification(job, ok, time.time(), content_type, reason)
        try:
            sns.publish(TopicArn=topic, Message=json.dumps(message))
        except Exception as e:  # noqa: BLE001 - AWS drops a notification it cannot publish, not the result
            log.warning("could not publish the result of %s to %s: %s", job.inference_id, topic, e)


def _answer(s3, job: Job) -> tuple[bool, str | None, bytes, str]:
    """(ok, content type, what to write, failure reason)."""
    ttl = job.params.get("RequestTTLSeconds", DEFAULT_TTL_S)
    if time.time() - job.received > ttl:
        return False, "text/plain", b"request expired in the queue", f"Request expired after {ttl} s in the queue."
    try:
        payload = _payload(s3, job)
    except Exception as e:  # noqa: BLE001 - a missing or unreadable input fails the request, as AWS does
        reason = f"ClientError: could not read the input {job.params.get('InputLocation')}: {e}"[:1000]
        return False, "text/plain", reason.encode(), reason
    import requests

    try:
        target = _hooks["route"](job.account, job.region, job.endpoint)
        r = _hooks["forward"]({**job.params, "Body": payload}, target, job.params.get("Accept"), stream=False,
                              timeout=job.params.get("InvocationTimeoutSeconds", DEFAULT_TIMEOUT_S))
    except requests.RequestException as e:
        reason = f"ClientError: the container could not be reached or timed out: {e}"[:1000]
        return False, "text/plain", reason.encode(), reason
    except Exception as e:  # noqa: BLE001 - e.g. the endpoint was deleted meanwhile
        reason = f"ClientError: {e}"[:1000]
        return False, "text/plain", reason.encode(), reason
    content_type = r.headers.get("Content-Type")
    if r.status_code >= 400:
        kind = "client" if r.status_code < 500 else "server"
        return False, content_type, r.content, FAILURE_REASON.format(kind=kind, status=r.status_code)
    return True, content_type or "application/json", r.content, ""
