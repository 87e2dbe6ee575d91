"""The serving middleware in process (serving_asgi.py's stand-in for vLLM): admin routes stay with
loopback clients, every route that names a model gets the adapter check, inference components go
by their component name, and refused names leave no trace in metrics or memory."""
import asyncio
import os
import shutil

import pytest

from loraplane_core.endpoint_names import adapter_component
from loraplane_core.adapters.validation import sha256_file
from loraplane_serving import metrics, runtime
from loraplane_serving.live import LiveGate
from loraplane_serving.manifest import LiveManifest
from loraplane_serving.shapes import ADAPTER_HEADER
from loraplane_serving.sources import LocalSource

from .serving_asgi import Client
from .test_manifest import doc
from .test_serving_parts import make_cache

ADAPTER_30 = "support-bot-for-the-tiny-llama"  # the longest adapter name there is
REMOTE = "10.20.30.40"


@pytest.fixture
def library(tmp_path, adapter_cache):
    """Adapters a, b (and the source folders of components) under a local source."""
    root = tmp_path / "library"
    for name, seed in (("a", 50), ("b", 51)):
        shutil.copytree(adapter_cache(seed=seed), root / name)
    return LocalSource(str(root))


@pytest.fixture
def served(tmp_path, library, base_profile, monkeypatch):
    """The process runtime set to a cache over `library` (as `loraplane serve` builds it)."""
    rt = runtime.Runtime(base_name=base_profile.name, cache=make_cache(tmp_path, library, base_profile, 4))
    monkeypatch.setattr(runtime, "_runtime", rt)
    return rt


def adapter_labels() -> set[str]:
    """Every `adapter` label value of our metrics so far (the registry is process-wide)."""
    values = set()
    for metric in (metrics.REQUESTS, metrics.HITS, metrics.MISSES, metrics.FETCHES, metrics.FETCH_SECONDS,
                   metrics.LOAD_SECONDS, metrics.EVICTIONS, metrics.ERRORS):
        for family in metric.collect():
            values |= {s.labels["adapter"] for s in family.samples if "adapter" in s.labels}
    return values


def run(scenario):
    return asyncio.run(scenario())


# -- defect: memory grows with every refused name ---------------------------------------------
def test_refused_names_leave_no_labels_and_no_state(served):
    c = Client()
    before = adapter_labels()

    async def scenario():
        answers = []
        for i in range(30):
            huge = f"{i}-" + "Z" * 50_000
            answers.append(await c.request("POST", "/invocations", {"prompt": "x", "model": huge}))
            answers.append(await c.request("POST", "/v1/completions", {"prompt": "x", "model": f"unknown-{i}"}))
            answers.append(await c.request("POST", "/invocations", {"inputs": "x"}, headers={ADAPTER_HEADER: f"No-{i}"}))
            answers.append(await c.request("DELETE", f"/adapters/{huge}"))
            answers.append(await c.request("DELETE", f"/adapters/gone-{i}"))
        return answers

    answers = run(scenario)
    assert {a.status for a in answers} == {404}
    assert all(len(a.body) < 1000 for a in answers)
    new = adapter_labels() - before
    assert new <= {metrics.INVALID, metrics.UNKNOWN}, sorted(v[:40] for v in new)
    assert not c.middleware.in_flight and not served.cache._generation and not served.cache.sources
    assert c.app.seen == []


def test_served_adapters_keep_their_own_labels(served):
    c = Client()
    answer = run(lambda: c.request("POST", "/v1/completions", {"prompt": "x", "model": "a"}))
    assert answer.status == 200
    assert {"a"} <= adapter_labels() and not c.middleware.in_flight


def test_labels_stop_at_the_budget(monkeypatch):
    monkeypatch.setattr(metrics, "_labelled", set())
    monkeypatch.setattr(metrics, "MAX_ADAPTER_LABELS", 2)
    assert [metrics.adapter_label(n) for n in ("a", "b", "c", "a")] == ["a", "b", metrics.OTHER, "a"]


