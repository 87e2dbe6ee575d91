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

An input is streamed from S3 to the container, never held whole, and one over the 1 GB asynchronous
inference takes (async-inference.html: "payload sizes up to 1GB", read here as 10^9 bytes) fails its
request unread. The queue and its workers end with the emulator (`stop`, then `join`, Emulator.stop()).
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

MAX_INPUT_BYTES = 10 ** 9  # "payload sizes up to 1GB" (async-inference.html)
DEFAULT_TTL_S, DEFAULT_TIMEOUT_S = 21600, 900  # RequestTTLSeconds, InvocationTimeoutSeconds (API defaults)
QUEUE_SIZE, WORKERS = 1000, 4
FAILURE_REASON = ("ClientError: Received {kind} error ({status}) from model. See the SageMaker Endpoint logs in "
                  "your account for more information.")
TOO_LARGE_REASON = ("ClientError: The input {location} is {size} bytes, over the {limit} bytes (1 GB) an "
                    "asynchronous inference request takes.")


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
class _Pool:
    """One emulator's queue and workers: `stop` ends them, and the next request starts a new pool."""

    def __init__(self):
        self.jobs: "queue.Queue[Job | None]" = queue.Queue(maxsize=QUEUE_SIZE)
        self.stopped = threading.Event()
        self.workers: list[threading.Thread] = []


_pool = _Pool()
_lock = threading.Lock()
_hooks: dict = {}  # "forward": the sagemaker_runtime shim's call of a container; "route": its routing


def install(forward, route) -> None:
    _hooks.update(forward=forward, route=route)


def enqueue(job: Job) -> bool:
    """False when the queue is full (the caller answers ServiceUnavailable)."""
    global _pool
    with _lock:
        if _pool.stopped.is_set():
            _pool = _Pool()
        pool = _pool
        while len(pool.workers) < WORKERS:
            worker = threading.Thread(target=_work, args=(pool,), daemon=True,
                                      name=f"sagemaker-async-{len(pool.workers)}")
            worker.start()
            pool.workers.append(worker)
        try:
            pool.jobs.put_nowait(job)
            return True
        except queue.Full:
            return False


def stop() -> list[threading.Thread]:
    """No queued request runs any more and one in flight writes and notifies nothing (the emulator's S3 and SNS
    are going); the workers, to `join` once the containers they may be calling have stopped."""
    with _lock:
        pool = _pool
        if pool.stopped.is_set():  # stopped before: its workers were told then
            return [w for w in pool.workers if w.is_alive()]
        pool.stopped.set()
        while True:
            try:
                pool.jobs.get_nowait()
            except queue.Empty:
                break
            pool.jobs.task_done()
        for _ in pool.workers:  # room for them: emptied above, and no enqueue while the lock is held
            pool.jobs.put_nowait(None)
        return list(pool.workers)


def join(workers: list[threading.Thread], timeout: float = 10.0) -> list[threading.Thread]:
    """Waits for stopped workers; those still alive after `timeout` (they end with their current request)."""
    deadline = time.monotonic() + timeout
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    left = [w for w in workers if w.is_alive()]
    if left:
        log.warning("%d asynchronous inference worker(s) still finishing a request", len(left))
    return left


def _work(pool: _Pool) -> None:
    while True:
        job = pool.jobs.get()
        try:
            if job is None or pool.stopped.is_set():
                return
            run(job, pool.stopped)
        except Exception:  # noqa: BLE001 - one request's trouble never stops the worker
            log.exception("async inference %s failed in the emulator", job.inference_id)
        finally:
            pool.jobs.task_done()


def _clients(region: str):
    import boto3

    from .. import hosting

    manager = hosting.manager()
    return manager.s3(region), boto3.client("sns", endpoint_url=manager.endpoint_url, region_name=region,
                                            aws_access_key_id="testing", aws_secret_access_key="testing")


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


class InputTooLarge(Exception):
    """The input object is over MAX_INPUT_BYTES: str() is the request's failure reason."""


class BoundedInput:
    """An S3 object's body as a file requests streams to the container (Content-Length from len()): read in the
    sizes asked for, never past `length`, its ContentLength, itself at most MAX_INPUT_BYTES."""

    def __init__(self, body, length: int):
        self.body, self.length, self.left = body, length, length

    def __len__(self) -> int:
        return self.length

    def read(self, size: int | None = -1) -> bytes:
        if self.left <= 0:
            return b""
        chunk = self.body.read(self.left if size is None or size < 0 else min(size, self.left))
        self.left -= len(chunk)
        return chunk

    def close(self) -> None:
        self.body.close()


def _payload(s3, job: Job):
    """The inline Body, or a BoundedInput of the InputLocation object; InputTooLarge, unread, over the limit."""
    if "Body" in job.params:
        return job.params["Body"]
    bucket, key = _split(job.params["InputLocation"])
    got = s3.get_object(Bucket=bucket, Key=key)  # one request: its size is the size of what it streams
    size = got["ContentLength"]
    if size > MAX_INPUT_BYTES:
        got["Body"].close()
        raise InputTooLarge(TOO_LARGE_REASON.format(location=job.params["InputLocation"][:200], size=size,
                                                    limit=MAX_INPUT_BYTES))
    return BoundedInput(got["Body"], size)


def run(job: Job, stopped: threading.Event | None = None) -> None:
    """Processes one request: the output or failure object, then its notification (none once `stopped`)."""
    s3, sns = _clients(job.region)
    ok, content_type, body, reason = _answer(s3, job)
    if stopped is not None and stopped.is_set():
        log.info("async inference %s dropped: the emulator stopped", job.inference_id)
        return
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
    except InputTooLarge as e:
        return False, "text/plain", str(e).encode(), str(e)
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
    except Exception as e:  # noqa: BLE001 - e.g. the endpoint was deleted meanwhile, or S3 failed mid-stream
        reason = f"ClientError: {e}"[:1000]
        return False, "text/plain", reason.encode(), reason
    finally:
        if isinstance(payload, BoundedInput):
            payload.close()
    content_type = r.headers.get("Content-Type")
    if r.status_code >= 400:
        kind = "client" if r.status_code < 500 else "server"
        return False, content_type, r.content, FAILURE_REASON.format(kind=kind, status=r.status_code)
    return True, content_type or "application/json", r.content, ""
