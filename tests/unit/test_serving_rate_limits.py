"""Per-adapter rate limits through the serving middleware (serving_asgi.py's stand-in for vLLM): 429
with Retry-After and the container's error shape, the metric, unlimited adapters untouched, and in
on-demand mode an adapter's own limits from the live manifest."""
import json
import os

from prometheus_client import REGISTRY

from loraplane_core.adapters.validation import sha256_file
from loraplane_serving.limits import Limiter, Limits
from loraplane_serving.live import LiveGate
from loraplane_serving.manifest import LiveManifest
from loraplane_serving.shapes import ALIAS_HEADER

from .serving_asgi import Client
from .test_serving_middleware import library, run, served  # noqa: F401 - fixtures


class Clock:
    def __init__(self):
        self.now = 50.0

    def __call__(self):
        return self.now


def limited(adapter: str = "a", limit: str = "requests_per_second") -> float:
    labels = {"adapter": adapter, "limit": limit}
    return REGISTRY.get_sample_value("loraplane_adapter_rate_limited_total", labels) or 0.0


def test_second_request_over_1_rps_is_429_with_retry_after(served):
    clock = Clock()
    served.limiter = Limiter(Limits(rps=1), clock=clock)
    c = Client()
    before = limited()

    async def scenario():
        first = await c.request("POST", "/v1/completions", {"model": "a", "prompt": "x", "max_tokens": 4})
        second = await c.request("POST", "/invocations", {"inputs": "x", "parameters": {"adapter_id": "a"}},
                                 headers={ALIAS_HEADER: "Support Bot"})
        clock.now += 1
        third = await c.request("POST", "/v1/completions", {"model": "a", "prompt": "x"})
        return first, second, third

    first, second, third = run(scenario)
    assert first.status == 200 and third.status == 200 and len(c.app.seen) == 2
    assert second.status == 429 and second.headers["retry-after"] == "1"
    assert second.json() == {"error": {
        "message": "adapter 'Support Bot' is over its limit of 1 requests per second; retry after 1 s",
        "type": "RateLimitError", "code": 429, "param": "model", "reason": "RATE_LIMITED",
        "limit": "requests_per_second", "retry_after": 1}}
    assert second.headers["content-type"] == "application/json"
    assert limited() == before + 1
    assert not c.middleware.in_flight  # the refused request let go of its adapter


def test_unlimited_adapters_are_not_limited(served):
    served.limiter = Limiter(Limits(), clock=Clock())
    c = Client()

    async def scenario():
        return [await c.request("POST", "/v1/completions", {"model": name, "prompt": "x"}) for name in "ab" * 20]

    assert {a.status for a in run(scenario)} == {200} and not served.limiter.buckets


def test_token_limit_charges_max_tokens_and_refunds_usage(served):
    """600 tokens a minute: a request asking 500 fits; a second one fits only because the first
    generated 1 token (the stand-in's usage) and got the rest back."""
    served.limiter = Limiter(Limits(tpm=600), clock=Clock())
    c = Client()

    async def scenario():
        return [await c.request("POST", "/v1/completions", {"model": "a", "prompt": "x", "max_tokens": n})
                for n in (500, 500, 600)]

    answers = run(scenario)
    assert [a.status for a in answers[:2]] == [200, 200] and served.limiter.buckets["a"][2].level == 598
    over = answers[2]  # 600 asked, 598 left, 10 a second come back: 0.2 s, rounded up
    assert over.status == 429 and over.json()["error"]["limit"] == "tokens_per_minute"
    assert over.headers["retry-after"] == "1" and over.json()["error"]["retry_after"] == 1
    assert "600 generated tokens per minute" in over.json()["error"]["message"]


def test_refused_names_get_no_bucket(served):
    served.limiter = Limiter(Limits(rps=1), clock=Clock())
    c = Client()

    async def scenario():
        return [await c.request("POST", "/v1/completions", {"model": f"unknown-{i}", "prompt": "x"}) for i in range(20)]

    assert {a.status for a in run(scenario)} == {404} and not served.limiter.buckets


def test_on_demand_adapters_take_their_own_limits_from_the_manifest(served, library, tmp_path):  # noqa: F811
    def sha(name):
        return sha256_file(os.path.join(library.root, name, "adapter_model.safetensors"))

    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"format": 1, "adapters": {
        "a": {"sha256": sha("a"), "requests_per_second": 1},  # its own limit
        "b": {"sha256": sha("b"), "requests_per_second": "fast"},  # malformed: the default, and still served
    }}))
    served.live = LiveGate(served.cache, LiveManifest(str(path), ttl=60))
    served.limiter = Limiter(Limits(rps=3), clock=Clock())
    c = Client()

    async def scenario():
        return ([(await c.request("POST", "/v1/completions", {"model": "a", "prompt": "x"})).status for _ in range(3)],
                [(await c.request("POST", "/v1/completions", {"model": "b", "prompt": "x"})).status for _ in range(4)])

    a, b = run(scenario)
    assert a == [200, 429, 429] and b == [200, 200, 200, 429]
