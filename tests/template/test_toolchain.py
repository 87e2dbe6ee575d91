"""cfn-lint, `sam validate --lint` and `sam build` pass on the template, offline."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    run(str(BIN / "sam"), "build", "--build-dir", str(tmp_path / "build"), "--cache-dir", str(tmp_path / "cache"))
    layer = tmp_path / "build" / "CoreLayer" / "python"
    assert (layer / "loraplane_core" / "adapters" / "validation.py").exists()
    assert (layer / "loraplane_core" / "deployment" / "steps.py").exists()
    assert (layer / "aws_lambda_powertools").is_dir() and (layer / "pydantic").is_dir()
    for fn in ("ValidateAdapterFunction", "RegisterAdapterFunction", "RecordAdapterFunction", "NotifyFunction"):
        assert (tmp_path / "build" / fn / "app.py").exists()
