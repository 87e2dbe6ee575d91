"""The serving container's own parts, without vLLM: request shapes, budgets, the adapter cache."""
import asyncio
import os
import shutil

import pytest

from loraplane_core.adapters.reasons import AdapterRejected, Reason
from loraplane_core.adapters.validation import Policy
from loraplane_serving.budgets import Slots, parse_bytes, plan, slot_bytes
from loraplane_serving.cache import AdapterCache, AdapterNotFound
from loraplane_serving.shapes import BadRequest, adapter_from_custom_attributes, normalize, tgi_response
from loraplane_serving.sources import LocalSource


# -- shapes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("headers,body,expected", [
    ({"x-amzn-sagemaker-adapter-identifier": "a"}, {"prompt": "x", "model": "b"}, "a"),
    ({"x-amzn-sagemaker-custom-attributes": "trace=1; adapter=c"}, {"prompt": "x"}, "c"),
    ({}, {"prompt": "x", "model": "d"}, "d"),
    ({}, {"inputs": "x", "parameters": {"adapter_id": "e"}}, "e"),
    ({}, {"inputs": "x"}, None),
    ({}, {"prompt": "x", "model": "base"}, None),
])
def test_adapter_selection(headers, body, expected):
    openai, adapter, _ = normalize(body, headers, "base")
    assert adapter == expected and openai["model"] == (expected or "base")


def test_tgi_translation():
    openai, _, tgi = normalize({"inputs": "Hi", "parameters": {"max_new_tokens": 5, "stop": ["."], "seed": 3}}, {}, "base")
    assert tgi and openai == {"prompt": "Hi", "max_tokens": 5, "temperature": 0.0, "stream": False, "stop": ["."],
                              "seed": 3, "model": "base"}
    sampled, _, _ = normalize({"inputs": "Hi", "parameters": {"do_sample": True, "temperature": 0.7}}, {}, "base")
    assert sampled["temperature"] == 0.7
    out = tgi_response({"choices": [{"text": " there", "finish_reason": "length"}], "usage": {"completion_tokens": 1}}, "Hi", True)
    assert out[0]["generated_text"] == "Hi there" and out[0]["details"]["generated_tokens"] == 1


@pytest.mark.parametrize("body", [{"inputs": ["a", "b"]}, {"inputs": "x", "parameters": [1]}, {"prompt": "x", "model": 3}])
def test_bad_bodies(body):
    with pytest.raises(BadRequest):
        normalize(body, {}, "base")


def test_custom_attributes_parsing():
    assert adapter_from_custom_attributes("adapter=x") == "x"
    assert adapter_from_custom_attributes("a=1,adapter= y ") == "y"
    assert adapter_from_custom_attributes("adapterx=1") is None and adapter_from_custom_attributes(None) is None


# -- budgets ---------------------------------------------------------------------------------
def test_budget_formula(base_profile):
    # 2 layers x (q 64+64, k 64+32, v 64+32, o 64+64, gate 64+128, up 64+128, down 128+64) = 2 x 1024
    assert slot_bytes(base_profile, 8, "float32") == 2 * 1024 * 8 * 4
    slots = plan(base_profile, 8, "float32", gpu_bytes=3 * 65536 + 10, cpu_bytes=10 * 65536)
    assert (slots.gpu, slots.cpu) == (3, 10)
    assert plan(base_profile, 8, "float32", gpu_slots=5, cpu_slots=2).cpu == 5  # never below the GPU tier
    assert plan(base_profile, 8, "float32", gpu_bytes=65536, cpu_slots=7) == Slots(1, 7, 65536)  # budget and count mix


def test_default_budgets_are_shares_of_the_memory_there_is(base_profile):
    size = slot_bytes(base_profile, 8, "float32")  # 64 KiB
    # 5% of 4 GiB = 3,276 slots: capped at 32; 10% of 2 GiB = 3,276 CPU entries
    assert plan(base_profile, 8, "float32", device_memory=4 * 2**30, host_memory=2 * 2**30) == Slots(32, 3276, size)
    # a small accelerator: 5% of 10 MiB = 8 slots, and the CPU tier never below them
    assert plan(base_profile, 8, "float32", device_memory=10 * 2**20, host_memory=2**20) == Slots(8, 8, size)
    assert plan(base_profile, 8, "float32") == Slots(4, 16, size)  # memory unknown
    assert plan(base_profile, 8, "float32", device_memory=2**20, host_memory=2**20).gpu == 1  # never 0


@pytest.mark.parametrize("extra, tp", [((), 1), (("--tensor-parallel-size", "4"), 4), (("-tp", "2"), 2),
                                       (("--tensor-parallel-size=8",), 8), (("--tensor-parallel-size", "x"), 1)])
