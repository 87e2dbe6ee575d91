"""The serving cache's fetch path without vLLM: S3 objects streamed once (one GET, or ranged GETs
above the threshold, never a HEAD), the adapter validated from what was streamed, and on-demand
mode's prefetch of live adapters within the disk budget."""
import asyncio
import os
import shutil
import threading
from collections import Counter

import boto3
import pytest

from loraplane_core.adapters.archive import build_adapter_archive
from loraplane_core.adapters.upload_layout import ARCHIVE_FILE, CONFIG_FILE, WEIGHTS_FILE
from loraplane_core.adapters.validation import Policy, sha256_file
from loraplane_serving import transfer
from loraplane_serving.cache import AdapterCache, NoRoom
from loraplane_serving.prefetch import APPROVALS_PER_READ, Prefetcher, due, is_bulk, spare_for
from loraplane_serving.runtime import prefetch_concurrency
from loraplane_serving.sources import S3Source
from loraplane_serving.transfer import RangedGets, stream_object

from loraplane_serving.live import LiveGate
from loraplane_serving.manifest import LiveManifest

from .test_manifest import Clock, doc
from .test_serving_parts import CountingSource, make_cache

SMALL_RANGES = RangedGets(threshold=4096, part=1024, concurrency=3, parts_in_memory=2)


class Sink:
    def __init__(self):
        self.data = bytearray()

    def write(self, data):
        self.data += data
        return len(data)


@pytest.fixture
def s3(in_process_aws):
    """A fresh bucket in in-process moto, and the S3 calls its client makes (name, Range, If-Match)."""
    client = boto3.client("s3", region_name="us-east-1")
    bucket = f"fetch-{in_process_aws}"
    client.create_bucket(Bucket=bucket)
    calls: list[tuple[str, str | None, str | None]] = []
    client.meta.events.register("before-call.s3.*", lambda model, params, **_: calls.append(
        (model.name, params["headers"].get("Range"), params["headers"].get("If-Match"))))
    yield client, bucket, calls
    for o in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=o["Key"])
    client.delete_bucket(Bucket=bucket)


def listed(client, bucket, key) -> tuple[int, str]:
    o = client.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"][0]
    return o["Size"], o["ETag"].strip('"')


# -- transfer ------------------------------------------------------------------------------------
def test_small_objects_are_one_get_large_ones_ranged_gets_and_never_a_head(s3):
    client, bucket, calls = s3
    data = os.urandom(10_000)
    client.put_object(Bucket=bucket, Key="big", Body=data)
    client.put_object(Bucket=bucket, Key="small", Body=data[:100])
    size, etag = listed(client, bucket, "big")
    calls.clear()
    sink = Sink()
    stream_object(client, bucket, "big", size, etag, sink, SMALL_RANGES)
    assert bytes(sink.data) == data
    assert [c[0] for c in calls] == ["GetObject"] * 10 and all(c[2] == etag for c in calls)
    assert sorted(c[1] for c in calls)[0] == "bytes=0-1023"
    calls.clear()
    sink = Sink()
    stream_object(client, bucket, "small", *listed(client, bucket, "small"), sink, SMALL_RANGES)
    assert bytes(sink.data) == data[:100]
    assert [c[0] for c in calls] == ["ListObjectsV2", "GetObject"] and calls[1][1] is None and calls[1][2]


@pytest.mark.parametrize("ranged", [SMALL_RANGES, RangedGets()], ids=["ranged", "one-get"])
def test_an_object_replaced_after_the_listing_is_not_read(s3, ranged):
    client, bucket, _ = s3
    client.put_object(Bucket=bucket, Key="k", Body=b"a" * 5000)
    size, etag = listed(client, bucket, "k")
    client.put_object(Bucket=bucket, Key="k", Body=b"b" * 5000)
    sink = Sink()
    with pytest.raises(Exception) as e:  # a failed fetch (503), retried by the next request
        stream_object(client, bucket, "k", size, etag, sink, ranged)
    assert "PreconditionFailed" in str(e.value) or "ETag" in str(e.value)
    assert b"b" not in sink.data


