"""`loraplane invoke`: one request to an adapter (or the base model) on the stack's endpoint, through
sagemaker-runtime as any client would call it. The InvokeEndpoint arguments come from the control plane's own
`invoke_args` (the inference component, or the adapter in CustomAttributes for on-demand), the same as
`adapters list --output json` shows and the deployment's smoke tests use."""
import json
import time
from typing import Callable, Iterable

from botocore.exceptions import ClientError

from .cli_errors import CliError, NotFound, Usage

BASE = "base"  # NAME that means the base model
BODY_HINT = "Run loraplane invoke NAME --body JSON (NAME base for the base model)"


def target(name: str, prompt: str | None, base: bool = False, has_body: bool = False) -> tuple[str | None, str | None]:
    """(the adapter, None for the base model; the prompt, None with --body) that the command line asks for,
    or a Usage error: a prompt missing or given twice, or an adapter name ingest would refuse."""
    if has_body:
        if prompt is not None or (base and name != BASE):
            raise Usage("--body replaces the prompt", BODY_HINT)
        adapter = None if base or name == BASE else name
    elif base:
        if prompt is not None and name != BASE:
            raise Usage("--base takes the prompt alone",
                        f'Run loraplane invoke --base "prompt" (or loraplane invoke {BASE} "prompt")')
        adapter, prompt = None, name if prompt is None else prompt
    else:
        adapter = None if name == BASE else name
    if prompt is None and not has_body:
        raise Usage("no prompt", 'Run loraplane invoke NAME "prompt" (NAME base for the base model)')
    if adapter is not None:
        from .cli_parsers import InvalidAdapterName, adapter_name

        try:
            adapter_name(adapter)
        except InvalidAdapterName as e:
            raise Usage(str(e), f"loraplane adapters list shows them; NAME {BASE} asks the base model") from None
    return adapter, prompt


def body_of(prompt: str, chat: bool, max_tokens: int, stream: bool) -> dict:
    """TGI-style for a plain completion (what the smoke tests send); OpenAI shapes for chat and streams
    (the container streams OpenAI server-sent events, CONTRACTS §4)."""
    if chat:
        return {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens, "stream": stream}
    if stream:
        return {"prompt": prompt, "max_tokens": max_tokens, "stream": True}
    return {"inputs": prompt, "parameters": {"max_new_tokens": max_tokens}}


def text_of(answer) -> str:
    """The generated text of any of the answers' shapes (TGI list, OpenAI completion or chat)."""
    if isinstance(answer, list) and answer and isinstance(answer[0], dict) and "generated_text" in answer[0]:
        return answer[0]["generated_text"]
    if isinstance(answer, dict) and answer.get("choices"):
        choice = answer["choices"][0]
        if isinstance(choice.get("message"), dict):
            return choice["message"].get("content") or ""
        if isinstance(choice.get("delta"), dict):
            return choice["delta"].get("content") or ""
        return choice.get("text") or ""
    return ""


def sse_texts(parts: Iterable[bytes]) -> Iterable[str]:
    """Text pieces of a server-sent-events stream whose events may span PayloadParts (or share one)."""
    pending = b""
    for part in parts:
        pending += part
        *lines, pending = pending.split(b"\n")
        for line in lines:
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                return
            try:
                piece = text_of(json.loads(data))
            except ValueError:
                continue
            if piece:
                yield piece


def not_live(name: str, endpoint: str) -> NotFound:
    return NotFound(f"adapter {name} is not live on endpoint {endpoint}",
                    "loraplane adapters list shows its versions and state; approving a version makes it live")


def explain(exc: ClientError, name: str | None, endpoint: str) -> Exception:
    """An error naming what the user asked for, instead of the component's hashed name."""
    err, code = exc.response.get("Error", {}), exc.response.get("Error", {}).get("Code", "")
    message = err.get("Message", "")
    missing = code in ("ValidationError", "ValidationException") and "not found" in message.lower()
    if missing and f"endpoint {endpoint.lower()} " in message.lower() and "inference component" not in message.lower():
        return NotFound(f"endpoint {endpoint} does not exist yet",
                        "Approving a base model package creates it (loraplane status shows the base model)")
    if missing and "inference component" in message.lower():
        return not_live(name, endpoint) if name else NotFound(f"the base model is not served on {endpoint} yet",
                                                             "loraplane status shows the endpoint and base model")
    if code == "ModelError" and exc.response.get("OriginalStatusCode") == 404 and name:
        return not_live(name, endpoint)
    if code == "ModelError":
        original = exc.response.get("OriginalMessage") or message
        return CliError(f"the model answered {exc.response.get('OriginalStatusCode', 'an error')}: {original[:300]}",
                        "loraplane logs --endpoint shows the container's log")
    return exc


def invoke(runtime, args: dict, body: dict, stream: bool, on_text: Callable[[str], None] = lambda _: None) -> dict:
    """The answer: text, seconds and (not streaming) the raw JSON; pieces go to `on_text` as they arrive."""
    started = time.perf_counter()
    payload = json.dumps(body).encode()
    if not stream:
        resp = runtime.invoke_endpoint(**args, ContentType="application/json", Accept="application/json", Body=payload)
        raw = json.loads(resp["Body"].read())
        text = text_of(raw)
        on_text(text)
        return {"text": text, "seconds": round(time.perf_counter() - started, 3), "response": raw}
    resp = runtime.invoke_endpoint_with_response_stream(**args, ContentType="application/json", Body=payload)
    pieces = []
    for piece in sse_texts(event["PayloadPart"]["Bytes"] for event in resp["Body"] if "PayloadPart" in event):
        pieces.append(piece)
        on_text(piece)
    return {"text": "".join(pieces), "seconds": round(time.perf_counter() - started, 3), "chunks": len(pieces)}


def run(session, outputs: dict, name: str | None, prompt: str | None, chat: bool = False, max_tokens: int = 64,
        stream: bool = False, on_text: Callable[[str], None] = lambda _: None, body: dict | None = None) -> dict:
    """`body`, when given, is sent as it is (the prompt and the body options are not used)."""
    from loraplane_core.deployment.serving_modes import invoke_args

    endpoint = outputs["EndpointName"]
    args = invoke_args(outputs.get("ServingMode") or "inference-components", endpoint, name)
    try:
        answer = invoke(session.client("sagemaker-runtime"), args,
                        body if body is not None else body_of(prompt, chat, max_tokens, stream), stream, on_text)
    except ClientError as e:  # EventStreamError (a broken stream) is one too
        raise explain(e, name, endpoint) from None
    return {"adapter": name or BASE, "invoke": args, **answer}
