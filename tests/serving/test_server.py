"""The serving process end to end: vLLM answers as PEFT would, adapters arrive on demand from S3,
budgets evict, errors are clear and never fatal, SageMaker's shapes and routes work."""
import json
import os
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from loraplane_core.endpoint_names import adapter_component
from tests.unit.request_strategies import ENGINE_BODIES, encoded, raw_bodies

from .conftest import BUCKET, NEW_TOKENS, PROMPT

ADAPTER_HEADER = "X-Amzn-SageMaker-Adapter-Identifier"


def test_each_adapter_answers_like_peft(server, peft_tokens, adapter_dirs):
    base = server.tokens()
    assert base == peft_tokens(None)
    outputs = {}
    for name in ("bot-1", "bot-2", "bot-3"):
        outputs[name] = server.tokens(name)
        assert outputs[name] == peft_tokens(adapter_dirs[name]), name
    assert len({tuple(t) for t in [base, *outputs.values()]}) == 4  # all different


def test_more_adapters_than_gpu_slots_in_one_burst(server, peft_tokens, adapter_dirs):
    names = [f"bot-{i}" for i in range(1, 7)] * 2  # 6 adapters, 2 GPU slots, 3 CPU entries
    with ThreadPoolExecutor(12) as pool:
        got = list(pool.map(server.tokens, names))
    for name, tokens in zip(names, got):
        assert tokens == peft_tokens(adapter_dirs[name]), name


def test_concurrent_cold_requests_fetch_once(server, s3_gets, peft_tokens, adapter_dirs):
    key = "adapters/cold-bot/adapter_model.safetensors"
    before = s3_gets.counts[key]  # (the emulator reads keys while they are uploaded)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: server.tokens("cold-bot"), range(8)))
    assert all(t == peft_tokens(adapter_dirs["cold-bot"]) for t in got)
    assert s3_gets.counts[key] - before == 1


def test_disk_budget_evicts_but_never_the_pinned_adapter(server, s3_gets):
    pinned = "adapters/pinned-bot/adapter_model.safetensors"
    before = dict(s3_gets.counts)
    server.tokens("pinned-bot")
    for i in range(1, 7):  # 6 adapters through a disk cache of 4.5 adapters
        server.tokens(f"bot-{i}")
    server.tokens("pinned-bot")
    assert s3_gets.counts[pinned] == 1  # fetched once, at start-up (pinned adapters are preloaded)
    metrics = server.metrics()
    assert 'loraplane_adapter_evictions_total{adapter="pinned-bot"' not in metrics
    evicted = set(re.findall(r'loraplane_adapter_evictions_total\{adapter="([^"]+)",tier="disk"\} [1-9]', metrics))
    assert evicted and "pinned-bot" not in evicted  # (other tests' adapters may have been evicted too)
    refetched = [n for n in evicted if s3_gets.counts[f"adapters/{n}/adapter_model.safetensors"]
                 - before.get(f"adapters/{n}/adapter_model.safetensors", 0) >= 1]
    assert refetched, "an evicted adapter asked for again is fetched again"


def test_pinned_adapter_is_preloaded_at_start(server, s3_gets):
    from loraplane.waiting import wait_until

    wait_until(lambda: s3_gets.counts["adapters/pinned-bot/adapter_model.safetensors"] >= 1, timeout=60,
               what="the pinned adapter's preload")
    server.tokens("pinned-bot")
    text = server.metrics()
    assert re.search(r'loraplane_adapter_cache_hits_total\{adapter="pinned-bot"\} [1-9]', text)
    assert not re.search(r'loraplane_adapter_cache_misses_total\{adapter="pinned-bot"\} [1-9]', text)


def test_unknown_adapter_is_404_naming_it(server):
    r = server.post("/invocations", {"inputs": "Hi", "parameters": {"adapter_id": "no-such-bot"}})
    assert r.status_code == 404 and "no-such-bot" in r.json()["error"]["message"]
    r = server.post("/invocations", {"prompt": "Hi", "model": "../../etc"})
    assert r.status_code == 404


def test_invalid_adapters_are_422_with_reason(server):
    for name, reason in (("invalid-rank", "RANK_TOO_HIGH"), ("pickled", "PICKLE_WEIGHTS")):
        r = server.post("/invocations", {"prompt": "Hi", "model": name, "max_tokens": 2})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["reason"] == reason and name in r.json()["error"]["message"]


