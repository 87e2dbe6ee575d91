"""On-demand mode end to end: a second server (this module only) with LORAPLANE_ADAPTER_MANIFEST,
adapters as the control plane publishes them (`live/<name>/adapter.tar.gz` + `live/manifest.json`),
a 1 s manifest TTL. It serves exactly what the manifest names, at the version it names. Each test
changes only adapters of its own, so any order works."""
import json
import os
import re
import time

import pytest
import requests

from loraplane_core.adapters.archive import build_adapter_archive
from loraplane.waiting import wait_until
from loraplane_core.adapters.validation import sha256_file

from .conftest import run_server

LIVE_BUCKET = "serving-live"
TTL = 1.0
SEEDS = {"v1": 100, "v2": 101, "hidden": 102, "retired": 103, "racy": 104}


class LivePrefix:
    def __init__(self, s3, tmp):
        self.s3, self.tmp = s3, tmp
        self.live: dict[str, str] = {}  # name -> sha256 the manifest names

    def upload(self, name: str, adapter_dir: str) -> None:
        archive = os.path.join(self.tmp, f"{name}-{time.monotonic_ns()}.tar.gz")
        build_adapter_archive(adapter_dir, archive)
        self.s3.upload_file(archive, LIVE_BUCKET, f"live/{name}/adapter.tar.gz")

    def publish(self, wait: bool = True, **names: str | None) -> None:
        """Manifest entries: name -> the adapter folder whose weights it names (None: retire it)."""
        for name, folder in names.items():
            if folder is None:
                self.live.pop(name, None)
            else:
                self.live[name] = sha256_file(os.path.join(folder, "adapter_model.safetensors"))
        body = {"format": 1, "updated_at": "2026-11-28T21:00:00Z",
                "adapters": {n: {"sha256": s, "version": 1, "base_model": "tiny-llama",
                                 "package_arn": f"arn:aws:sagemaker:us-east-1:000000000000:model-package/g/{n}"}
                             for n, s in self.live.items()}}
        self.s3.put_object(Bucket=LIVE_BUCKET, Key="live/manifest.json", Body=json.dumps(body).encode())
        if wait:
            time.sleep(TTL * 1.5)  # the server re-reads it after its TTL


@pytest.fixture(scope="module")
def versions(adapter_cache) -> dict[str, str]:
    return {k: adapter_cache(seed=seed) for k, seed in SEEDS.items()}


@pytest.fixture(scope="module")
def live_prefix(stack, versions, tmp_path_factory) -> LivePrefix:
    s3 = stack.emulator.client("s3")
    s3.create_bucket(Bucket=LIVE_BUCKET)
    prefix = LivePrefix(s3, str(tmp_path_factory.mktemp("live")))
    for name, version in (("support-bot", "v1"), ("versioned-bot", "v1"), ("hidden-bot", "hidden"),
                          ("retired-bot", "retired"), ("racy-bot", "racy")):
        prefix.upload(name, versions[version])
    prefix.publish(wait=False, **{"support-bot": versions["v1"], "versioned-bot": versions["v1"],
                                  "retired-bot": versions["retired"]})
    return prefix


@pytest.fixture(scope="module")
def live_server(tiny_base_dir, live_prefix, stack, tmp_path_factory):
    args = ["--base-model-dir", tiny_base_dir, "--adapter-source", f"s3://{LIVE_BUCKET}/live/",
            "--adapter-manifest", f"s3://{LIVE_BUCKET}/live/manifest.json",
            "--max-loras", "2", "--max-cpu-loras", "3", "--max-lora-rank", "16", "--max-model-len", "256"]
    env = {**stack.emulator.environment(), "LORAPLANE_CACHE_DIR": str(tmp_path_factory.mktemp("live-cache")),
           "LORAPLANE_MANIFEST_TTL_SECONDS": str(TTL), "VLLM_CPU_KVCACHE_SPACE": "1"}
    yield from run_server(args, env, tmp_path_factory.mktemp("serve-live") / "serve.log")


def completion(server, model: str) -> requests.Response:
    return server.post("/v1/completions", {"prompt": "Hi", "model": model, "max_tokens": 2})


