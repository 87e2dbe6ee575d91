"""On-demand mode without vLLM: reading the live manifest (TTL, ETag, failures) and the gate that
serves an adapter only at the version the manifest names."""
import asyncio
import json
import os
import shutil

import boto3
import pytest
from botocore.config import Config

from loraplane_serving.launch import ServeOptions, command, sagemaker_options
from loraplane_core.adapters.validation import sha256_file
from loraplane_serving.live import LiveGate, NotLive, VersionMismatch
from loraplane_serving.manifest import LiveManifest, ManifestUnavailable

from .test_serving_parts import CountingSource, make_cache

SHA_A, SHA_B = "a" * 64, "B" * 64
BUCKET = "live-bucket"  # removed after each test: moto's backends are shared with the session's emulator


def doc(**adapters) -> str:
    return json.dumps({"format": 1, "updated_at": "2026-11-28T21:00:00Z",
                       "adapters": {n: {"sha256": s, "version": 1, "package_arn": "arn:x", "base_model": "tiny-llama"}
                                    for n, s in adapters.items()}})


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


# -- reading -----------------------------------------------------------------------------------
def test_local_file_is_cached_for_the_ttl(tmp_path, clock):
    path = tmp_path / "manifest.json"
    path.write_text(doc(a=SHA_A))
    m = LiveManifest(str(path), ttl=5, clock=clock)
    assert m.get().adapters["a"].sha256 == SHA_A
    path.write_text(doc(b=SHA_B))
    clock.now = 4.9
    assert set(m.get().adapters) == {"a"}  # within the TTL: not re-read
    clock.now = 5.0
    assert set(m.get().adapters) == {"b"} and m.get().adapters["b"].sha256 == SHA_B.lower()


@pytest.mark.parametrize("content", [
    b"{not json", b"\xff{", json.dumps({"format": 2, "adapters": {}}).encode(),
    json.dumps({"format": 1, "adapters": {"a": {"sha256": "short"}}}).encode(), b'{"format": 1}', b"[]",
])
def test_malformed_manifest_serves_nothing(tmp_path, clock, content):
    path = tmp_path / "manifest.json"
    path.write_text(doc(a=SHA_A))
    m = LiveManifest(str(path), ttl=1, clock=clock)
    assert "a" in m.get().adapters
    path.write_bytes(content)
    clock.now = 1
    assert m.get().adapters == {}  # a bad publish retires everything rather than guessing


def test_missing_file_serves_nothing_and_other_errors_keep_the_last_good(tmp_path, clock):
    path = tmp_path / "manifest.json"
    m = LiveManifest(str(path), ttl=1, clock=clock)
    assert m.get().adapters == {}  # no manifest at all: nothing is live
    path.write_text(doc(a=SHA_A))
    clock.now = 1
    assert "a" in m.get().adapters
    os.remove(path)
    os.mkdir(path)  # unreadable (IsADirectoryError), not gone
    clock.now = 2
    assert "a" in m.get().adapters
    os.rmdir(path)  # gone
    clock.now = 3
    assert m.get().adapters == {}


def test_first_read_failing_is_unavailable_not_empty(tmp_path, clock):
    os.mkdir(tmp_path / "manifest.json")
    m = LiveManifest(str(tmp_path / "manifest.json"), ttl=1, clock=clock)
    with pytest.raises(ManifestUnavailable):
        m.get()
    os.rmdir(tmp_path / "manifest.json")
    (tmp_path / "manifest.json").write_text(doc(a=SHA_A))
    with pytest.raises(ManifestUnavailable):
        m.get()  # retried after the TTL, not on every request
    clock.now = 1
    assert "a" in m.get().adapters


@pytest.fixture
def s3(in_process_aws):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=o["Key"])
    client.delete_bucket(Bucket=BUCKET)


def test_s3_manifest_etag_nosuchkey_and_network_errors(s3, clock):
    s3.put_object(Bucket="live-bucket", Key="live/manifest.json", Body=doc(a=SHA_A))
    m = LiveManifest("s3://live-bucket/live/manifest.json", ttl=5, client=s3, clock=clock)
    assert "a" in m.get().adapters
    clock.now = 5
    assert "a" in m.get().adapters and m._outcome == "not_modified"  # If-None-Match: 304, no body
    s3.put_object(Bucket="live-bucket", Key="live/manifest.json", Body=doc(a=SHA_B))
    clock.now = 10
    assert m.get().adapters["a"].sha256 == SHA_B.lower() and m._outcome == "read"
    # S3 unreachable: the last good manifest stays
    m._s3 = boto3.client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                         config=Config(retries={"max_attempts": 1}, connect_timeout=1))
    clock.now = 15
    assert "a" in m.get().adapters and m._outcome == "failed"
    # the object is gone: nothing is live
    m._s3 = s3
    s3.delete_object(Bucket="live-bucket", Key="live/manifest.json")
    clock.now = 20
    assert m.get().adapters == {} and m._outcome == "missing"