def test_bad_bodies_are_400_and_the_server_survives(server, s3_gets):
    assert server.post("/invocations", raw=b"{not json").status_code == 400
    assert server.post("/invocations", {"inputs": ["a", "b"]}).status_code == 400
    assert server.post("/invocations", {"inputs": "Hi", "parameters": "fast"}).status_code == 400
    s3_gets.failing.add("adapters/flaky-bot/adapter_model.safetensors")
    try:
        r = server.post("/invocations", {"prompt": "Hi", "model": "flaky-bot", "max_tokens": 2})
        assert r.status_code == 503 and "flaky-bot" in r.json()["error"]["message"]
    finally:
        s3_gets.failing.clear()
    assert requests.get(server.url + "/ping", timeout=10).status_code == 200
    assert server.tokens("flaky-bot")  # fetched fine once S3 recovers


def test_every_way_of_naming_the_adapter(server, peft_tokens, adapter_dirs):
    want = peft_tokens(adapter_dirs["bot-1"])
    assert server.tokens(headers={"X-Amzn-SageMaker-Adapter-Identifier": "bot-1"}, path="/invocations") == want
    assert server.tokens(headers={"X-Amzn-SageMaker-Custom-Attributes": "adapter=bot-1"}, path="/invocations") == want
    assert server.tokens("bot-1", path="/invocations") == want
    r = server.post("/invocations", {"inputs": "Hello world", "parameters": {"adapter_id": "bot-1", "max_new_tokens": 4}})
    assert r.status_code == 200
    [answer] = r.json()
    assert isinstance(answer["generated_text"], str) and answer["details"]["generated_tokens"] == 4


def test_streaming(server):
    r = server.post("/invocations", {"prompt": PROMPT, "model": "bot-2", "max_tokens": NEW_TOKENS, "temperature": 0,
                                     "stream": True}, stream=True)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [line.removeprefix("data: ") for line in r.iter_lines(decode_unicode=True) if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and len(events) >= 2
    assert json.loads(events[0])["model"] == "bot-2"


def test_adapter_inference_component_routes(server, peft_tokens, adapter_dirs, adapter_cache):
    src = adapter_cache(seed=90)  # a local directory, as an inference component's artifact is
    r = server.post("/adapters", {"name": "ic-bot", "src": src, "pin": True})
    assert r.status_code == 200, r.text
    assert server.tokens(headers={"X-Amzn-SageMaker-Adapter-Identifier": "ic-bot"}, path="/invocations") == peft_tokens(src)
    assert requests.delete(server.url + "/adapters/ic-bot", timeout=30).status_code == 200
    r = server.post("/invocations", {"prompt": "Hi"}, headers={"X-Amzn-SageMaker-Adapter-Identifier": "ic-bot"})
    assert r.status_code == 404
    assert requests.delete(server.url + "/adapters/ic-bot", timeout=30).status_code == 404
    r = server.post("/adapters", {"name": "ic-bad", "src": adapter_dirs["invalid-rank"]})
    assert r.status_code == 422 and r.json()["error"]["reason"] == "RANK_TOO_HIGH"
    assert server.post("/adapters", {"src": src}).status_code == 400


def test_a_preloaded_inference_component_is_served_from_the_cache_folder(server, stack, s3_gets, peft_tokens,
                                                                         adapter_dirs):
    """POST /adapters with preload (SageMaker's default) ends with the files in the cache folder and the
    engine loaded from there: the first request reads nothing from S3."""
    s3 = stack.emulator.client("s3")
    for f in ("adapter_config.json", "adapter_model.safetensors"):
        s3.upload_file(os.path.join(adapter_dirs["bot-4"], f), BUCKET, f"components/ic-ready/{f}")
    r = server.post("/adapters", {"name": "ic-ready", "src": f"s3://{BUCKET}/components/ic-ready/", "preload": True})
    assert r.status_code == 200 and r.json()["preloaded"], r.text
    try:
        models = requests.get(server.url + "/v1/models", timeout=30).json()["data"]
        [card] = [m for m in models if m["id"] == "ic-ready"]
        folder = Path(card["root"])  # the cache's <name>/<sha256 prefix>-<fetch id>, not a copy of it
        assert folder.parent.name == "ic-ready" and re.fullmatch(r"[0-9a-f]{16}-[0-9a-f]{8}", folder.name), folder
        assert sorted(os.listdir(folder)) == ["adapter_config.json", "adapter_model.safetensors"]
        weights = Path(adapter_dirs["bot-4"], "adapter_model.safetensors").read_bytes()
        assert (folder / "adapter_model.safetensors").read_bytes() == weights
        gets = s3_gets.counts["components/ic-ready/adapter_model.safetensors"]
        assert server.tokens(headers={ADAPTER_HEADER: "ic-ready"}, path="/invocations") == \
            peft_tokens(adapter_dirs["bot-4"])
        assert s3_gets.counts["components/ic-ready/adapter_model.safetensors"] == gets == 1
    finally:
        assert requests.delete(server.url + "/adapters/ic-ready", timeout=30).status_code == 200


def test_metrics(server):
    server.tokens("bot-3")
    server.tokens("bot-3")  # a hit, whatever ran before (the first request ever for an adapter is a miss)
    text = server.metrics()
    for metric in ("loraplane_adapter_requests_total", "loraplane_adapter_cache_hits_total",
                   "loraplane_adapter_cache_misses_total", "loraplane_adapter_fetch_seconds_count",
                   "loraplane_adapter_load_seconds_count"):
        assert re.search(metric + r'\{adapter="bot-3"\} [1-9]', text), metric
    assert re.search(r'loraplane_resident_adapters\{tier="disk"\} [1-9]', text)
    assert re.search(r'loraplane_resident_adapters\{tier="engine"\} [1-9]', text)


def test_inference_component_of_a_30_character_adapter(server, peft_tokens, adapter_cache):
    """SageMaker names the adapter component (<adapter>-<8 hex>: 39 characters here) in POST /adapters
    and in the adapter header; it used to be held to the 30-character adapter-name rule."""
    component = adapter_component("loraplane-local-endpoint", "support-bot-for-the-tiny-llama")
    assert len(component) == 39
    src = adapter_cache(seed=91)
    r = server.post("/adapters", {"name": component, "src": src})
    assert r.status_code == 200, r.text
    assert server.tokens(headers={ADAPTER_HEADER: component}, path="/invocations") == peft_tokens(src)
    assert requests.delete(f"{server.url}/adapters/{component}", timeout=30).status_code == 200


def test_tokenize_checks_the_adapter_like_inference(server):
    r = server.post("/tokenize", {"model": "no-such-bot", "prompt": "Hi"})
    assert r.status_code == 404 and r.json()["error"]["message"] == "adapter 'no-such-bot' not found", r.text
    r = server.post("/tokenize", {"model": "bot-1", "prompt": "Hello world"})
    assert r.status_code == 200 and r.json()["tokens"]


BAD_BODIES = [
    b'{"inputs": "Hi", "parameters": {"max_new_tokens": "lots"}}',
    b'{"inputs": "Hi", "parameters": {"max_new_tokens": 1e400}}',
    b'{"inputs": "Hi", "parameters": {"do_sample": true, "temperature": "hot"}}',
    b'{"inputs": "Hi", "parameters": {"max_new_tokens": 1' + b"0" * 5000 + b"}}",
    b'{"prompt": "Hi", "max_tokens": 1' + b"0" * 5000 + b"}",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"inputs": "\ud800"}',
]


