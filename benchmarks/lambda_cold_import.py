"""Cold import of every Lambda handler, as on Lambda: `python3.13 -X importtime -c "import app"`.

The layer is the one `sam build` makes (layers/core/Makefile: arm64 wheels, bytecode when a python3.13
is there), with its native packages (pydantic_core) swapped for this machine's build of the same
pins. As on Lambda: the runtime's own boto3 (a python3.13 venv with the lock's boto3, botocore, ...,
byte-compiled as the runtime's are); the layer and the task root not writable (/opt and /var/task are
read-only: what has no bytecode there is compiled at every cold start; PYTHONDONTWRITEBYTECODE here);
Lambda's environment variables; tracing not disabled.

Figures: the handler module's cumulative import (-X importtime, excluding nothing), median of --runs;
of which boto3 (the runtime's: every handler creates clients); the rest is ours. Also "no bytecode":
the same layer without its bytecode (a build without python3.13). --compare OLD_COPY measures an older
copy of the repo too (its functions/ and layers/core/, built by its own Makefile); runs are
interleaved so all see the same machine load.

--instructions adds the instructions each import runs (valgrind; millions, after those of `python -c pass`):
wall-clock figures on a shared machine vary by 2x and more with its load, instruction counts do not.

--emulator adds the Init Duration of the emulator's REPORT line: its Lambda worker (this Python, the
.venv's packages, bytecode cached) importing the handler, median of --runs.

Usage: .venv/bin/python benchmarks/lambda_cold_import.py [--runs 3] [--compare OLD_COPY] [--instructions] [--emulator]
"""
import argparse
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNTIME = ("boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six", "jmespath")  # Lambda's python3.13
ENV = {  # the template's Globals, and Lambda's own variables
    "PROJECT_NAME": "bench", "PROJECT_ID": "p-bench", "ADAPTER_BUCKET": "b", "CATALOG_TABLE": "t",
    "IDEMPOTENCY_TABLE": "i", "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t", "ADAPTER_MODEL_PACKAGE_GROUP": "a",
    "BASE_MODEL_PACKAGE_GROUP": "b", "SERVING_IMAGE_URI": "img", "ENDPOINT_NAME": "bench-p-bench-endpoint",
    "ENDPOINT_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/e", "ROLLBACK_ALARMS": "a-5xx,a-latency",
    "LOCK_WAIT_SECONDS": "900", "DEPLOY_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:d",
    "POWERTOOLS_SERVICE_NAME": "bench-p-bench", "POWERTOOLS_METRICS_NAMESPACE": "LoRAPlane",
    "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512", "PYTHONDONTWRITEBYTECODE": "1",
}


def python313() -> str:
    pyenv = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))
    for candidate in filter(None, [shutil.which("python3.13"), *pyenv]):
        if subprocess.run([candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"],
                          capture_output=True).returncode == 0:
            return candidate
    sys.exit("error: needs a python3.13 (Lambda's runtime), on PATH or from pyenv")


def pip(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", *args],
                   check=True, capture_output=True)


def runtime(work: Path) -> Path:
    """python3.13 with what Lambda's runtime brings: boto3 and its dependencies, the lock's versions."""
    lock = (REPO / "requirements" / "lock.txt").read_text().splitlines()
    pins = {ln.split("==")[0].lower(): ln.strip() for ln in lock if "==" in ln}
    subprocess.run([python313(), "-m", "venv", str(work / "runtime")], check=True)
    python = work / "runtime" / "bin" / "python"
    pip(python, *(pins[name] for name in RUNTIME))
    return python


def layer(python: Path, src: Path, work: Path) -> tuple[Path, str]:
    """`src`'s layer as its Makefile builds it, native packages swapped for this machine's; and its size."""
    subprocess.run(["make", "-s", "-C", str(src / "layers" / "core"), "build-CoreLayer", f"ARTIFACTS_DIR={work}"],
                   check=True, capture_output=True)
    built = work / "python"
    files = [f for f in built.rglob("*") if f.is_file()]
    size = f"{sum(f.stat().st_size for f in files) / 2**20:.1f} MiB, {sum(f.suffix == '.pyc' for f in files)} .pyc"
    native = {p.relative_to(built).parts[0] for p in built.rglob("*.so")}
    pip(python, "--no-compile", "-r", str(src / "layers" / "core" / "requirements.txt"), "--target", str(work / "host"))
    for name in native:
        shutil.rmtree(built / name)
        shutil.copytree(work / "host" / name, built / name)
        if any(f.suffix == ".pyc" for f in files):
            subprocess.run([str(python), "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
                            str(built / name)], check=True)
    return built, size


def without_bytecode(built: Path, dest: Path) -> Path:
    shutil.copytree(built, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def lambda_env(task_root: Path, layer_dir: Path) -> dict:
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **ENV, "PYTHONPATH": str(layer_dir),
            "LAMBDA_TASK_ROOT": str(task_root), "AWS_LAMBDA_FUNCTION_NAME": task_root.name}


def import_ms(python: Path, task_root: Path, layer_dir: Path, code: str = "import app") -> tuple[float, float]:
    """(the handler module's cumulative import, boto3's part of it), in ms."""
    out = subprocess.run([str(python), "-X", "importtime", "-c", code], cwd=task_root,
                         env=lambda_env(task_root, layer_dir), capture_output=True, text=True, check=True).stderr
    cumulative = {m.group(2).strip(): int(m.group(1)) / 1000
                  for m in re.finditer(r"^import time:\s+\d+ \|\s+(\d+) \|(.*)$", out, re.M)}
    return cumulative.get("app", 0.0), cumulative.get("boto3", 0.0)


def instructions(python: Path, task_root: Path, layer_dir: Path) -> int:
    """Millions of instructions `import app` runs (valgrind): the same on a busy machine as on an idle one."""
    def count(code: str) -> int:
        out = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                              str(python), "-c", code], cwd=task_root, env=lambda_env(task_root, layer_dir),
                             capture_output=True, text=True, check=True).stderr
        return int(re.search(r"I\s+refs:\s+([\d,]+)", out).group(1).replace(",", ""))
    return round((count("import app") - count("pass")) / 1e6)


