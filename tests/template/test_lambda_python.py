"""The Lambdas' code on the runtime they are deployed to, python3.13 (this machine's tools run
3.11): in a 3.13 venv with the layer's pinned packages and the runtime's boto3, every handler
imports at cold start and the pure deployment decisions pass their tests."""
import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_settings import ENV

REPO = Path(__file__).resolve().parents[2]
# What Lambda's python3.13 runtime brings (boto3 and its dependencies) and what the tests need.
RUNTIME = ("boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six")
TESTING = ("pytest", "iniconfig", "pluggy", "packaging", "Pygments", "hypothesis", "attrs", "sortedcontainers")


def python313() -> str | None:
    """A working python3.13: on PATH, or one pyenv installed (its shim may point elsewhere)."""
    pyenv = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))
    candidates = [shutil.which("python3.13"), *pyenv]
    for candidate in filter(None, candidates):
        check = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
                               capture_output=True, text=True, timeout=30)
        if check.returncode == 0 and check.stdout.strip() == "True":
            return candidate
    return None


def locked(names: tuple[str, ...]) -> list[str]:
    pins = {re.split("==", line)[0].lower().replace("_", "-"): line.strip()
            for line in (REPO / "requirements" / "lock.txt").read_text().splitlines() if "==" in line}
    return [pins[name.lower()] for name in names]


def test_layer_pins_are_the_lock_files_versions():
    lock = {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1].strip()
            for line in (REPO / "requirements" / "lock.txt").read_text().splitlines() if "==" in line}
    for line in (REPO / "layers" / "core" / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            assert lock[name.lower().replace("_", "-")] == version.strip(), line


@pytest.mark.slow
def test_handlers_and_decisions_on_python313(tmp_path):
    interpreter = python313()
    if interpreter is None:
        pytest.skip("no python3.13 on this machine (pyenv install 3.13 to run this check)")
    venv = tmp_path / "py313"
    subprocess.run([interpreter, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
                          "-r", str(REPO / "layers" / "core" / "requirements.txt"), *locked(RUNTIME + TESTING)],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    env = {**os.environ, **ENV, "LOCK_WAIT_SECONDS": "10", "DEPLOY_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:s",
           "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(REPO / "layers" / "core"),
           "POWERTOOLS_TRACE_DISABLED": "1"}
    imports = "\n".join(
        f"spec = importlib.util.spec_from_file_location('h_{p.parent.name}', {str(p)!r}); "
        f"spec.loader.exec_module(importlib.util.module_from_spec(spec))"
        for p in sorted((REPO / "functions").glob("*/app.py")))
    cold = subprocess.run([str(venv / "bin" / "python"), "-c", f"import importlib.util\n{imports}\nprint('ok')"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert cold.returncode == 0 and cold.stdout.strip() == "ok", cold.stdout + cold.stderr
    tests = subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "--noconftest",
                            "-p", "no:cacheprovider", "tests/unit/test_decisions.py",
                            "tests/unit/test_deployment_steps.py"],
                           capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]


def test_tracing_is_lambdas_own_and_the_layer_has_no_xray_sdk():
    """Lambda's active tracing (Globals) traces every function without an SDK; Powertools' Tracer would
    bring aws-xray-sdk (in maintenance) and its wrapt into each cold start."""
    from samtranslator.yaml_helper import yaml_parse

    assert yaml_parse((REPO / "template.yaml").read_text())["Globals"]["Function"]["Tracing"] == "Active"
    layer = {line.split("==")[0].lower() for line in (REPO / "layers" / "core" / "requirements.txt").read_text()
             .splitlines() if "==" in line and not line.startswith("#")}
    assert not layer & {"aws-xray-sdk", "wrapt", "boto3", "botocore"}
    for app in sorted((REPO / "functions").glob("*/app.py")):
        assert "Tracer" not in app.read_text(), app
