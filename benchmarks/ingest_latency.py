"""Time from `aws s3 cp --recursive` of an adapter to its model package existing, in the emulator.

Usage: .venv/bin/python benchmarks/ingest_latency.py [runs]    (prints each run and the median)
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loraplane import local
from loraplane.dev.tiny import build_tiny_adapter

BIN = Path(sys.executable).parent


def main(runs: int = 5) -> None:
    stack = local.up()
    local.register_tiny_base(stack)
    env = {**os.environ, **stack.emulator.environment()}
    sm = stack.emulator.client("sagemaker")
    group = stack.outputs["AdapterModelPackageGroupName"]
    times = []
    with tempfile.TemporaryDirectory() as work:
        for i in range(runs):
            adapter = build_tiny_adapter(local.tiny_base_model_dir(), os.path.join(work, f"a{i}"), seed=100 + i)
            before = len(sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"])
            t0 = time.perf_counter()
            subprocess.run([str(BIN / "aws"), "s3", "cp", "--recursive", "--quiet", adapter,
                            f"s3://{stack.outputs['AdapterBucketName']}/adapters/bench-{i}/"], env=env, check=True)
            while len(sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]) == before:
                time.sleep(0.02)
            times.append(time.perf_counter() - t0)
            print(f"run {i + 1}: {times[-1]:.2f} s from aws s3 cp to the model package", flush=True)
            time.sleep(1)  # let the second file's execution finish before the next run
    print(f"median of {runs}: {statistics.median(times):.2f} s (includes the aws CLI's own start, "
          f"measured alone: see below)")
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "aws"), "--version"], env=env, check=True, capture_output=True)
    print(f"aws CLI start-up alone: {time.perf_counter() - t0:.2f} s")
    stack.emulator.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
