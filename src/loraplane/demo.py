"""`make demo`: the journey so far on the local stack, step by step, with timings.

A tiny base model is registered and approved; three adapters are uploaded to S3: one valid (it
becomes a model package version), one with a rank above MaxLoraRank and one with pickle-only
weights (both rejected, with their reasons). Re-uploading the valid one creates nothing new.
Then the serving container's server (vLLM on the CPU) serves the bucket's adapters on demand.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import requests

from . import local
from .adapters_list import collect, render
from .waiting import wait_until


class Steps:
    def __init__(self):
        self.t0 = time.perf_counter()

    def run(self, title: str, fn, *args, **kwargs):
        print(f"==> {title} ...", flush=True)
        t = time.perf_counter()
        result = fn(*args, **kwargs)
        print(f"    done in {time.perf_counter() - t:.1f}s", flush=True)
        return result


def upload_dir(s3, bucket: str, src: str, name: str, order: list[str]) -> None:
    for filename in order:
        s3.upload_file(os.path.join(src, filename), bucket, f"adapters/{name}/{filename}")


def build_adapters(base_dir: str, work: str) -> dict[str, str]:
    from .dev.tiny import build_tiny_adapter

    good = build_tiny_adapter(base_dir, os.path.join(work, "support-bot"), seed=1)
    big = build_tiny_adapter(base_dir, os.path.join(work, "big-rank"), seed=2, rank=32)
    pickled = os.path.join(work, "pickled")
    build_tiny_adapter(base_dir, pickled, seed=3)
    save_as_pickle(base_dir, pickled)
    return {"support-bot": good, "big-rank": big, "pickled": pickled}


def save_as_pickle(base_dir: str, adapter_dir: str) -> None:
    """Re-save an adapter the legacy way: adapter_model.bin (a torch pickle), no safetensors."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32), adapter_dir)
    os.remove(os.path.join(adapter_dir, "adapter_model.safetensors"))
    model.save_pretrained(adapter_dir, safe_serialization=False)


def serve_from_bucket(stack, bucket: str) -> dict:
    """Start `loraplane serve` on the bucket's adapters/ prefix and ask it the same question with and
    without the adapter, and for the rejected and an unknown adapter."""
    from .emulator.server import free_port

    port = free_port()
    log_path = os.path.join(local.home(), "demo-serve.log")
    cmd = [os.path.join(os.path.dirname(sys.executable), "loraplane"), "serve", "--model", local.tiny_base_model_dir(),
           "--adapter-source", f"s3://{bucket}/adapters/", "--host", "127.0.0.1", "--port", str(port),
           "--max-lora-rank", "16", "--max-model-len", "256"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **stack.emulator.environment()})
    url = f"http://127.0.0.1:{port}"
    try:
        def up():
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited; see {log_path}")
            try:
                return requests.get(url + "/ping", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(up, timeout=300, interval=1, what="the serving process")

        def ask(adapter: str | None):
            params = {"max_new_tokens": 8} | ({"adapter_id": adapter} if adapter else {})
            r = requests.post(url + "/invocations", json={"inputs": "Hello world", "parameters": params}, timeout=120)
            return r.status_code, r.json()

        return {name: ask(name) for name in (None, "support-bot", "big-rank", "no-such-adapter")}
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def run() -> int:
    steps = Steps()
    stack = steps.run("Start the embedded AWS emulator and deploy template.yaml into it", local.up)
    out = stack.outputs
    print(f"    stack outputs: bucket={out['AdapterBucketName']} adapters={out['AdapterModelPackageGroupName']}")
    s3, sm = stack.emulator.client("s3"), stack.emulator.client("sagemaker")
    table = stack.emulator.resource("dynamodb").Table(out["CatalogTableName"])
    work = tempfile.mkdtemp(prefix="loraplane-demo-")
    try:
        base_arn = steps.run("Build the tiny base model, register it and approve it", local.register_tiny_base, stack)
        print(f"    base model package: {base_arn}")
        adapters = steps.run("Build three PEFT adapters (one valid, rank 32 > MaxLoraRank 16, pickle-only)",
                             build_adapters, local.tiny_base_model_dir(), work)
        t_upload = time.perf_counter()
        steps.run("Upload them to S3 (files in any order)", lambda: [
            upload_dir(s3, out["AdapterBucketName"], adapters["support-bot"], "support-bot",
                       ["adapter_model.safetensors", "adapter_config.json"]),
            upload_dir(s3, out["AdapterBucketName"], adapters["big-rank"], "big-rank",
                       ["adapter_config.json", "adapter_model.safetensors"]),
            upload_dir(s3, out["AdapterBucketName"], adapters["pickled"], "pickled",
                       ["adapter_config.json", "adapter_model.bin"]),
        ])

        def outcomes():
            listed = {a["name"]: a for a in collect(table, sm)}
            done = (listed.get("support-bot", {}).get("versions") and listed.get("big-rank", {}).get("rejections")
                    and listed.get("pickled", {}).get("rejections"))
            return listed if done else None

        listed = steps.run("Wait for ingest: validate -> register -> record -> notify", wait_until, outcomes,
                           timeout=120, what="the three uploads to be registered or rejected")
        print(f"    all three outcomes {time.perf_counter() - t_upload:.1f}s after the first upload")
        steps.run("Re-upload the valid adapter's identical weights", upload_dir, s3, out["AdapterBucketName"],
                  adapters["support-bot"], "support-bot", ["adapter_model.safetensors"])
        time.sleep(3)
        packages = sm.list_model_packages(ModelPackageGroupName=out["AdapterModelPackageGroupName"])["ModelPackageSummaryList"]
        print("\n" + render(collect(table, sm), as_json=False) + "\n")
        answers = steps.run("Serve the bucket's adapters on demand (loraplane serve: vLLM on the CPU) and invoke",
                            serve_from_bucket, stack, out["AdapterBucketName"])
        for name, (status, body) in answers.items():
            shown = repr(body[0]["generated_text"]) if status == 200 else body["error"]["message"]
            print(f"    {name or 'base model':16s} -> {status} {shown}")
        served = (answers[None][0] == answers["support-bot"][0] == 200
                  and answers[None][1][0]["generated_text"] != answers["support-bot"][1][0]["generated_text"]
                  and answers["big-rank"][0] == 422 and answers["no-such-adapter"][0] == 404)
        ok = (len(packages) == 1 and listed["big-rank"]["rejections"][0]["reason"] == "RANK_TOO_HIGH"
              and listed["pickled"]["rejections"][0]["reason"] == "PICKLE_WEIGHTS" and served)
        print("Summary:")
        print(f"  model package versions in {out['AdapterModelPackageGroupName']}: {len(packages)} "
              f"(support-bot, {packages[0]['ModelApprovalStatus'] if packages else '-'}; the re-upload created none)")
        print(f"  rejected: big-rank ({listed['big-rank']['rejections'][0]['reason']}), "
              f"pickled ({listed['pickled']['rejections'][0]['reason']})")
        print(f"  served: support-bot answers differently from the base model; big-rank -> 422, unknown -> 404"
              f" ({'as expected' if served else 'NOT as expected'})")
        print(f"  total {time.perf_counter() - steps.t0:.1f}s - {'OK' if ok else 'UNEXPECTED RESULT'}")
        print("  Next: approvals in the registry deploy adapters to the SageMaker endpoint (registry-driven deployment).")
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        stack.emulator.stop()
