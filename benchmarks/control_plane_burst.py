"""The control plane under a burst, in the emulator: N adapter uploads within a minute, then M
approvals at once.

Usage: .venv/bin/python benchmarks/control_plane_burst.py [--uploads 1000] [--approvals 50]
                                                          [--invalid-every 10] [--timeout 1800]

Uploads: N distinct adapters (one tiny adapter, each copy's weights perturbed so every version has
its own sha256), every `--invalid-every`-th with a truncated safetensors file (must be rejected),
both files put by 32 threads. Then the catalog is polled until every adapter has an outcome.
Checks: every adapter registered or rejected (none lost, none failed), the right outcome for each,
one registry version per adapter (none duplicated). Approvals: M registered versions approved at
once; time until all are live, every deployment execution succeeded, and how many lock acquisitions
carried them out (lock batching: one holder carries up to ten decisions).
"""
import argparse
import io
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from loraplane import local
from loraplane.dev.tiny import build_tiny_adapter
from loraplane.waiting import wait_until

CONFIG, WEIGHTS = "adapter_config.json", "adapter_model.safetensors"


def variants(adapter_dir: str, n: int, invalid_every: int):
    """(name, config bytes, weights bytes, valid) for n adapters: weights perturbed per adapter."""
    import numpy as np
    from safetensors.numpy import load, save

    config = open(os.path.join(adapter_dir, CONFIG), "rb").read()
    tensors = load(open(os.path.join(adapter_dir, WEIGHTS), "rb").read())
    first = sorted(tensors)[0]
    for i in range(n):
        changed = dict(tensors)
        changed[first] = tensors[first] + np.float32(i + 1) * np.float32(1e-3)
        weights = save(changed)
        valid = not (invalid_every and i % invalid_every == invalid_every - 1)
        yield f"burst-{i:04d}", config, (weights if valid else weights[: len(weights) // 2]), valid


def upload_all(s3, bucket: str, items: list) -> float:
    def put(item):
        name, config, weights, _ = item
        s3.upload_fileobj(io.BytesIO(weights), bucket, f"adapters/{name}/{WEIGHTS}")
        s3.upload_fileobj(io.BytesIO(config), bucket, f"adapters/{name}/{CONFIG}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(put, items))
    return time.perf_counter() - t0


def outcomes(table, failures: Counter | None = None) -> dict[str, Counter]:
    """adapter -> count of its catalog items by kind; `failures` counts the failures' reasons."""
    from loraplane_core import catalog, catalog_keys

    seen: dict[str, Counter] = {}
    for item in catalog.all_items(table):
        if catalog_keys.is_adapter_item(item) and item["adapter_name"].startswith("burst-"):
            kind = catalog_keys.kind_of(item)
            seen.setdefault(item["adapter_name"], Counter())[kind] += 1
            if kind == "failure" and failures is not None:
                failures[f"{item.get('reason')}: {str(item.get('message'))[:160]}"] += 1
    return seen


def wait_all(table, names: set[str], timeout: float, t_start: float) -> tuple[dict, float]:
    last = [0, time.perf_counter()]

    def done():
        seen = outcomes(table)
        finished = sum(1 for n in names if n in seen)
        if finished != last[0]:
            last[:] = [finished, time.perf_counter()]
            print(f"   [{time.perf_counter() - t_start:6.1f}s] {finished}/{len(names)} with an outcome", flush=True)
        return seen if finished == len(names) else None

    try:
        seen = wait_until(done, timeout=timeout, interval=5, what="every upload to have an outcome")  # a scan each
    except TimeoutError:
        seen = outcomes(table)
    return seen, last[1] - t_start


def registry_versions(sm, group: str) -> Counter:
    per_name: Counter = Counter()
    for page in sm.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
        for p in page["ModelPackageSummaryList"]:
            d = sm.describe_model_package(ModelPackageName=p["ModelPackageArn"])
            name = d.get("CustomerMetadataProperties", {}).get("adapter_name", "")
            if name.startswith("burst-"):
                per_name[name] += 1
    return per_name


def burst_uploads(stack, args, work: str) -> list[str]:
    out = stack.outputs
    s3, sm = stack.emulator.client("s3"), stack.emulator.client("sagemaker")
    table = stack.emulator.resource("dynamodb").Table(out["CatalogTableName"])
    adapter = build_tiny_adapter(local.tiny_base_model_dir(), os.path.join(work, "adapter"), seed=7)
    items = list(variants(adapter, args.uploads, args.invalid_every))
    expected = {name: "version" if valid else "rejection" for name, _, _, valid in items}
    print(f"1. {args.uploads} uploads ({sum(v == 'rejection' for v in expected.values())} invalid), 32 threads",
          flush=True)
    t0 = time.perf_counter()
    put_s = upload_all(s3, out["AdapterBucketName"], items)
    print(f"   all {2 * len(items)} objects put in {put_s:.1f} s", flush=True)
    seen, last_s = wait_all(table, set(expected), args.timeout, t0)
    lost = sorted(n for n in expected if n not in seen)
    wrong = sorted(n for n, kinds in seen.items() if expected.get(n) not in kinds)
    failed = sorted(n for n, kinds in seen.items() if kinds.get("failure"))
    reasons: Counter = Counter()
    outcomes(table, reasons)
    for reason, count in reasons.most_common(5):
        print(f"   failure x{count}: {reason}")
    registry = registry_versions(sm, out["AdapterModelPackageGroupName"])
    duplicated = sorted(n for n, c in registry.items() if c > 1) + \
        sorted(n for n, kinds in seen.items() if kinds.get("version", 0) > 1)
    registered = sum(1 for kinds in seen.values() if kinds.get("version"))
    rejected = sum(1 for kinds in seen.values() if kinds.get("rejection") and not kinds.get("version"))
    print(f"   uploads {len(items)} within {put_s:.1f} s; registered {registered}, rejected {rejected}, "
          f"failed {len(failed)}, lost {len(lost)}, wrong outcome {len(wrong)}, duplicated {len(duplicated)}")
    print(f"   time from the first put to the last outcome: {last_s:.1f} s "
          f"({len(seen) / max(last_s, 1e-9):.1f} adapters/s)", flush=True)
    for label, names in (("lost", lost), ("wrong", wrong), ("failed", failed), ("duplicated", duplicated)):
        if names:
            print(f"   {label}: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}")
    return [n for n, kinds in sorted(seen.items()) if kinds.get("version")]


def burst_approvals(stack, args, registered: list[str]) -> None:
    from loraplane_core import catalog
    from loraplane_core.deployment import versions as deployments

    out = stack.outputs
    sm, sfn = stack.emulator.client("sagemaker"), stack.emulator.client("stepfunctions")
    table = stack.emulator.resource("dynamodb").Table(out["CatalogTableName"])
    chosen = registered[: args.approvals]
    items = {n: catalog.version_items(table, n)[0] for n in chosen}
    print(f"2. {len(chosen)} approvals at once", flush=True)
    t0 = time.perf_counter()
    lock = threading.Lock()
    done_at: dict[str, float] = {}

    def approve(name):
        sm.update_model_package(ModelPackageArn=items[name]["package_arn"], ModelApprovalStatus="Approved")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(approve, chosen))

    def all_live():
        for name in chosen:
            if name not in done_at:
                item = deployments.find_item(table, name, items[name]["package_arn"]) or {}
                if item.get("state") == "live":
                    with lock:
                        done_at[name] = time.perf_counter() - t0
        return len(done_at) == len(chosen)

    try:
        wait_until(all_live, timeout=args.timeout, interval=1, what="every approved adapter to be live")
    except TimeoutError as e:
        print(f"   {e}")
    def settled():  # waiting executions end once they read the outcome their holder settled
        running = sfn.list_executions(stateMachineArn=out["DeployStateMachineArn"], statusFilter="RUNNING")
        return not running["executions"]

    try:
        wait_until(settled, timeout=300, interval=1, what="every deployment execution to end")
    except TimeoutError as e:
        print(f"   {e}")
    executions, endings = Counter(), Counter()
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=out["DeployStateMachineArn"]):
        for e in page["executions"]:
            executions[e["status"]] += 1
            if e["status"] != "RUNNING":
                endings[last_state(sfn, e["executionArn"])] += 1
    times = sorted(done_at.values())
    print(f"   live {len(done_at)}/{len(chosen)}; time to all live {times[-1] if times else float('nan'):.1f} s; "
          f"first live after {times[0] if times else float('nan'):.1f} s; "
          f"{len(times) / max(times[-1], 1e-9) if times else 0:.2f} adapters/s")
    print(f"   deployment executions by status: {dict(executions)}", flush=True)
    # Lock batching: "Deployed" took the lock; "DeployedInBatch" went live under another's acquisition.
    print(f"   deployment executions by final state: {dict(endings)}; lock acquisitions for the approvals: "
          f"{endings['Deployed'] - 1} (the base model's deployment is the other)", flush=True)


def last_state(sfn, execution_arn: str) -> str:
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    return entered[-1] if entered else "?"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--uploads", type=int, default=1000)
    p.add_argument("--approvals", type=int, default=50)
    p.add_argument("--invalid-every", type=int, default=10)
    p.add_argument("--timeout", type=float, default=1800)
    args = p.parse_args()
    stack = local.up()
    try:
        base = local.register_tiny_base(stack)
        with tempfile.TemporaryDirectory() as work:
            registered = burst_uploads(stack, args, work)
        if args.approvals:
            from loraplane_core.deployment import versions as deployments

            table = stack.emulator.resource("dynamodb").Table(stack.outputs["CatalogTableName"])
            wait_until(lambda: (deployments.deployed_base(table, stack.outputs["EndpointName"]) or {})
                       .get("package_arn") == base, timeout=900, interval=1, what="the base model to be live")
            burst_approvals(stack, args, registered)
    finally:
        stack.emulator.stop()
    print(json.dumps({"uploads": args.uploads, "approvals": args.approvals}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