def test_tensor_parallel_workers_share_the_host_memory(tiny_base_dir, monkeypatch, extra, tp):
    """Every tensor-parallel worker keeps its own CPU tier: the host's share is divided among them."""
    from loraplane_serving import launch

    monkeypatch.setattr(launch, "_gpu_memory", lambda: 0)
    monkeypatch.setattr(launch, "_host_memory", lambda: 2**30)
    argv, _ = launch.command(launch.ServeOptions(model_dir=tiny_base_dir, max_lora_rank=8, extra=extra))
    size = 2 * 1024 * 8 * 4  # float32 on the CPU backend
    assert int(argv[argv.index("--max-cpu-loras") + 1]) == int(2**30 // tp * 0.10) // size


def test_budget_units():
    assert parse_bytes("2GiB") == 2 * 2**30 and parse_bytes("1.5MB") == 1_500_000 and parse_bytes("42") == 42


# -- cache -----------------------------------------------------------------------------------
class CountingSource(LocalSource):
    def __init__(self, root):
        super().__init__(root)
        self.downloads: list[tuple[str, str]] = []

    def stream(self, name, filename, sink):
        self.downloads.append((name, filename))
        super().stream(name, filename, sink)


@pytest.fixture
def library(tmp_path, adapter_cache):
    root = tmp_path / "library"
    for i, name in enumerate(["a", "b", "c", "d"]):
        shutil.copytree(adapter_cache(seed=50 + i), root / name)
    shutil.copytree(adapter_cache(rank=32), root / "too-big")
    return CountingSource(str(root))


def make_cache(tmp_path, source, base, adapters_fitting: int, pinned=()):
    one = sum(source.list_files("a")[f] for f in ("adapter_config.json", "adapter_model.safetensors"))
    return AdapterCache(source, str(tmp_path / "cache"), one * adapters_fitting + one // 2, base,
                        Policy(max_rank=16, max_bytes=10**7), pinned=frozenset(pinned))


def test_concurrent_gets_fetch_once(tmp_path, library, base_profile):
    cache = make_cache(tmp_path, library, base_profile, 4)

    async def burst():
        return await asyncio.gather(*(cache.get("a") for _ in range(10)))

    results = asyncio.run(burst())
    assert library.downloads.count(("a", "adapter_model.safetensors")) == 1
    assert len({entry.path for entry, _ in results}) == 1 and sum(hit for _, hit in results) == 0


def test_lru_eviction_spares_pinned(tmp_path, library, base_profile):
    cache = make_cache(tmp_path, library, base_profile, 2, pinned=["a"])
    for name in ["a", "b", "c", "b", "d"]:
        asyncio.run(cache.get(name))
    # room for two: c evicts b (a is pinned), b's return evicts c, d evicts b again
    assert list(cache.evicted) == ["b", "c", "b"]
    assert set(cache.resident()) == {"a", "d"}
    assert library.downloads.count(("b", "adapter_model.safetensors")) == 2
    asyncio.run(cache.get("a"))
    assert library.downloads.count(("a", "adapter_model.safetensors")) == 1  # pinned: never re-fetched


def test_evicted_folders_wait_until_released(tmp_path, library, base_profile):
    cache = make_cache(tmp_path, library, base_profile, 1)
    first, _ = asyncio.run(cache.get("b"))
    asyncio.run(cache.get("c"))  # evicts b from the index...
    assert cache.resident() == ["c"] and os.path.exists(first.path)  # ...but not from disk
    assert cache.take_retired(lambda name: name == "b") == []  # b still in use
    assert cache.take_retired(lambda name: False) == [("b", first.path)]
    again, hit = asyncio.run(cache.get("b"))
    assert not hit and again.path != first.path


def test_errors(tmp_path, library, base_profile):
    cache = make_cache(tmp_path, library, base_profile, 4)
    with pytest.raises(AdapterNotFound):
        asyncio.run(cache.get("missing"))
    with pytest.raises(AdapterRejected) as e:
        asyncio.run(cache.get("too-big"))
    assert e.value.reason == Reason.RANK_TOO_HIGH and cache.resident() == []
    with pytest.raises(AdapterRejected) as e:
        asyncio.run(cache.get("../a"))
    assert e.value.reason == Reason.INVALID_ADAPTER_NAME


class GatedSource(CountingSource):
    """Downloads wait until the test opens the gate."""

    def __init__(self, root):
        super().__init__(root)
        import threading

        self.gate = threading.Event()

    def stream(self, name, filename, sink):
        self.gate.wait(10)
        super().stream(name, filename, sink)


def test_forget_during_fetch_and_cancelled_waiters(tmp_path, library, base_profile):
    source = GatedSource(library.root)
    cache = make_cache(tmp_path, source, base_profile, 4)

    async def scenario():
        first = asyncio.create_task(cache.get("a"))
        second = asyncio.create_task(cache.get("a"))
        await asyncio.sleep(0.05)
        first.cancel()  # a client that went away does not cancel the shared fetch
        cache.forget("a")  # DELETE /adapters/a while it is being fetched
        source.gate.set()
        entry, hit = await second
        return first, entry, hit

    first, entry, hit = asyncio.run(scenario())
    assert first.cancelled() and not hit and os.path.exists(entry.path)
    assert cache.resident() == []  # the forgotten fetch landed as retired, not as resident
    assert cache.take_retired(lambda name: False) == [("a", entry.path)]
    assert source.downloads.count(("a", "adapter_model.safetensors")) == 1


def test_host_memory_reads_the_cgroup_limit_of_either_version(tmp_path):
    from loraplane_serving import launch

    machine = launch._host_memory(())
    v1, v2 = tmp_path / "memory.limit_in_bytes", tmp_path / "memory.max"
    v1.write_text(f"{2**30}\n")
    assert launch._host_memory((str(tmp_path / "absent"), str(v1))) == min(2**30, machine)  # cgroup v1
    v1.write_text("9223372036854771712\n")  # v1's "unlimited"
    assert launch._host_memory((str(v1),)) == machine
    v2.write_text("max\n")
    assert launch._host_memory((str(v2), str(tmp_path / "absent"))) == machine
    v2.write_text(f"{2**29}\n")
    assert launch._host_memory((str(v2), str(v1))) == min(2**29, machine)  # v2 first
