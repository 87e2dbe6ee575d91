"""`loraplane invoke --async`: one request to an asynchronous endpoint (ServingMode async), as its users
send them: the payload uploaded under the stack's `async/inputs/`, InvokeEndpointAsync naming the adapter
as `invoke_args` says, then the answer read from S3 once SageMaker has written it (or its failure).
The request is queued: it completes even if the wait here gives up (the error says where to look)."""
import json
import time
from typing import Callable

from botocore.exceptions import ClientError

from .cli_errors import CliError, Usage
from .invoke import BASE, body_of, explain, not_live, text_of

DEFAULT_WAIT_SECONDS = 900  # InvokeEndpointAsync's own default InvocationTimeoutSeconds


def run(session, outputs: dict, name: str | None, prompt: str | None, chat: bool = False, max_tokens: int = 64,
        body: dict | None = None, wait_seconds: float = DEFAULT_WAIT_SECONDS, poll_seconds: float = 1.0,
        on_submitted: Callable[[dict], None] = lambda _: None) -> dict:
    """The answer (text, seconds, the raw JSON) and where the request and its result live. `body`, when
    given, is sent as it is; `on_submitted` gets the request's locations as soon as it is queued."""
    from loraplane_core import async_inference
    from loraplane_core.deployment.serving_modes import invoke_args

    mode, endpoint = outputs.get("ServingMode") or "inference-components", outputs["EndpointName"]
    if mode != "async":
        raise Usage(f"endpoint {endpoint} is not asynchronous (ServingMode {mode})",
                    "Run loraplane invoke without --async")
    args = invoke_args(mode, endpoint, name)
    payload = json.dumps(body if body is not None else body_of(prompt, chat, max_tokens, False)).encode()
    started = time.perf_counter()
    try:
        request = async_inference.submit(session.client("sagemaker-runtime"), session.client("s3"),
                                         outputs["AdapterBucketName"], endpoint, payload, Accept="application/json",
                                         **{k: v for k, v in args.items() if k != "EndpointName"})
    except ClientError as e:
        raise explain(e, name, endpoint) from None
    where = {"inference_id": request.inference_id, "input_location": request.input_location,
             "output_location": request.output_location, "failure_location": request.failure_location}
    on_submitted(where)
    try:
        raw = async_inference.wait(session.client("s3"), request, time.time() + wait_seconds, poll_seconds)
    except async_inference.AsyncRequestFailed as e:
        if name and "not found" in str(e).lower():
            raise not_live(name, endpoint) from None
        raise CliError(f"the request failed: {str(e)[:300]}",
                       f"Its failure object is {request.failure_location}; loraplane logs --endpoint shows the "
                       "container's log") from None
    except TimeoutError:
        raise CliError(f"no answer within {wait_seconds:g} s (the request stays queued)",
                       f"Its answer will be at {request.output_location}") from None
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = raw.decode("utf-8", "replace")
    return {"adapter": name or BASE, "invoke": args, **where, "text": text_of(answer),
            "seconds": round(time.perf_counter() - started, 3), "response": answer}
