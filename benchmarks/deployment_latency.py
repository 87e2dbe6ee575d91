"""Local deployment figures, on the embedded stack with real serving processes (vLLM on the CPU):
- approval -> the adapter answering through sagemaker-runtime, and -> recorded `live` after the
  smoke test and notification (each run a new adapter, median);
- a base model update (approval of a new base package -> the new model serving, adapters re-attached);
- the endpoint's first creation, for reference.
Wait states run at their real length (no LORAPLANE_WAIT_SCALE).

Usage: .venv/bin/python benchmarks/deployment_latency.py [runs]
"""
import json
import os
import statistics
import sys
import tempfile
import time

from loraplane import local
from loraplane.base_models import register
from loraplane.dev.tiny import build_tiny_adapter, build_tiny_model
from loraplane_core.deployment import versions as deployments
from loraplane_core.deployment.serving_modes import invoke_args


def poll(predicate, timeout: float = 900, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - not there yet
            pass
        time.sleep(interval)
    raise TimeoutError


def main(runs: int = 5) -> None:
    stack = local.up()
    out, sm = stack.outputs, stack.emulator.client("sagemaker")
    runtime = stack.emulator.client("sagemaker-runtime")
    table = stack.emulator.resource("dynamodb").Table(out["CatalogTableName"])
    endpoint = out["EndpointName"]
    t0 = time.perf_counter()
    base_arn = local.register_tiny_base(stack)
    poll(lambda: (deployments.deployed_base(table, endpoint) or {}).get("package_arn") == base_arn)
    created = time.perf_counter() - t0
    body = json.dumps({"inputs": "Hello", "parameters": {"max_new_tokens": 4}})

    def answers(name: str) -> bool:
        runtime.invoke_endpoint(**invoke_args(out["ServingMode"], endpoint, name), ContentType="application/json", Body=body)
        return True

    times, live_times = [], []
    with tempfile.TemporaryDirectory() as work:
        for i in range(runs):
            name = f"bench-{i}"
            adapter = build_tiny_adapter(local.tiny_base_model_dir(), os.path.join(work, name), seed=200 + i)
            for f in ("adapter_config.json", "adapter_model.safetensors"):
                stack.emulator.client("s3").upload_file(os.path.join(adapter, f), out["AdapterBucketName"], f"adapters/{name}/{f}")
            poll(lambda: deployments.versions(table, name))
            [item] = deployments.versions(table, name)
            t = time.perf_counter()
            sm.update_model_package(ModelPackageArn=item["package_arn"], ModelApprovalStatus="Approved")
            poll(lambda: answers(name))
            times.append(time.perf_counter() - t)
            poll(lambda: (deployments.find_item(table, name, item["package_arn"]) or {}).get("state") == "live")
            live_times.append(time.perf_counter() - t)
            print(f"run {i + 1}: approval -> {name} answering {times[-1]:.2f}s, recorded live (smoke-tested, "
                  f"notified) {live_times[-1]:.2f}s", flush=True)
        new_base = build_tiny_model(os.path.join(work, "tiny-llama"), seed=9)
        t = time.perf_counter()
        import boto3

        arn = register(boto3.Session(), out, "tiny-llama", stack.parameters["ServingImageUri"], model_dir=new_base, approve=True)
        poll(lambda: (deployments.deployed_base(table, endpoint) or {}).get("package_arn") == arn)
        update = time.perf_counter() - t
    print(f"endpoint creation (approval -> base model serving, smoke-tested): {created:.1f}s")
    print(f"approval -> adapter answering: median {statistics.median(times):.2f}s of {runs} "
          f"(min {min(times):.2f}, max {max(times):.2f}); -> live in the catalog: median "
          f"{statistics.median(live_times):.2f}s")
    print(f"base model update (approval -> new base serving, {runs} adapters re-attached): {update:.1f}s")
    stack.emulator.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
