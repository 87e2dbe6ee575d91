"""SageMaker request shapes: which adapter a request names, and TGI-style bodies
(`{"inputs", "parameters"}`) validated and translated to and from vLLM's OpenAI completions.
OpenAI-shaped bodies go to vLLM as they are (it validates them); only `model` is ours to read."""
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import names
from .body import BadRequest, parse_body  # noqa: F401 - BadRequest and parse_body are part of this API

# Header names: aws/model-hosting-container-standards, python/.../sagemaker/lora/constants.py
ADAPTER_HEADER = "x-amzn-sagemaker-adapter-identifier"
ALIAS_HEADER = "x-amzn-sagemaker-adapter-alias"  # a display name, only ever quoted in messages
CUSTOM_ATTRIBUTES_HEADER = "x-amzn-sagemaker-custom-attributes"
TGI_DEFAULT_MAX_NEW_TOKENS = 32
MAX_NEW_TOKENS = 2**31 - 1  # TGI's u32 range; vLLM refuses more than the context holds with a 400


class TgiParameters(BaseModel):
    # strict: "16" is not 16 and "hot" is not a temperature; unknown TGI options are ignored as before
    model_config = ConfigDict(strict=True, extra="ignore")
    adapter_id: str | None = None
    max_new_tokens: int | None = Field(None, ge=1, le=MAX_NEW_TOKENS)  # null: TGI's default
    do_sample: bool = False
    temperature: float | None = Field(None, gt=0, allow_inf_nan=False)
    top_p: float | None = Field(None, gt=0, le=1, allow_inf_nan=False)
    top_k: int | None = Field(None, ge=1, le=MAX_NEW_TOKENS)
    repetition_penalty: float | None = Field(None, gt=0, allow_inf_nan=False)
    seed: int | None = Field(None, ge=0, le=2**64 - 1)
    stop: list[str] | None = None
    return_full_text: bool | None = None


class TgiBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    inputs: str
    parameters: TgiParameters | None = None
    stream: bool = False


class AdapterRegistration(BaseModel):
    """POST /adapters: SageMaker's adapter inference component (`name` is what later requests send in
    X-Amzn-SageMaker-Adapter-Identifier). Fields and defaults: model-hosting-container-standards'
    SageMakerRegisterLoRAAdapterRequest and DJL Serving's adapters API (pin implies preload)."""
    model_config = ConfigDict(strict=True, extra="ignore")
    name: str
    src: str = Field(min_length=1, max_length=4096)
    preload: bool = True
    pin: bool = False


def invalid(e: ValidationError) -> BadRequest:
    """One line naming the first bad field (messages never quote the input)."""
    errors = e.errors(include_url=False, include_input=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return BadRequest(f"'{where}': {first['msg']}{more}", "INVALID_PARAMETER")


def adapter_from_custom_attributes(value: str | None) -> str | None:
    """`adapter=my-bot` among `;`- or `,`-separated key=value pairs."""
    for part in (value or "").replace(",", ";").split(";"):
        key, _, val = part.strip().partition("=")
        if key.strip().lower() == "adapter" and val.strip():
            return val.strip()
    return None


def parse_tgi(body: dict) -> TgiBody:
    try:
        return TgiBody.model_validate(body)
    except ValidationError as e:
        raise invalid(e) from None


def registration_fields(raw: bytes, query: bytes) -> dict:
    """POST /adapters' fields: the JSON body or, when there is no body, the query string, where
    SageMaker's platform puts them (DJL Serving reads only the query; model-hosting-container-standards
    falls back to it since commit 9ff0574). Query values are text: preload/pin must be true/false."""
    if raw.strip():
        return parse_body(raw)
    fields = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
    for key in ("preload", "pin"):
        if key in fields:
            flag = fields[key].strip().lower()
            if flag not in ("true", "false", "1", "0"):
                raise BadRequest(f"'{key}': must be true or false", "INVALID_PARAMETER")
            fields[key] = flag in ("true", "1")
    return fields


def parse_registration(body: dict) -> AdapterRegistration:
    try:
        reg = AdapterRegistration.model_validate(body)
    except ValidationError as e:
        raise invalid(e) from None
    if not names.is_component_name(reg.name):
        raise BadRequest(f"'name': '{names.shown(reg.name)}' is not an inference component name (1-63 characters "
                         "of [a-zA-Z0-9-], starting and ending with a letter or digit)", "INVALID_ADAPTER_NAME")
    return reg


def normalize(body: dict, headers: dict[str, str], base_name: str) -> tuple[dict, str | None, bool]:
    """(OpenAI-shaped body, adapter or None for the base model, whether the request was TGI-shaped)."""
    tgi = parse_tgi(body) if "inputs" in body else None
    params = (tgi.parameters or TgiParameters()) if tgi else None  # no model built per OpenAI request
    adapter = (headers.get(ADAPTER_HEADER) or adapter_from_custom_attributes(headers.get(CUSTOM_ATTRIBUTES_HEADER))
               or (params.adapter_id if params else None) or body.get("model"))
    if adapter is not None and not isinstance(adapter, str):
        raise BadRequest("the adapter name ('model') must be a string", "INVALID_PARAMETER")
    if adapter == base_name or adapter == "":
        adapter = None
    if tgi:
        openai = {
            "prompt": tgi.inputs,
            "max_tokens": TGI_DEFAULT_MAX_NEW_TOKENS if params.max_new_tokens is None else params.max_new_tokens,
            "temperature": (1.0 if params.temperature is None else params.temperature) if params.do_sample else 0.0,
            "stream": tgi.stream,
        }
        for key in ("top_p", "seed", "stop", "repetition_penalty", "top_k"):
            if getattr(params, key) is not None:
                openai[key] = getattr(params, key)
    else:
        openai = dict(body)
    openai["model"] = adapter or base_name
    return openai, adapter, tgi is not None


def tgi_response(completion: dict, prompt: str, return_full_text: bool = False) -> list[dict]:
    choice = completion["choices"][0]
    text = (prompt if return_full_text else "") + choice["text"]
    return [{"generated_text": text, "details": {"finish_reason": choice.get("finish_reason"),
                                                  "generated_tokens": completion.get("usage", {}).get("completion_tokens")}}]
