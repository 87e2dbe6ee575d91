"""cfn-lint, `sam validate --lint` and `sam build` pass on the template, offline."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.template.test_lambda_python import python313

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0"}


def run(*cmd: str, cwd=REPO) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_cfn_lint():
    run(str(BIN / "cfn-lint"), "template.yaml")


def test_cfn_lint_organisation_template():
    run(str(BIN / "cfn-lint"), "project_template/template.yaml")


def test_sam_validate_lint():
    assert "is a valid SAM Template" in run(str(BIN / "sam"), "validate", "--lint").stdout + run(
        str(BIN / "sam"), "validate", "--lint").stderr


@pytest.mark.slow
def test_sam_build(tmp_path):
    """`sam build` works here (Python 3.11, no Docker) for Lambda's python3.13 on arm64: the layer's
    compiled wheels are the aarch64 cp313 builds, and the runtime's own botocore is not shadowed."""
    run(str(BIN / "sam"), "build", "--build-dir", str(tmp_path / "build"), "--cache-dir", str(tmp_path / "cache"))
    layer = tmp_path / "build" / "CoreLayer" / "python"
    assert (layer / "loraplane_core" / "adapters" / "validation.py").exists()
    assert (layer / "loraplane_core" / "deployment" / "steps.py").exists()
    assert (layer / "aws_lambda_powertools").is_dir() and (layer / "pydantic").is_dir()
    compiled = [p.name for p in (layer / "pydantic_core").glob("*.so")]
    assert compiled == ["_pydantic_core.cpython-313-aarch64-linux-gnu.so"]
    assert not (layer / "botocore").exists() and not (layer / "boto3").exists()
    assert not (layer / "aws_xray_sdk").exists() and not (layer / "wrapt").exists()  # Lambda's active tracing
    # Bytecode for Lambda's python3.13 only, used as is (/opt is read-only: without it each cold start compiles)
    pycs = list(layer.rglob("*.pyc"))
    assert all(p.name.endswith(".cpython-313.pyc") for p in pycs)
    if python313():
        sources = {p.relative_to(layer).with_suffix("") for p in layer.rglob("*.py")}
        assert sources == {(p.parent.parent / p.name.split(".")[0]).relative_to(layer) for p in pycs}
        assert all(p.read_bytes()[4:8] == (1).to_bytes(4, "little") for p in pycs)  # PEP 552: unchecked hash
    for fn in ("ValidateAdapterFunction", "RegisterAdapterFunction", "RecordAdapterFunction", "NotifyFunction"):
        assert (tmp_path / "build" / fn / "app.py").exists()
    built = (tmp_path / "build" / "template.yaml").read_text()
    assert "python3.13" in built and "arm64" in built and "python3.11" not in built
