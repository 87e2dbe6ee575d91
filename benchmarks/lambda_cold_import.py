"""Cold import time of each Lambda handler module (python -X importtime) and the built layer size.

Usage: .venv/bin/python benchmarks/lambda_cold_import.py [--no-build]
"""
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS = ["validate_adapter", "register_adapter", "record_adapter", "notify"]
ENV = {
    "PROJECT_NAME": "bench", "PROJECT_ID": "p-bench", "ADAPTER_BUCKET": "b", "CATALOG_TABLE": "t",
    "IDEMPOTENCY_TABLE": "i", "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t", "ADAPTER_MODEL_PACKAGE_GROUP": "a",
    "BASE_MODEL_PACKAGE_GROUP": "b", "SERVING_IMAGE_URI": "img", "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_NAMESPACE": "LoRAPlane", "POWERTOOLS_TRACE_DISABLED": "true",
}


def import_time_ms(function: str, layer_path: str) -> float:
    env = {**os.environ, **ENV, "PYTHONPATH": layer_path}
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], cwd=REPO / "functions" / function,
                         env=env, capture_output=True, text=True, check=True).stderr
    # "import time: self [us] | cumulative | imported package" - the line for the handler module itself
    [line] = [ln for ln in out.splitlines() if re.search(r"\|\s*app$", ln)]
    return int(line.split("|")[1]) / 1000


def main() -> None:
    layer = REPO / "layers" / "core"
    if "--no-build" not in sys.argv:
        build = Path(tempfile.mkdtemp(prefix="sam-build-"))
        subprocess.run([str(Path(sys.executable).parent / "sam"), "build", "--build-dir", str(build)], cwd=REPO,
                       check=True, capture_output=True, env={**os.environ, "SAM_CLI_TELEMETRY": "0"})
        layer = build / "CoreLayer" / "python"
        size = sum(f.stat().st_size for f in layer.rglob("*") if f.is_file())
        print(f"CoreLayer (sam build): {size / 2**20:.1f} MiB unzipped, {sum(1 for _ in layer.rglob('*.py'))} .py files")
    for fn in FUNCTIONS:
        times = sorted(import_time_ms(fn, str(layer)) for _ in range(3))
        print(f"{fn:18s} cold import (cumulative, median of 3): {times[1]:7.1f} ms")


if __name__ == "__main__":
    main()
