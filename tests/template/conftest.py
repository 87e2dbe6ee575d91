from pathlib import Path

import pytest
from samtranslator.yaml_helper import yaml_parse

from loraplane.emulator.deploy import expand

REPO = Path(__file__).resolve().parents[2]
LONGEST = {"SageMakerProjectName": "p" + "-a" * 15 + "b", "SageMakerProjectId": "p-" + "x" * 18}


@pytest.fixture(scope="session")
def sam_template() -> dict:
    return yaml_parse((REPO / "template.yaml").read_text())


@pytest.fixture(scope="session")
def expanded() -> dict:
    """The CloudFormation template after the SAM transform, for the longest allowed project names."""
    assert len(LONGEST["SageMakerProjectName"]) == 32 and len(LONGEST["SageMakerProjectId"]) == 20
    return expand(REPO / "template.yaml", dict(LONGEST))
