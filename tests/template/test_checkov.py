"""checkov passes on the template as CloudFormation receives it (and on the organisation
template), except the checks listed with their reasons in checkov_skips.yaml."""
import json
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CHECKOV = REPO / ".venv" / "tools" / "checkov" / "bin" / "checkov"  # own venv: `make install`
SKIPS = yaml.safe_load((Path(__file__).parent / "checkov_skips.yaml").read_text())


def test_every_skip_has_a_reason():
    assert SKIPS and all(isinstance(reason, str) and len(reason) > 40 for reason in SKIPS.values())


def test_checkov_passes(expanded, tmp_path):
    assert CHECKOV.exists(), "checkov is not installed: run `make install`"
    (tmp_path / "stack.json").write_text(json.dumps(expanded))
    result = subprocess.run(
        [str(CHECKOV), "--framework", "cloudformation", "--output", "json", "--quiet", "--skip-check", ",".join(SKIPS),
         "-f", str(tmp_path / "stack.json"), "-f", str(REPO / "project_template" / "template.yaml")],
        capture_output=True, text=True, timeout=600)
    reports = json.loads(result.stdout or "[]")
    reports = reports if isinstance(reports, list) else [reports]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for r in reports
              for c in r.get("results", {}).get("failed_checks", [])]
    assert failed == [], "\n".join(failed)
    assert sum(r.get("summary", {}).get("passed", 0) for r in reports) > 100