def test_concurrent_requests_share_one_reread(tmp_path, clock):
    path = tmp_path / "manifest.json"
    path.write_text(doc(a=SHA_A))
    m = LiveManifest(str(path), ttl=1, clock=clock)
    reads = []
    original = m._read
    m._read = lambda: reads.append(1) or original()

    async def burst():
        return await asyncio.gather(*(m.current() for _ in range(20)))

    assert all("a" in got.adapters for got in asyncio.run(burst()))
    assert len(reads) == 1


def test_from_env():
    assert LiveManifest.from_env({}) is None and LiveManifest.from_env({"LORAPLANE_ADAPTER_MANIFEST": ""}) is None
    m = LiveManifest.from_env({"LORAPLANE_ADAPTER_MANIFEST": "s3://b/live/manifest.json",
                               "LORAPLANE_MANIFEST_TTL_SECONDS": "1.5"})
    assert m.uri == "s3://b/live/manifest.json" and m.ttl == 1.5
    assert LiveManifest.from_env({"LORAPLANE_ADAPTER_MANIFEST": "/m.json"}).ttl == 5


def test_serve_options(tiny_base_dir):
    o = sagemaker_options({"SM_MODEL_DIR": tiny_base_dir, "LORAPLANE_ADAPTER_SOURCE": "s3://b/live/",
                           "LORAPLANE_ADAPTER_MANIFEST": "s3://b/live/manifest.json",
                           "LORAPLANE_MAX_MODEL_LEN": "2048"})
    assert o.adapter_manifest == "s3://b/live/manifest.json" and o.max_model_len == 2048
    argv, env = command(o)
    assert env["LORAPLANE_ADAPTER_MANIFEST"] == "s3://b/live/manifest.json" and "2048" in argv
    assert command(ServeOptions(model_dir=tiny_base_dir))[1]["LORAPLANE_ADAPTER_MANIFEST"] == ""  # off
    assert sagemaker_options({"SM_MODEL_DIR": tiny_base_dir}).adapter_manifest is None


# -- the gate ------------------------------------------------------------------------------------
@pytest.fixture
def live(tmp_path, adapter_cache, base_profile, clock):
    """A live prefix (local), its manifest and a gate over a cache of it."""
    root = tmp_path / "live"
    for name, seed in (("a", 50), ("b", 51), ("unlisted", 52)):
        shutil.copytree(adapter_cache(seed=seed), root / name)
    source = CountingSource(str(root))
    path = tmp_path / "manifest.json"

    def publish(**names):  # name -> the folder whose weights the manifest names
        path.write_text(doc(**{n: sha256_file(os.path.join(d, "adapter_model.safetensors")) for n, d in names.items()}))
        clock.now += 1

    publish(a=root / "a", b=root / "b")
    cache = make_cache(tmp_path, source, base_profile, 4)
    gate = LiveGate(cache, LiveManifest(str(path), ttl=1, clock=clock), clock=clock)
    return gate, source, publish, root


def fetches(source, name):
    return source.downloads.count((name, "adapter_model.safetensors"))


def test_gate_serves_live_and_refuses_the_rest(live):
    gate, source, publish, root = live
    entry, hit = asyncio.run(gate.get("a"))
    assert not hit and asyncio.run(gate.get("a"))[1]
    with pytest.raises(NotLive):
        asyncio.run(gate.get("unlisted"))  # under the live prefix, but not live
    assert fetches(source, "unlisted") == 0
    publish(b=root / "b")  # a retired
    with pytest.raises(NotLive):
        asyncio.run(gate.get("a"))
    assert gate.cache.resident() == [] and gate.cache.take_retired(lambda n: False) == [("a", entry.path)]


def test_gate_follows_a_new_version(live, adapter_cache):
    gate, source, publish, root = live
    old, _ = asyncio.run(gate.get("a"))
    shutil.copytree(adapter_cache(seed=60), root / "a", dirs_exist_ok=True)  # version 2 published
    publish(a=root / "a", b=root / "b")
    new, hit = asyncio.run(gate.get("a"))
    assert not hit and new.adapter.sha256 != old.adapter.sha256 and fetches(source, "a") == 2
    assert asyncio.run(gate.get("a")) == (new, True)


def test_gate_mismatch_refetches_once_then_503_for_a_ttl(live, adapter_cache, clock):
    gate, source, publish, root = live
    publish(a=root / "b", b=root / "b")  # the manifest names weights that are not under live/a/
    with pytest.raises(VersionMismatch):
        asyncio.run(gate.get("a"))
    assert fetches(source, "a") == 2 and gate.cache.resident() == []
    with pytest.raises(VersionMismatch):
        asyncio.run(gate.get("a"))
    assert fetches(source, "a") == 2  # remembered for a TTL
    shutil.copytree(root / "b", root / "a", dirs_exist_ok=True)  # the publish completes
    clock.now += 1
    entry, _ = asyncio.run(gate.get("a"))
    assert entry.adapter.sha256 == gate.manifest.get().adapters["a"].sha256


def test_gate_registered_adapters_bypass_the_manifest(live, adapter_cache):
    gate, source, publish, root = live
    gate.cache.sources["ic"] = CountingSource(str(root))  # as POST /adapters registers it
    shutil.copytree(adapter_cache(seed=53), root / "ic")
    entry, _ = asyncio.run(gate.get("ic"))
    assert entry.name == "ic"
