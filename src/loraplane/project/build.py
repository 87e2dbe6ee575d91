"""The published template: `sam build` (no Docker; the layer cross-built for python3.13 on arm64), code packaged to the
artifact bucket under content-addressed keys, the SAM transform expanded offline. The result is
plain CloudFormation whose parameters (SageMakerProjectName, SageMakerProjectId, ...) SageMaker
fills in when a project is created."""
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from ..emulator.deploy import REPO, expand


def sam_build(build_dir: Path, cache_dir: Path) -> Path:
    """Runs `sam build` on template.yaml; returns the built template's path."""
    sam = Path(sys.executable).parent / "sam"
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    subprocess.run([str(sam), "build", "--template-file", str(REPO / "template.yaml"), "--build-dir", str(build_dir),
                    "--cache-dir", str(cache_dir), "--cached"], cwd=REPO, env=env, check=True, capture_output=True)
    return build_dir / "template.yaml"


def published_template(s3, bucket: str, region: str, account: str, built: Path | None = None) -> dict:
    """The expanded template, its code uploaded to `bucket`. Without `built` (a `sam build` output),
    the source folders are packaged as they are, as the emulator does (the layer then lacks its
    dependencies: for the emulator and tests only)."""
    return expand(built or REPO / "template.yaml", {}, s3, region, account, bucket=bucket, content_keys=True)


def render(template: dict) -> bytes:
    """YAML (what Studio's S3 templates must be; Service Catalog reads it too), stable for a given template."""
    return yaml.safe_dump(json.loads(json.dumps(template)), sort_keys=False, width=120).encode()