def test_serves_what_the_manifest_names_and_nothing_else(live_server, live_prefix, peft_tokens, versions):
    assert live_server.tokens("support-bot") == peft_tokens(versions["v1"])
    r = completion(live_server, "hidden-bot")  # under live/, but not live
    assert r.status_code == 404 and r.json()["error"]["message"] == "adapter 'hidden-bot' not found"
    text = live_server.metrics()
    # names that are not live are counted, but never as labels of their own (their number is unbounded)
    assert re.search(r'loraplane_adapter_errors_total\{adapter="_unknown",reason="not_live"\} [1-9]', text)
    assert 'adapter="hidden-bot"' not in text
    assert re.search(rf"loraplane_live_adapters {len(live_prefix.live)}\b", text)
    assert re.search(r'loraplane_manifest_reloads_total\{outcome="read"\} [1-9]', text)


def test_a_retired_adapter_stops_being_served(live_server, live_prefix, peft_tokens, versions):
    assert live_server.tokens("retired-bot") == peft_tokens(versions["retired"])
    live_prefix.publish(**{"retired-bot": None})
    assert completion(live_server, "retired-bot").status_code == 404
    assert live_server.tokens("support-bot")  # the others still answer


def test_a_new_version_replaces_the_old_one(live_server, live_prefix, peft_tokens, versions):
    assert live_server.tokens("versioned-bot") == peft_tokens(versions["v1"])
    assert peft_tokens(versions["v1"]) != peft_tokens(versions["v2"])
    live_prefix.upload("versioned-bot", versions["v2"])
    live_prefix.publish(**{"versioned-bot": versions["v2"]})
    assert live_server.tokens("versioned-bot") == peft_tokens(versions["v2"])


def test_manifest_that_does_not_match_the_files_is_503(live_server, live_prefix, peft_tokens, versions):
    live_prefix.publish(**{"racy-bot": versions["v1"]})  # names weights that are not under live/racy-bot/
    r = completion(live_server, "racy-bot")
    assert r.status_code == 503 and "racy-bot" in r.json()["error"]["message"], r.text
    assert requests.get(live_server.url + "/ping", timeout=10).status_code == 200
    assert re.search(r'loraplane_adapter_errors_total\{adapter="racy-bot",reason="version_mismatch"\} [1-9]',
                     live_server.metrics())
    live_prefix.publish(**{"racy-bot": versions["racy"]})  # the publish completes
    assert live_server.tokens("racy-bot") == peft_tokens(versions["racy"])


def test_an_approved_adapter_is_fetched_before_its_first_request(live_server, live_prefix, s3_gets, peft_tokens,
                                                                 versions):
    """Prefetch on approval: the container fetches what the manifest newly lists, without a request."""
    key = "live/prefetched-bot/adapter.tar.gz"
    live_prefix.upload("prefetched-bot", versions["v2"])
    live_prefix.publish(wait=False, **{"prefetched-bot": versions["v2"]})
    fetched = re.compile(r'loraplane_adapter_fetches_total\{adapter="prefetched-bot"\} 1')
    wait_until(lambda: fetched.search(live_server.metrics()), timeout=60, interval=0.5,
               what="the prefetch of prefetched-bot")
    gets = s3_gets.counts[key]
    assert gets >= 1
    assert live_server.tokens("prefetched-bot") == peft_tokens(versions["v2"])
    assert s3_gets.counts[key] == gets  # the first request read nothing from S3
    text = live_server.metrics()
    assert re.search(r'loraplane_adapter_cache_hits_total\{adapter="prefetched-bot"\} 1', text)
    assert not re.search(r'loraplane_adapter_cache_misses_total\{adapter="prefetched-bot"\} [1-9]', text)
    assert re.search(r'loraplane_adapter_prefetches_total\{outcome="(loaded|fetched)"\} [1-9]', text)


def test_every_route_that_names_an_adapter_is_gated(live_server, live_prefix):
    """/tokenize and /detokenize used to reach vLLM's resolver without the manifest check."""
    for path, body in (("/tokenize", {"prompt": "Hi"}), ("/detokenize", {"tokens": [322, 380]})):
        r = live_server.post(path, {**body, "model": "hidden-bot"})  # under live/, but not live
        assert r.status_code == 404 and r.json()["error"]["message"] == "adapter 'hidden-bot' not found", r.text
        assert live_server.post(path, {**body, "model": "support-bot"}).status_code == 200
