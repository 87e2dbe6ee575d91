"""Smoke tests through SageMaker runtime, as a user would call the endpoint: the base model
answers; an adapter answers, and differently from the base model (greedy decoding, so an adapter
that changes nothing, e.g. an untrained one, fails). An async endpoint is asked as its users ask it:
the request uploaded to S3, InvokeEndpointAsync, then the output (or failure) object awaited."""
import json
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from loraplane_core import async_inference
from loraplane_core.aws import AwsClients
from loraplane_core.deployment.decision_queue import MAX_RIDERS
from loraplane_core.deployment.payloads import Rider, RiderSmoke, SmokeAdapter, SmokeBase, SmokeResult
from loraplane_core.deployment.serving_modes import serving_mode
from loraplane_core.errors import SmokeTestFailed
from loraplane_core.settings import Settings

MAX_NEW_TOKENS = 8
RIDER_THREADS = MAX_RIDERS  # every rider at once (lock batching): the task stays within its timeout


def request_body(prompt: str) -> bytes:
    return json.dumps({"inputs": prompt, "parameters": {"max_new_tokens": MAX_NEW_TOKENS}}).encode()


def ask(runtime, args: dict, prompt: str) -> str:
    resp = runtime.invoke_endpoint(**args, ContentType="application/json", Accept="application/json",
                                   Body=request_body(prompt))
    answer = json.loads(resp["Body"].read())
    return answer[0]["generated_text"]


def ask_async(c: AwsClients, s: Settings, deadline: float, args: dict, prompt: str) -> str:
    """One asynchronous request, under async/inputs/smoke/, its result under async/outputs/smoke/ (or
    async/failures/smoke/: its content is the error)."""
    extra = {k: v for k, v in args.items() if k != "EndpointName"}
    request = async_inference.submit(c.runtime, c.s3, s.adapter_bucket, s.endpoint_name, request_body(prompt),
                                     input_prefix=async_inference.SMOKE_INPUTS,
                                     output_extension=async_inference.SMOKE_EXTENSION, Accept="application/json",
                                     **extra)
    return json.loads(async_inference.wait(c.s3, request, deadline))[0]["generated_text"]


def asker(c: AwsClients, s: Settings, deadline: float):
    """ask(runtime, args, prompt) as the stack's serving mode needs."""
    if s.serving_mode == "async":
        return lambda runtime, args, prompt: ask_async(c, s, deadline, args, prompt)
    return ask


def ask_until(runtime, args: dict, prompt: str, deadline: float, ask=ask) -> str:
    """Retries while the endpoint settles (a new manifest is read within seconds), up to the deadline."""
    while True:
        try:
            return ask(runtime, args, prompt)
        except Exception as e:  # noqa: BLE001 - any failure is retried, then reported
            if time.time() > deadline:
                raise SmokeTestFailed(f"{args} did not answer: {e}") from None
            time.sleep(2)


def smoke_adapter(c: AwsClients, s: Settings, adapter: str | None, riders: list[Rider] = (),
                  wait_seconds: int = 60) -> SmokeResult:
    """`adapter` (None: this plan deploys nothing) and each rider that deploys a version must answer,
    each differently from the base model. This adapter's failure raises; a rider's is noted."""
    mode, deadline = serving_mode(c, s), time.time() + wait_seconds
    until = partial(ask_until, deadline=deadline, ask=asker(c, s, deadline))
    tested = [r for r in riders if r.plan.outcome == "deploy" and r.error is None]
    try:
        base = until(c.runtime, mode.invoke_args(None), s.smoke_prompt)
    except SmokeTestFailed as e:
        if adapter:
            raise
        # This decision changed nothing: the riders fail, each on its own, not the holder
        return SmokeResult(prompt=s.smoke_prompt, base="", riders={
            r.execution: RiderSmoke(invoke=mode.invoke_args(r.plan.adapter), error=f"the base model: {e}"[:500])
            for r in tested})
    answer = adapter_answer(c, s, mode, until, adapter, base) if adapter else None

    def smoke_rider(rider: Rider) -> RiderSmoke:  # each with its own wait: the last may start late
        invoke, own_deadline = mode.invoke_args(rider.plan.adapter), time.time() + wait_seconds
        own_until = partial(ask_until, deadline=own_deadline, ask=asker(c, s, own_deadline))
        try:
            return RiderSmoke(adapter=adapter_answer(c, s, mode, own_until, rider.plan.adapter, base), invoke=invoke)
        except SmokeTestFailed as e:
            return RiderSmoke(invoke=invoke, error=str(e))

    with ThreadPoolExecutor(min(RIDER_THREADS, len(tested) or 1)) as pool:
        ridden = dict(zip([r.execution for r in tested], pool.map(smoke_rider, tested)))
    return SmokeResult(prompt=s.smoke_prompt, base=base, adapter=answer,
                       invoke=mode.invoke_args(adapter) if adapter else None, riders=ridden)


def adapter_answer(c: AwsClients, s: Settings, mode, until, adapter: str, base) -> str:
    """The adapter's answer, which must differ from the base model's."""
    answer = until(c.runtime, mode.invoke_args(adapter), s.smoke_prompt)
    if not isinstance(answer, str) or not isinstance(base, str):
        raise SmokeTestFailed(f"the answers have no generated_text: {base!r}, {answer!r}"[:500])
    if answer == base:
        raise SmokeTestFailed(f"adapter {adapter} answers exactly like the base model ({answer!r}): "
                              "its weights change nothing")
    return answer


def smoke_base(c: AwsClients, s: Settings, wait_seconds: int = 60) -> SmokeResult:
    mode, deadline = serving_mode(c, s), time.time() + wait_seconds
    answer = ask_until(c.runtime, mode.invoke_args(None), s.smoke_prompt, deadline, asker(c, s, deadline))
    if not isinstance(answer, str):
        raise SmokeTestFailed(f"the base model's answer has no generated_text: {answer!r}")
    return SmokeResult(prompt=s.smoke_prompt, base=answer)


# -- the tasks SmokeTestAdapter / SmokeTestBase (the smoke_test function imports this module only) --
def smoke_test(c: AwsClients, s: Settings, request: SmokeAdapter | SmokeBase) -> SmokeResult:
    if isinstance(request, SmokeAdapter):
        plan = request.deployment
        return smoke_adapter(c, s, plan.adapter if plan.outcome == "deploy" else None, plan.riders)
    return smoke_base(c, s)
