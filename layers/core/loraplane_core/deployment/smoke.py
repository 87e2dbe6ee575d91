"""Smoke tests through SageMaker runtime, as a user would call the endpoint: the base model
answers; an adapter answers, and differently from the base model (greedy decoding, so an adapter
that changes nothing, e.g. an untrained one, fails)."""
import json
import time

from loraplane_core.aws import AwsClients
from loraplane_core.deployment.payloads import SmokeResult
from loraplane_core.deployment.serving_modes import serving_mode
from loraplane_core.errors import SmokeTestFailed
from loraplane_core.settings import Settings

MAX_NEW_TOKENS = 8


def ask(runtime, args: dict, prompt: str) -> str:
    body = {"inputs": prompt, "parameters": {"max_new_tokens": MAX_NEW_TOKENS}}
    resp = runtime.invoke_endpoint(**args, ContentType="application/json", Accept="application/json",
                                   Body=json.dumps(body).encode())
    answer = json.loads(resp["Body"].read())
    return answer[0]["generated_text"]


def ask_until(runtime, args: dict, prompt: str, deadline: float) -> str:
    """Retries while the endpoint settles (a new manifest is read within seconds), up to the deadline."""
    while True:
        try:
            return ask(runtime, args, prompt)
        except Exception as e:  # noqa: BLE001 - any failure is retried, then reported
            if time.time() > deadline:
                raise SmokeTestFailed(f"{args} did not answer: {e}") from None
            time.sleep(2)


def smoke_adapter(c: AwsClients, s: Settings, adapter: str, wait_seconds: int = 60) -> SmokeResult:
    mode, deadline = serving_mode(c, s), time.time() + wait_seconds
    base = ask_until(c.runtime, mode.invoke_args(None), s.smoke_prompt, deadline)
    answer = ask_until(c.runtime, mode.invoke_args(adapter), s.smoke_prompt, deadline)
    if not isinstance(answer, str) or not isinstance(base, str):
        raise SmokeTestFailed(f"the answers have no generated_text: {base!r}, {answer!r}"[:500])
    if answer == base:
        raise SmokeTestFailed(f"adapter {adapter} answers exactly like the base model ({answer!r}): "
                              "its weights change nothing")
    return SmokeResult(prompt=s.smoke_prompt, base=base, adapter=answer, invoke=mode.invoke_args(adapter))


def smoke_base(c: AwsClients, s: Settings, wait_seconds: int = 60) -> SmokeResult:
    mode = serving_mode(c, s)
    answer = ask_until(c.runtime, mode.invoke_args(None), s.smoke_prompt, time.time() + wait_seconds)
    if not isinstance(answer, str):
        raise SmokeTestFailed(f"the base model's answer has no generated_text: {answer!r}")
    return SmokeResult(prompt=s.smoke_prompt, base=answer)