def emulator_init_ms(task_root: Path, layer_src: Path) -> float:
    """The Init Duration of the emulator's REPORT line: its worker (this Python, .venv) imports the handler;
    loraplane_core from `layer_src`. One invocation, with an event every handler refuses at once (no AWS call)."""
    env = {**os.environ, **ENV, "PYTHONPATH": str(layer_src), "LAMBDA_TASK_ROOT": str(task_root),
           "AWS_LAMBDA_FUNCTION_NAME": task_root.name, "POWERTOOLS_METRICS_DISABLED": "true",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    env.pop("PYTHONDONTWRITEBYTECODE")  # the emulator's Python caches bytecode as usual
    request = json.dumps({"event": "not an event", "request_id": "bench", "timeout_ms": 5000}) + "\n"
    worker = [sys.executable, "-m", "loraplane.emulator.lambda_worker", str(task_root), "app.lambda_handler"]
    out = subprocess.run(worker, input=request, env=env, capture_output=True, text=True, timeout=120).stderr
    return float(re.search(r"Init Duration: ([\d.]+) ms", out).group(1))


def emulator_cell(src: Path, handler: str, runs: int) -> str:
    if not (src / "functions" / handler / "app.py").exists():
        return "-"
    task_root = src / "functions" / handler
    init = statistics.median(emulator_init_ms(task_root, src / "layers" / "core") for _ in range(runs))
    return f"{init:.0f}"


def cell(runs: list[tuple[float, float]]) -> str:
    if not runs:
        return "-"
    total, boto3, ours = (statistics.median(f(t, b) for t, b in runs)
                          for f in (lambda t, b: t, lambda t, b: b, lambda t, b: t - b))
    return f"{total:.0f} ({boto3:.0f} + {ours:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="an older copy of the repo to measure in the same run")
    parser.add_argument("--instructions", action="store_true", help="also count instructions (needs valgrind)")
    parser.add_argument("--emulator", action="store_true", help="also the emulator's Init Duration (REPORT line)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lambda-cold-") as tmp:
        work = Path(tmp)
        python = runtime(work)
        variants = {}  # label -> (repo copy, layer folder)
        if args.compare:
            old, size = layer(python, args.compare.resolve(), work / "before")
            variants["before"] = (args.compare.resolve(), old)
            print(f"before: CoreLayer {size}")
        built, size = layer(python, REPO, work / "now")
        print(f"now: CoreLayer {size}")
        variants["now"] = (REPO, built)
        variants["now, no bytecode"] = (REPO, without_bytecode(built, work / "now-source-only"))
        handlers = sorted(p.parent.name for p in (REPO / "functions").glob("*/app.py"))
        alone = statistics.median(import_ms(python, REPO / "functions" / handlers[0], built, "import boto3")[1]
                                  for _ in range(args.runs))
        print(f"boto3 alone (python3.13 -X importtime -c 'import boto3'): {alone:.0f} ms")
        print(f"\nhandler import, ms, median of {args.runs}: total (boto3 + ours)\n")
        sources = list(dict.fromkeys(src for src, _ in variants.values()))
        columns = list(variants) + [f"{label}: instructions" for label in variants if args.instructions]
        columns += [f"{'before' if src != REPO else 'now'}: emulator Init Duration" for src in sources if args.emulator]
        print("| handler | " + " | ".join(columns) + " |")
        print("| --- |" + " --- |" * len(columns))
        for handler in handlers:
            runs: dict[str, list[tuple[float, float]]] = {label: [] for label in variants}
            for _ in range(args.runs):
                for label, (src, layer_dir) in variants.items():
                    if (src / "functions" / handler / "app.py").exists():
                        runs[label].append(import_ms(python, src / "functions" / handler, layer_dir))
            cells = [cell(runs[label]) for label in variants]
            if args.instructions:
                cells += [f"{instructions(python, src / 'functions' / handler, layer_dir)} M"
                          if (src / "functions" / handler / "app.py").exists() else "-"
                          for src, layer_dir in variants.values()]
            if args.emulator:
                cells += [emulator_cell(src, handler, args.runs) for src in sources]
            print(f"| {handler} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
