"""Request parsing in the serving container, without vLLM: every bad body or name is a 4xx with a
named reason and a one-line message, never an exception of another kind."""
import asyncio
import json
import time

import pytest

from loraplane_core.adapters.reasons import AdapterRejected, Reason
from loraplane_serving.body import MAX_BODY_BYTES, MAX_JSON_DEPTH, parse_body, read_body
from loraplane_serving.shapes import BadRequest, normalize

TGI = {"inputs": "Hi"}


def refusal(body: dict | bytes) -> BadRequest:
    """The BadRequest that parsing (and normalizing) this body raises."""
    with pytest.raises(BadRequest) as e:
        normalize(parse_body(body if isinstance(body, bytes) else json.dumps(body).encode()), {}, "base")
    assert 400 <= e.value.status < 500 and e.value.reason
    assert "\n" not in str(e.value) and len(str(e.value)) <= 500
    return e.value


@pytest.mark.parametrize("params,field", [
    ({"max_new_tokens": "lots"}, "max_new_tokens"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"max_new_tokens": 16.5}, "max_new_tokens"),
    ({"max_new_tokens": True}, "max_new_tokens"),
    ({"max_new_tokens": 2**40}, "max_new_tokens"),
    ({"do_sample": True, "temperature": "hot"}, "temperature"),
    ({"do_sample": True, "temperature": 0}, "temperature"),
    ({"do_sample": "yes"}, "do_sample"),
    ({"top_p": 1.5}, "top_p"),
    ({"top_k": "many"}, "top_k"),
    ({"seed": -1}, "seed"),
    ({"stop": [1, 2]}, "stop"),
    ({"adapter_id": 7}, "adapter_id"),
    ({"return_full_text": "no"}, "return_full_text"),
])
def test_bad_tgi_parameters_are_400_naming_the_field(params, field):
    e = refusal({**TGI, "parameters": params})
    assert e.status == 400 and e.reason == "INVALID_PARAMETER" and f"parameters.{field}" in str(e)


@pytest.mark.parametrize("raw,reason", [
    (b'{"inputs": "Hi", "parameters": {"max_new_tokens": 1e400}}', "NUMBER_OUT_OF_RANGE"),
    (b'{"inputs": "Hi", "parameters": {"max_new_tokens": NaN}}', "NUMBER_OUT_OF_RANGE"),
    (b'{"inputs": "Hi", "parameters": {"temperature": -Infinity}}', "NUMBER_OUT_OF_RANGE"),
    (b'{"inputs": "Hi", "parameters": {"max_new_tokens": 1' + b"0" * 5000 + b"}}", "NUMBER_OUT_OF_RANGE"),
    (b'{"prompt": "Hi", "seed": -' + b"9" * 5000 + b"}", "NUMBER_OUT_OF_RANGE"),
    (b"[" * 100_000 + b"]" * 100_000, "JSON_TOO_DEEP"),
    (b'{"a": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001, "JSON_TOO_DEEP"),
    (b'{"inputs": "\\ud800"}', "INVALID_JSON"),
    (b'{"inputs": "\xff"}', "INVALID_JSON"),
    (b"{not json", "INVALID_JSON"),
    (b"", "NOT_AN_OBJECT"),
    (b"[1]", "NOT_AN_OBJECT"),
    (b'{"inputs": ["a", "b"]}', "INVALID_PARAMETER"),
    (b'{"inputs": "Hi", "stream": "yes"}', "INVALID_PARAMETER"),
    (b'{"prompt": "x", "model": 3}', "INVALID_PARAMETER"),
])
def test_bad_bodies_are_400_with_a_reason(raw, reason):
    assert refusal(raw).reason == reason


def test_null_parameters_mean_the_defaults():
    openai, _, tgi = normalize(parse_body(b'{"inputs": "Hi", "parameters": {"max_new_tokens": null, '
                                          b'"temperature": null, "top_k": null}}'), {}, "base")
    assert tgi and openai["max_tokens"] == 32 and openai["temperature"] == 0.0 and "top_k" not in openai


def test_depth_and_size_limits():
    nested = json.dumps({"prompt": "x", "extra": json.loads("[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1))})
    assert parse_body(nested.encode())["prompt"] == "x"  # exactly at the limit
    too_deep = nested.replace("[", "[[", 1).replace("]", "]]", 1)
    with pytest.raises(BadRequest, match="deeper"):
        parse_body(too_deep.encode())
    brackets_in_strings = json.dumps({"prompt": "[" * 10_000 + '\\"{' * 100})
    assert parse_body(brackets_in_strings.encode())["prompt"].startswith("[[[")
    with pytest.raises(BadRequest) as e:
        parse_body(b" " * (MAX_BODY_BYTES + 1))
    assert e.value.status == 413 and e.value.reason == "BODY_TOO_LARGE"


def test_limits_are_checked_fast():
    """The worst bodies within the byte limit are refused (or parsed) in well under a second each."""
    half = MAX_BODY_BYTES // 2
    for raw in (b"[" * MAX_BODY_BYTES, b"[]" * half, b'{"a": "' + b"\\\\" * (half - 8) + b'"}',
                b'{"a": "' + b'"' * (MAX_BODY_BYTES - 10) + b"}"):
        started = time.perf_counter()
        try:
            parse_body(raw)
        except BadRequest:
            pass
        assert time.perf_counter() - started < 3, raw[:20]


def test_read_body_stops_at_the_limit():
    chunks = [b"x" * 2**20] * 100  # 100 MiB offered, one MiB at a time
    read = []

    async def receive():
        read.append(1)
        return {"type": "http.request", "body": chunks.pop(), "more_body": bool(chunks)}

    with pytest.raises(BadRequest) as e:
        asyncio.run(read_body(receive))
    assert e.value.status == 413 and len(read) == MAX_BODY_BYTES // 2**20 + 1
    with pytest.raises(BadRequest):  # a declared length over the limit is refused before reading
        asyncio.run(read_body(receive, str(MAX_BODY_BYTES + 1)))
    assert len(read) == MAX_BODY_BYTES // 2**20 + 1


@pytest.mark.parametrize("name", ["abc\n", "bot-1\n", "a" * 31, "-a", "a-", "A", "a_b", "a/b", "..", ""])
def test_adapter_names_must_match_entirely(name):
    from loraplane_serving.names import check, is_adapter_name

    assert not is_adapter_name(name)
    with pytest.raises(AdapterRejected) as e:
        check(name)
    assert e.value.reason == Reason.INVALID_ADAPTER_NAME and "\n" not in e.value.message


@pytest.mark.parametrize("name,ok", [
    ("support-bot-for-tiny-llama-xyz-1a2b3c4d", True), ("A--b", True), ("a" * 63, True),
    ("a" * 64, False), ("abc\n", False), ("a-", False), ("a_b", False), ("-a", False),
])
def test_component_names_follow_sagemakers_rule(name, ok):
    from loraplane_serving.names import is_component_name

    assert is_component_name(name) is ok


def test_the_cache_refuses_a_name_with_a_trailing_newline(tmp_path, base_profile, adapter_cache):
    import shutil

    from loraplane_serving.sources import LocalSource

    from .test_serving_parts import make_cache

    shutil.copytree(adapter_cache(seed=50), tmp_path / "lib" / "a")
    cache = make_cache(tmp_path, LocalSource(str(tmp_path / "lib")), base_profile, 2)
    with pytest.raises(AdapterRejected) as e:
        asyncio.run(cache.get("a\n"))
    assert e.value.reason == Reason.INVALID_ADAPTER_NAME
