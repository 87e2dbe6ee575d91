"""Each handler reads its settings at cold start: a missing or malformed variable fails the import,
naming the variable, instead of surfacing as an empty name in the middle of a deployment."""
import importlib.util
import sys
from pathlib import Path

import pytest

from loraplane_core.settings import LockSettings, MissingSettings, ReconcileSettings, Settings

REPO = Path(__file__).resolve().parents[2]
ENV = {"PROJECT_NAME": "p", "PROJECT_ID": "i", "ADAPTER_BUCKET": "b", "CATALOG_TABLE": "c", "IDEMPOTENCY_TABLE": "x",
       "TOPIC_ARN": "arn:aws:sns:us-east-1:1:t", "ADAPTER_MODEL_PACKAGE_GROUP": "p-i-adapters",
       "BASE_MODEL_PACKAGE_GROUP": "p-i-base", "SERVING_IMAGE_URI": "img", "ENDPOINT_NAME": "p-i-endpoint",
       "ENDPOINT_EXECUTION_ROLE_ARN": "arn:aws:iam::1:role/e", "ROLLBACK_ALARMS": "a-5xx,a-latency",
       "AUTO_APPROVE_ADAPTERS": "false", "MAX_LORA_RANK": "16"}


def test_settings_come_typed_from_the_environment():
    s = Settings.from_env(ENV)
    assert s.rollback_alarms == ("a-5xx", "a-latency") and s.max_lora_rank == 16 and s.auto_approve_adapters is False
    assert s.resource_prefix == "p-i" and s.serving_mode == "inference-components"


@pytest.mark.parametrize("change, named", [
    ({"ENDPOINT_NAME": None}, "ENDPOINT_NAME: not set"),
    ({"ENDPOINT_EXECUTION_ROLE_ARN": ""}, "ENDPOINT_EXECUTION_ROLE_ARN"),
    ({"MAX_LORA_RANK": "lots"}, "MAX_LORA_RANK"),
    ({"SERVING_MODE": "sometimes"}, "SERVING_MODE"),
])
def test_a_missing_or_bad_variable_is_named(change, named):
    env = {k: v for k, v in (ENV | change).items() if v is not None}
    with pytest.raises(MissingSettings, match=named):
        Settings.from_env(env)


def test_handlers_with_more_needs_have_their_own_settings():
    with pytest.raises(MissingSettings, match="LOCK_WAIT_SECONDS: not set"):
        LockSettings.from_env(ENV)
    with pytest.raises(MissingSettings, match="DEPLOY_STATE_MACHINE_ARN: not set"):
        ReconcileSettings.from_env(ENV)
    assert LockSettings.from_env(ENV | {"LOCK_WAIT_SECONDS": "60"}).lock_wait_seconds == 60


@pytest.mark.parametrize("handler", sorted(p.parent.name for p in (REPO / "functions").glob("*/app.py")))
def test_every_handler_fails_at_cold_start_without_its_settings(handler, monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    spec = importlib.util.spec_from_file_location(f"cold_{handler}", REPO / "functions" / handler / "app.py")
    module = importlib.util.module_from_spec(spec)
    with pytest.raises(MissingSettings, match="not set"):
        spec.loader.exec_module(module)
    sys.modules.pop(f"cold_{handler}", None)
