"""What the serving benchmarks share: start a server (ours or bare vLLM) on a free port and wait
for it, send one completion and time it. No server outlives the script (atexit)."""
import atexit
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from loraplane.emulator.local_aws import free_port

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


def serve_ours(base: str, source: str, extra: list[str], env: dict, log: str):
    return start([str(BIN / "loraplane"), "serve", "--model", base, "--max-lora-rank", "16", "--max-model-len", "256",
                  "--adapter-source", source, *extra], env, log)


def complete(url: str, model: str, tokens: int = 16, session=requests) -> float:
    t0 = time.perf_counter()
    r = session.post(url + "/v1/completions", json={"model": model, "prompt": PROMPT, "max_tokens": tokens,
                                                    "min_tokens": tokens, "temperature": 0}, timeout=120)
    assert r.status_code == 200, r.text
    return time.perf_counter() - t0


def run_round(url: str, models: list[str], clients: int, tokens: int = 16) -> tuple[float, list[float]]:
    """(tokens/s, per-request latencies) of `models` (one request each), sent by `clients` threads, each
    with its own connection, each sending its next request as soon as its previous one is answered."""
    sessions = threading.local()

    def one(model: str) -> float:
        if not hasattr(sessions, "s"):
            sessions.s = requests.Session()
        return complete(url, model, tokens, sessions.s)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(one, models))
    return len(models) * tokens / (time.perf_counter() - t0), latencies