# -- defect: inference components of 22-30-character adapters never go live -------------------
def test_component_of_a_30_character_adapter_is_registered_and_served(served, library):
    component = adapter_component("my-project-p-1234-endpoint", ADAPTER_30)
    assert len(component) == 39
    c = Client()

    async def scenario():
        registered = await c.request("POST", "/adapters", {"name": component, "src": os.path.join(library.root, "a")})
        invoked = await c.request("POST", "/invocations", {"inputs": "Hi"}, headers={ADAPTER_HEADER: component})
        deleted = await c.request("DELETE", f"/adapters/{component}")
        after = await c.request("POST", "/invocations", {"inputs": "Hi"}, headers={ADAPTER_HEADER: component})
        return registered, invoked, deleted, after

    registered, invoked, deleted, after = run(scenario)
    assert registered.status == 200, registered.body
    assert invoked.status == 200 and invoked.json()[0]["generated_text"] == " ok"
    assert c.app.seen[-1][2]["model"] == component
    assert deleted.status == 200 and after.status == 404


def test_component_names_only_where_components_arrive(served, library):
    c = Client()

    async def scenario():
        unregistered = await c.request("POST", "/v1/completions", {"prompt": "x", "model": "a" * 39})
        too_long = await c.request("POST", "/adapters", {"name": "a" * 64, "src": os.path.join(library.root, "a")})
        newline = await c.request("POST", "/adapters", {"name": "a\n", "src": os.path.join(library.root, "a")})
        no_src = await c.request("POST", "/adapters", {"name": "abc"})
        bad_src = await c.request("POST", "/adapters", {"name": "abc", "src": "s3://bucket"})
        return unregistered, too_long, newline, no_src, bad_src

    unregistered, *bad = run(scenario)
    assert unregistered.status == 404  # not registered: the adapter-name rule applies
    assert [a.status for a in bad] == [400] * 4
    assert [a.json()["error"]["reason"] for a in bad[:2]] == ["INVALID_ADAPTER_NAME"] * 2
    assert not served.cache.sources and not served.cache.pinned


# -- defect: `loraplane serve` exposes admin routes ---------------------------------------------
def test_serve_listens_on_loopback_unless_told(tiny_base_dir):
    from loraplane.cli import parser
    from loraplane_serving.launch import ServeOptions, command, sagemaker_options

    args = parser().parse_args(["serve", "--base-model-dir", tiny_base_dir])
    assert args.host == "127.0.0.1" and not args.allow_remote_admin
    argv, env = command(ServeOptions(model_dir=tiny_base_dir))
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert env["LORAPLANE_REMOTE_ADMIN"] == "0" and env["VLLM_SERVER_DEV_MODE"] == "0"
    args = parser().parse_args(["serve", "--base-model-dir", tiny_base_dir, "--host", "0.0.0.0",
                                "--allow-remote-admin"])
    assert (args.host, args.allow_remote_admin) == ("0.0.0.0", True)
    sagemaker = sagemaker_options({"SM_MODEL_DIR": tiny_base_dir})
    assert sagemaker.host == "0.0.0.0" and command(sagemaker)[1]["LORAPLANE_REMOTE_ADMIN"] == "1"


@pytest.mark.parametrize("method,path", [
    ("POST", "/adapters"), ("DELETE", "/adapters/a"), ("POST", "/start_profile"), ("POST", "/scale_elastic_ep"),
    ("POST", "/abort_requests"), ("POST", "/reset_prefix_cache"), ("PUT", "/anything"),
])
def test_admin_routes_refuse_remote_clients(served, library, method, path):
    c = Client()
    body = {"name": "x", "src": os.path.join(library.root, "a")} if path == "/adapters" else {}
    answer = run(lambda: c.request(method, path, body, client=REMOTE))
    assert answer.status == 403 and answer.json()["error"]["reason"] == "ADMIN_ROUTE"
    assert c.app.seen == [] and not served.cache.sources


def test_remote_admin_when_allowed(served, library):
    served.remote_admin = True
    c = Client()
    answer = run(lambda: c.request("POST", "/adapters", {"name": "x", "src": os.path.join(library.root, "a")},
                                   client=REMOTE))
    assert answer.status == 200, answer.body


@pytest.mark.parametrize("client", ["127.0.0.1", "::1", REMOTE])
def test_vllms_unvalidated_adapter_loading_is_off(served, library, client):
    served.remote_admin = True
    c = Client()
    for path in ("/v1/load_lora_adapter", "/v1/unload_lora_adapter"):
        answer = run(lambda path=path: c.request("POST", path, {"lora_name": "x", "lora_path": library.root},
                                                 client=client))
        assert answer.status == 403
    assert c.app.seen == []