# -- the cache over S3 ---------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["loose", "archive"])
@pytest.mark.parametrize("ranged", [SMALL_RANGES, RangedGets()], ids=["ranged", "one-get"])
def test_cache_fetches_from_s3_in_one_pass(s3, tmp_path, adapter_cache, base_profile, monkeypatch, layout, ranged):
    client, bucket, calls = s3
    monkeypatch.setattr(transfer, "DEFAULT", ranged)
    src = adapter_cache(seed=40)
    if layout == "loose":
        for f in (CONFIG_FILE, WEIGHTS_FILE):
            client.upload_file(os.path.join(src, f), bucket, f"adapters/a/{f}")
    else:
        build_adapter_archive(src, str(tmp_path / ARCHIVE_FILE))
        client.upload_file(str(tmp_path / ARCHIVE_FILE), bucket, f"adapters/a/{ARCHIVE_FILE}")
    cache = AdapterCache(S3Source(f"s3://{bucket}/adapters/", client=client), str(tmp_path / "cache"), 10 ** 7,
                         base_profile, Policy(max_rank=16))
    calls.clear()
    entry, hit = asyncio.run(cache.get("a"))
    assert not hit and entry.adapter.sha256 == sha256_file(os.path.join(src, WEIGHTS_FILE))
    assert sorted(os.listdir(entry.path)) == [CONFIG_FILE, WEIGHTS_FILE]  # the folder the engine loads
    for f in (CONFIG_FILE, WEIGHTS_FILE):
        with open(os.path.join(src, f), "rb") as a, open(os.path.join(entry.path, f), "rb") as b:
            assert a.read() == b.read()
    assert os.listdir(tmp_path / "cache" / ".staging") == []  # no archive or partial copy left
    names = Counter(c[0] for c in calls)
    assert names["ListObjectsV2"] == 1 and "HeadObject" not in names
    assert (names["GetObject"] > 2) == (ranged is SMALL_RANGES)


# -- prefetch room ------------------------------------------------------------------------------
class GatedListing(CountingSource):
    """Listings wait until the test opens the gate."""

    def __init__(self, root):
        super().__init__(root)
        self.gate = threading.Event()

    def list_files(self, name):
        self.gate.wait(10)
        return super().list_files(name)


def test_a_prefetch_takes_only_the_room_it_may_and_a_request_joining_it_still_fetches(tmp_path, library, base_profile):
    source = GatedListing(library.root)
    source.gate.set()
    cache = make_cache(tmp_path, source, base_profile, 2)
    asyncio.run(cache.get("a")), asyncio.run(cache.get("b"))
    everything = lambda name: True  # noqa: E731
    with pytest.raises(NoRoom):
        asyncio.run(cache.get("c", spare=everything))
    assert source.downloads.count(("c", WEIGHTS_FILE)) == 0 and list(cache.evicted) == []  # refused after the listing
    entry, _ = asyncio.run(cache.get("c", spare=lambda name: name == "a"))  # b is idle: it may go
    assert list(cache.evicted) == ["b"] and set(cache.resident()) == {"a", "c"}
    source.gate.clear()

    async def joined():
        prefetch = asyncio.create_task(cache.get("b", spare=everything))
        await asyncio.sleep(0.05)
        request = asyncio.create_task(cache.get("b"))  # joins the prefetch's fetch
        await asyncio.sleep(0.05)
        source.gate.set()
        with pytest.raises(NoRoom):
            await prefetch
        return await request

    entry, hit = asyncio.run(joined())
    assert not hit and "b" in cache.resident()


@pytest.fixture
def library(tmp_path, adapter_cache):
    root = tmp_path / "library"
    for i, name in enumerate(["a", "b", "c"]):
        shutil.copytree(adapter_cache(seed=50 + i), root / name)
    return CountingSource(str(root))


# -- the prefetcher ------------------------------------------------------------------------------
@pytest.fixture
def approvals(tmp_path, adapter_cache, base_profile):
    """A live prefix (local) with adapters a, b (live) and unlisted, its manifest, a gate over a
    cache of it, and publish(name=folder, ...) to write the manifest as an approval does."""
    root, path, clock = tmp_path / "live", tmp_path / "manifest.json", Clock()
    for name, seed in (("a", 50), ("b", 51), ("unlisted", 52)):
        shutil.copytree(adapter_cache(seed=seed), root / name)
    source = CountingSource(str(root))

    def publish(**names):  # name -> the folder whose weights the manifest names
        path.write_text(doc(**{n: sha256_file(os.path.join(d, WEIGHTS_FILE)) for n, d in names.items()}))
        clock.now += 1  # past the manifest's TTL

    publish(a=root / "a", b=root / "b")
    gate = LiveGate(make_cache(tmp_path, source, base_profile, 4), LiveManifest(str(path), ttl=1, clock=clock),
                    clock=clock)
    return gate, source, publish, root


class Host:
    """What the middleware gives the prefetcher: uses, engine loads, clean-up."""

    def __init__(self):
        self.in_flight: Counter[str] = Counter()
        self.loaded: list[str] = []
        self.engine_room = False

    def prefetcher(self, gate, concurrency=2) -> Prefetcher:
        return Prefetcher(gate, hold=self.hold, release=self.release, in_use=lambda n: self.in_flight[n] > 0,
                          load=self.load, tidy=self.tidy, concurrency=concurrency)

    def hold(self, name):
        self.in_flight[name] += 1

    def release(self, name):
        self.in_flight[name] -= 1

    async def load(self, name, folder):
        if self.engine_room:
            self.loaded.append(name)
        return self.engine_room

    async def tidy(self):
        pass


