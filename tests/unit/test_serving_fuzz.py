"""Property tests of the serving container's request parsers: whatever the body (TGI or OpenAI
shaped, malformed, hostile numbers, deep nesting) and whatever the adapter headers, a request ends
in accept or a 4xx with a named reason and a short one-line message, quickly; never anything else.
`pytest --hypothesis-show-statistics` shows how many cases ran and how they ended."""
import asyncio
import json
import shutil
import time

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from loraplane_serving import metrics, runtime
from loraplane_serving.body import MAX_MESSAGE_CHARS, BadRequest, nesting, parse_body
from loraplane_serving.names import MAX_COMPONENT_NAME
from loraplane_serving.shapes import normalize
from loraplane_serving.sources import LocalSource

from .request_strategies import HEADERS, OPENAI_BODIES, RAW_HEADERS, TGI_BODIES, VALUES, encoded, raw_bodies
from .serving_asgi import Client
from .test_serving_parts import make_cache

SECONDS_PER_CASE = 2.0  # generous on a loaded machine; a hang or a quadratic path blows it
FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_ASGI = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the parsers ----------------------------------------------------------------------------------
def outcome(raw: bytes, headers: dict[str, str]) -> str:
    """'accepted' or 'refused: <reason>'; any other exception fails the property."""
    started = time.perf_counter()
    try:
        openai, adapter, tgi = normalize(parse_body(raw), headers, "base")
    except BadRequest as e:
        message = str(e)
        assert 400 <= e.status < 500 and e.reason and e.reason.isupper()
        assert "\n" not in message and 0 < len(message) <= MAX_MESSAGE_CHARS
        return f"refused: {e.reason}"
    finally:
        assert time.perf_counter() - started < SECONDS_PER_CASE
    json.dumps(openai, allow_nan=False)  # what is forwarded is strict JSON
    assert adapter is None or (isinstance(adapter, str) and adapter != "base")
    assert openai["model"] == (adapter or "base")
    if tgi:
        assert isinstance(openai["max_tokens"], int) and 1 <= openai["max_tokens"] < 2**31
        assert isinstance(openai["temperature"], float) and openai["temperature"] >= 0
        assert isinstance(openai["prompt"], str) and isinstance(openai["stream"], bool)
    return "accepted"


@FUZZ
@given(body=TGI_BODIES, headers=HEADERS)
def test_tgi_bodies(body, headers):
    event(outcome(encoded(body), headers))


@FUZZ
@given(body=OPENAI_BODIES, headers=HEADERS)
def test_openai_bodies(body, headers):
    event(outcome(encoded(body), headers))


@FUZZ
@given(raw=raw_bodies())
def test_raw_bodies(raw):
    event(outcome(raw, {}))


@FUZZ
@given(headers=HEADERS)
def test_adapter_headers(headers):
    event(outcome(b'{"inputs": "Hi"}', headers))


def depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


@FUZZ
@given(value=VALUES, ascii_only=st.booleans())
def test_nesting_is_the_depth(value, ascii_only):
    """The pre-parse depth scan agrees with the parsed structure, whatever the strings hold."""
    assert nesting(json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")) == depth(value)


# -- through the middleware -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory, adapter_cache, base_profile):
    """One middleware over a local library (a, b) for the whole module (fixtures are not per example)."""
    root = tmp_path_factory.mktemp("fuzz")
    for name, seed in (("a", 50), ("b", 51)):
        shutil.copytree(adapter_cache(seed=seed), root / "library" / name)
    saved = runtime._runtime
    runtime._runtime = runtime.Runtime(base_name="base",
                                       cache=make_cache(root, LocalSource(str(root / "library")), base_profile, 4))
    yield Client()
    runtime._runtime = saved


PATHS = st.sampled_from(["/invocations", "/v1/completions", "/v1/chat/completions", "/tokenize", "/adapters",
                         "/v1/load_lora_adapter", "/some/admin"])


@FUZZ_ASGI
@given(path=PATHS, raw=raw_bodies(), headers=HEADERS | RAW_HEADERS, client=st.sampled_from(["127.0.0.1", "10.0.0.9"]))
def test_requests_through_the_middleware(fuzz_client, path, raw, headers, client):
    started = time.perf_counter()
    answer = asyncio.run(fuzz_client.request("POST", path, raw=raw, headers=headers, client=client))
    assert time.perf_counter() - started < SECONDS_PER_CASE
    event(f"status {answer.status}")
    assert answer.status == 200 or 400 <= answer.status < 500, answer.body[:300]
    if answer.status != 200:
        error = answer.json()["error"]
        assert len(error["message"]) <= MAX_MESSAGE_CHARS and "\n" not in error["message"]
    labels = {s.labels["adapter"] for family in metrics.REQUESTS.collect() for s in family.samples}
    assert all(len(v) <= MAX_COMPONENT_NAME for v in labels)
    assert all(n > 0 for n in fuzz_client.middleware.in_flight.values())


@FUZZ
@given(raw=st.binary(max_size=400) | st.text(alphabet='[]{}"\\ a', max_size=400).map(str.encode))
def test_nesting_never_exceeds_the_openers(raw):
    """parse_body skips the exact depth walk when the text opens no more than MAX_JSON_DEPTH arrays
    and objects: sound only if no text nests deeper than it opens."""
    assert nesting(raw) <= raw.count(b"[") + raw.count(b"{")
