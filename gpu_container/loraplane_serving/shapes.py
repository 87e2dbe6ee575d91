"""SageMaker request shapes: which adapter a request names, and TGI-style bodies
(`{"inputs", "parameters"}`) translated to and from vLLM's OpenAI completions."""
import json

ADAPTER_HEADER = "x-amzn-sagemaker-adapter-identifier"
CUSTOM_ATTRIBUTES_HEADER = "x-amzn-sagemaker-custom-attributes"
TGI_DEFAULT_MAX_NEW_TOKENS = 32


class BadRequest(Exception):
    pass


def adapter_from_custom_attributes(value: str | None) -> str | None:
    """`adapter=my-bot` among `;`- or `,`-separated key=value pairs."""
    for part in (value or "").replace(",", ";").split(";"):
        key, _, val = part.strip().partition("=")
        if key.strip().lower() == "adapter" and val.strip():
            return val.strip()
    return None


def parse_body(raw: bytes) -> dict:
    try:
        body = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadRequest(f"body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def normalize(body: dict, headers: dict[str, str], base_name: str) -> tuple[dict, str | None, bool]:
    """(OpenAI-shaped body, adapter or None for the base model, whether the request was TGI-shaped)."""
    tgi = "inputs" in body
    params = body.get("parameters") or {}
    if tgi:
        if not isinstance(body["inputs"], str):
            raise BadRequest("'inputs' must be a string")
        if not isinstance(params, dict):
            raise BadRequest("'parameters' must be an object")
    adapter = (headers.get(ADAPTER_HEADER) or adapter_from_custom_attributes(headers.get(CUSTOM_ATTRIBUTES_HEADER))
               or (params.get("adapter_id") if tgi else None) or body.get("model"))
    if adapter is not None and not isinstance(adapter, str):
        raise BadRequest("the adapter name must be a string")
    if adapter == base_name or adapter == "":
        adapter = None
    if tgi:
        do_sample = bool(params.get("do_sample", False))
        openai = {
            "prompt": body["inputs"],
            "max_tokens": int(params.get("max_new_tokens", TGI_DEFAULT_MAX_NEW_TOKENS)),
            "temperature": float(params.get("temperature", 1.0)) if do_sample else 0.0,
            "stream": bool(body.get("stream", False)),
        }
        for tgi_key, openai_key in (("top_p", "top_p"), ("seed", "seed"), ("stop", "stop"),
                                    ("repetition_penalty", "repetition_penalty"), ("top_k", "top_k")):
            if params.get(tgi_key) is not None:
                openai[openai_key] = params[tgi_key]
    else:
        openai = dict(body)
    openai["model"] = adapter or base_name
    return openai, adapter, tgi


def tgi_response(completion: dict, prompt: str, return_full_text: bool = False) -> list[dict]:
    choice = completion["choices"][0]
    text = (prompt if return_full_text else "") + choice["text"]
    return [{"generated_text": text, "details": {"finish_reason": choice.get("finish_reason"),
                                                  "generated_tokens": completion.get("usage", {}).get("completion_tokens")}}]
