"""One real serving process per test session: `loraplane serve` (vLLM on the CPU) with a tiny
Llama-style model, adapters in S3 (the embedded emulator), a small disk cache and one pinned adapter.
test_live_manifest.py starts a second one (on-demand mode) for its module with `run_server`."""
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import requests
import torch
from safetensors.torch import load_file

from loraplane.emulator.local_aws import free_port
from loraplane.waiting import wait_until

BIN = Path(sys.executable).parent
BUCKET = "serving-adapters"
PROMPT = [322, 380, 364]  # token ids of "Hello world" in the tiny tokenizer
NEW_TOKENS = 8
ADAPTERS = {f"bot-{i}": 60 + i for i in range(1, 7)} | {"pinned-bot": 60, "cold-bot": 70, "flaky-bot": 71}


class S3Gets:
    """Counts GetObject requests per key at the emulated S3 itself (this module's buckets, serving-*),
    and can make a key fail."""

    def __init__(self):
        self.counts: Counter[str] = Counter()
        self.failing: set[str] = set()

    def install(self):
        from moto.s3.responses import S3Response

        original = S3Response.get_object
        gets = self

        def get_object(response):
            key = response.parse_key_name()
            if response.bucket_name.startswith("serving-"):
                gets.counts[key] += 1
                if key in gets.failing:
                    return 500, {}, b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
            return original(response)

        S3Response.get_object = get_object
        return self


@pytest.fixture(scope="session")
def s3_gets(stack) -> S3Gets:
    return S3Gets().install()


@pytest.fixture(scope="session")
def adapter_dirs(adapter_cache, tmp_path_factory) -> dict[str, str]:
    dirs = {name: adapter_cache(seed=seed) for name, seed in ADAPTERS.items()}
    dirs["invalid-rank"] = adapter_cache(rank=32)
    pickled = tmp_path_factory.mktemp("pickled") / "pickled"
    shutil.copytree(adapter_cache(seed=80), pickled)
    torch.save(load_file(pickled / "adapter_model.safetensors"), pickled / "adapter_model.bin")
    os.remove(pickled / "adapter_model.safetensors")
    dirs["pickled"] = str(pickled)
    return dirs


@pytest.fixture(scope="session")
def s3_library(stack, adapter_dirs, s3_gets) -> str:
    s3 = stack.emulator.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for name, folder in adapter_dirs.items():
        for f in os.listdir(folder):
            s3.upload_file(os.path.join(folder, f), BUCKET, f"adapters/{name}/{f}")
    return f"s3://{BUCKET}/adapters/"


class Server:
    def __init__(self, url: str, log: Path):
        self.url, self.log = url, log

    def post(self, path: str, body=None, headers=None, raw: bytes | None = None, **kw) -> requests.Response:
        return requests.post(self.url + path, json=body if raw is None else None, data=raw,
                             headers={"content-type": "application/json", **(headers or {})}, timeout=120, **kw)

    def tokens(self, model: str | None = None, headers=None, path="/v1/completions") -> list[int]:
        body = {"prompt": PROMPT, "max_tokens": NEW_TOKENS, "temperature": 0, "return_token_ids": True}
        if model:
            body["model"] = model
        r = self.post(path, body, headers)
        assert r.status_code == 200, r.text
        return r.json()["choices"][0]["token_ids"]

    def metrics(self) -> str:
        return requests.get(self.url + "/metrics", timeout=30).text


def run_server(args: list[str], env: dict[str, str], log: Path):
    """`loraplane serve` on a free port with these extra arguments; yields a Server once it answers
    /ping; afterwards the server and every process it started (its own group) are gone."""
    port = free_port()
    cmd = [str(BIN / "loraplane"), "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert proc.poll() is None, f"server exited:\n{log.read_text()[-5000:]}"
        try:
            return requests.get(url + "/ping", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_until(answers, timeout=300, interval=1, what=f"{url}/ping", seen=lambda _: log.read_text()[-2000:])
        yield Server(url, log)
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's group, SIGKILL after 60 s; asserts that nothing of it is left."""
    def group_gone() -> bool:
        proc.poll()
        try:
            os.killpg(proc.pid, 0)
            return False
        except ProcessLookupError:
            return True

    for sig, grace in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        if group_gone():
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            wait_until(group_gone, timeout=grace, interval=0.1, what=f"the server's processes (group {proc.pid}) to end")
        except TimeoutError:
            continue
    assert group_gone(), f"the server's processes (group {proc.pid}) outlived it"


@pytest.fixture(scope="session")
def server(tiny_base_dir, s3_library, stack, adapter_dirs, tmp_path_factory) -> Server:
    one_adapter = sum(os.path.getsize(os.path.join(adapter_dirs["bot-1"], f))
                      for f in ("adapter_config.json", "adapter_model.safetensors"))
    args = ["--base-model-dir", tiny_base_dir, "--adapter-source", s3_library, "--max-loras", "2",
            "--max-cpu-loras", "3",
            "--max-lora-rank", "16", "--disk-cache", str(int(one_adapter * 4.5)), "--pin", "pinned-bot",
            "--max-model-len", "256"]
    env = {**stack.emulator.environment(), "LORAPLANE_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    yield from run_server(args, env, tmp_path_factory.mktemp("serve") / "serve.log")


@pytest.fixture(scope="session")
def peft_tokens(tiny_base_dir):
    """Greedy tokens of the base model, or of the base with an adapter, computed by PEFT in float32."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    cache: dict[str | None, list[int]] = {}

    def generate(adapter_dir: str | None) -> list[int]:
        if adapter_dir not in cache:
            model = AutoModelForCausalLM.from_pretrained(tiny_base_dir, dtype=torch.float32)
            if adapter_dir:
                model = PeftModel.from_pretrained(model, adapter_dir)
            ids = torch.tensor([PROMPT])
            out = model.generate(input_ids=ids, max_new_tokens=NEW_TOKENS, do_sample=False, min_new_tokens=NEW_TOKENS)
            cache[adapter_dir] = out[0, len(PROMPT):].tolist()
        return cache[adapter_dir]

    return generate