def test_bad_parameters_are_4xx_with_a_reason(server):
    for raw in BAD_BODIES:
        r = server.post("/invocations", raw=raw)
        assert 400 <= r.status_code < 500 and r.json()["error"]["reason"], (raw[:60], r.text[:300])
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:  # declares 9 MiB, sends none of it
        s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 9437184\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 413")
    r = server.post("/invocations", {"inputs": "Hi", "parameters": {"max_new_tokens": None}})
    assert r.status_code == 200  # null is TGI's "the default"
    assert requests.get(server.url + "/ping", timeout=10).status_code == 200


def test_refused_names_leave_metrics_alone(server):
    for i in range(10):
        assert server.post("/invocations", {"prompt": "Hi", "model": f"{i}-" + "Z" * 200_000}).status_code == 404
        assert server.post("/v1/completions", {"prompt": "Hi", "model": f"nobody-{i}"}).status_code == 404
    text = server.metrics()
    assert "ZZZZ" not in text and "nobody-" not in text
    assert re.search(r'loraplane_adapter_requests_total\{adapter="_invalid"\} [1-9]', text)


# Printable ASCII without spaces at the ends: what an HTTP client can put in a header.
HEADER_VALUES = st.from_regex(r"[!-~]([ -~]{0,70}[!-~])?", fullmatch=True) | st.sampled_from(["bot-1", "bot-2"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(["/invocations", "/v1/completions", "/tokenize"]),
       raw=raw_bodies() | ENGINE_BODIES.map(encoded), adapter=st.none() | HEADER_VALUES)
def test_fuzzed_requests_are_answered_or_refused(server, path, raw, adapter):
    """Malformed bodies stop at the middleware; well-formed ones with odd options reach vLLM."""
    r = server.post(path, raw=raw, headers={ADAPTER_HEADER: adapter} if adapter else {})
    event(f"status {r.status_code}")
    assert r.status_code == 200 or 400 <= r.status_code < 500, (path, raw[:200], adapter, r.text[:300])