def test_public_routes_stay_public(served):
    c = Client()

    async def scenario():
        return [await c.request(m, p, b, client=REMOTE) for m, p, b in (
            ("GET", "/ping", None), ("POST", "/ping", None), ("GET", "/v1/models", None),
            ("POST", "/v1/completions", {"prompt": "x"}), ("POST", "/tokenize", {"prompt": "x"}),
            ("POST", "/v1/responses/abc/cancel", None))]

    assert [a.status for a in run(scenario)] == [200] * 6
    assert c.app.seen[3][2]["model"] == served.base_name  # the base model, named for vLLM
    assert c.app.seen[5][2] == {}  # a body-less POST goes through untouched


@pytest.fixture
def live(served, library, tmp_path):
    """On-demand mode: the manifest names `a` only (`b` is under the source, not live)."""
    path = tmp_path / "manifest.json"
    path.write_text(doc(a=sha256_file(os.path.join(library.root, "a", "adapter_model.safetensors"))))
    served.live = LiveGate(served.cache, LiveManifest(str(path), ttl=60))
    return served


@pytest.mark.parametrize("path", ["/tokenize", "/detokenize", "/pooling", "/classify", "/score", "/rerank",
                                  "/v1/embeddings", "/v1/chat/completions", "/inference/v1/generate", "/invocations"])
def test_every_route_naming_a_model_gets_the_live_check(live, path):
    c = Client()

    async def scenario():
        return (await c.request("POST", path, {"model": "b", "prompt": "x", "tokens": [1]}),
                await c.request("POST", path, {"model": "a", "prompt": "x", "tokens": [1]}))

    not_live, is_live = run(scenario)
    assert not_live.status == 404 and "'b'" in not_live.json()["error"]["message"]
    assert is_live.status == 200 and [s[:2] for s in c.app.seen] == [("POST", path)]


def test_admin_posts_naming_a_model_get_the_check_too(live):
    c = Client()
    answer = run(lambda: c.request("POST", "/some/operator/route", {"model": "b"}))
    assert answer.status == 404 and c.app.seen == []


# -- bad requests through the middleware ----------------------------------------------------
@pytest.mark.parametrize("raw", [
    b'{"inputs": "Hi", "parameters": {"max_new_tokens": "lots"}}',
    b'{"inputs": "Hi", "parameters": {"max_new_tokens": null, "do_sample": true, "temperature": "hot"}}',
    b'{"inputs": "Hi", "parameters": {"max_new_tokens": 1e400}}',
    b'{"inputs": "Hi", "parameters": {"max_new_tokens": 1' + b"0" * 5000 + b"}}",
    b"[" * 100_000 + b"]" * 100_000,
])
def test_bad_tgi_requests_are_4xx(served, raw):
    c = Client()
    answer = run(lambda: c.request("POST", "/invocations", raw=raw))
    assert 400 <= answer.status < 500 and answer.json()["error"]["reason"]
    assert len(answer.json()["error"]["message"]) <= 500 and c.app.seen == []


def test_oversized_bodies_are_413_without_reading_them_all(served):
    c = Client()

    async def scenario():
        return (await c.request("POST", "/invocations", raw=b" " * (9 * 2**20), chunk=2**20),
                await c.request("POST", "/invocations", raw=b"{}", headers={"content-length": str(2**40)}))

    assert [a.status for a in run(scenario)] == [413, 413]


def test_non_utf8_headers_are_not_a_crash(served):
    c = Client()
    answer = run(lambda: c.request("POST", "/invocations", {"inputs": "x"}, headers={ADAPTER_HEADER: b"b\xe9t"}))
    assert answer.status == 404


def test_registered_source_folders_need_not_match_the_name(served, library, tmp_path):
    shutil.copytree(os.path.join(library.root, "a"), tmp_path / "staged" / "whatever")
    c = Client()
    answer = run(lambda: c.request("POST", "/adapters", {"name": "Comp-1", "src": str(tmp_path / "staged" / "whatever")}))
    assert answer.status == 200, answer.body