def fetches(source, name):
    return source.downloads.count((name, WEIGHTS_FILE))


def test_live_adapters_are_fetched_before_any_request_and_again_when_their_version_changes(approvals, adapter_cache):
    gate, source, publish, root = approvals
    host = Host()
    prefetcher = host.prefetcher(gate)
    assert asyncio.run(prefetcher.run_once()) == {"a": "fetched", "b": "fetched"}  # not "unlisted"
    assert fetches(source, "unlisted") == 0 and not +host.in_flight
    entry, hit = asyncio.run(gate.get("a"))
    assert hit and fetches(source, "a") == 1  # the first request pays nothing
    assert asyncio.run(prefetcher.run_once()) == {}  # nothing new
    shutil.copytree(adapter_cache(seed=60), root / "a", dirs_exist_ok=True)  # version 2 approved
    publish(a=root / "a", b=root / "b")
    host.engine_room = True
    assert asyncio.run(prefetcher.run_once()) == {"a": "loaded"}
    assert host.loaded == ["a"] and fetches(source, "a") == 2
    new, hit = asyncio.run(gate.get("a"))
    assert hit and new.adapter.sha256 != entry.adapter.sha256
    publish(b=root / "b")  # a retired: forgotten, so a later re-approval is fetched again
    asyncio.run(prefetcher.run_once())
    assert prefetcher.seen == {"b": gate.manifest.get().adapters["b"].sha256}


def test_start_up_fills_free_room_only_and_later_approvals_spare_what_is_in_use(approvals, adapter_cache, tmp_path,
                                                                                 base_profile):
    gate, source, publish, root = approvals
    gate.cache = make_cache(tmp_path / "small", source, base_profile, 1)  # room for one adapter
    host = Host()
    prefetcher = host.prefetcher(gate, concurrency=1)
    assert asyncio.run(prefetcher.run_once()) == {"a": "fetched", "b": "no_room"}
    assert fetches(source, "b") == 0 and list(gate.cache.evicted) == []
    assert asyncio.run(prefetcher.run_once()) == {}  # b is not tried again every pass
    shutil.copytree(adapter_cache(seed=61), root / "c")
    host.hold("a")  # a request is using a
    publish(a=root / "a", b=root / "b", c=root / "c")
    assert asyncio.run(prefetcher.run_once()) == {"c": "no_room"}  # a is in use: c waits for its request
    assert gate.cache.resident() == ["a"]
    host.release("a")
    shutil.copytree(adapter_cache(seed=62), root / "c", dirs_exist_ok=True)
    publish(a=root / "a", b=root / "b", c=root / "c")  # a new version of c, a idle now
    assert asyncio.run(prefetcher.run_once()) == {"c": "fetched"}
    assert gate.cache.resident() == ["c"] and list(gate.cache.evicted) == ["a"]


def test_many_new_versions_at_once_only_fill_free_room(approvals, adapter_cache):
    gate, source, publish, root = approvals
    prefetcher = Host().prefetcher(gate)
    asyncio.run(prefetcher.run_once())  # a and b: the cache holds 4
    more = {f"n{i}": root / f"n{i}" for i in range(APPROVALS_PER_READ + 1)}  # e.g. a restored manifest
    for i, folder in enumerate(more.values()):
        shutil.copytree(adapter_cache(seed=70 + i), folder)
    publish(a=root / "a", b=root / "b", **more)
    outcomes = asyncio.run(prefetcher.run_once())
    assert sorted(outcomes.values()).count("fetched") == 2 and "no_room" in outcomes.values()
    # nothing resident was evicted (a prefetch that lost the last room to the other one yields its own)
    assert set(gate.cache.evicted) <= set(more) and {"a", "b"} <= set(gate.cache.resident())
    assert len(gate.cache.resident()) == 4
    assert asyncio.run(prefetcher.run_once()) == {}  # the rest are left to their first requests


def test_a_failed_prefetch_is_left_to_the_first_request(approvals, adapter_cache):
    gate, source, publish, root = approvals
    shutil.copytree(adapter_cache(seed=63, rank=32), root / "bad")  # rank above the limit
    publish(a=root / "a", bad=root / "bad")
    prefetcher = Host().prefetcher(gate)
    assert asyncio.run(prefetcher.run_once()) == {"a": "fetched", "bad": "failed"}
    assert asyncio.run(prefetcher.run_once()) == {}


def test_decisions():
    assert due({"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "0"}) == ["b", "c"]
    assert spare_for(True, lambda n: False)("x") and not spare_for(False, lambda n: False)("x")
    assert is_bulk(True, 1) and is_bulk(False, APPROVALS_PER_READ + 1) and not is_bulk(False, APPROVALS_PER_READ)
    assert [prefetch_concurrency(t) for t in (None, "", "0", "4", "16", "17", "-1", "x", "١")] == \
        [2, 2, 0, 4, 16, 2, 2, 2, 2]
