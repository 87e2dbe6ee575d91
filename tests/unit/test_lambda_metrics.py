"""The handlers emit the metric shapes the alarms and the dashboard read (docs/operations.md,
"Metrics"): a fixed name, its own dimensions plus `service`, in the LoRAPlane namespace, and the
cold-start metric. The steps behind the handlers are replaced: this is about the EMF they print."""
import datetime
import importlib.util
import json
from pathlib import Path

import pytest
from aws_lambda_powertools.metrics.provider import cold_start

from loraplane_core.deployment.payloads import AcquireLock, LockResult, Notified
from loraplane_core.ingest.payloads import ValidationResult

REPO = Path(__file__).resolve().parents[2]
SERVICE = "lp-p-metrics"
ENV = {
    "PROJECT_NAME": "lp", "PROJECT_ID": "p-metrics", "ADAPTER_BUCKET": "b", "CATALOG_TABLE": "c",
    "IDEMPOTENCY_TABLE": "i", "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
    "ADAPTER_MODEL_PACKAGE_GROUP": "a", "BASE_MODEL_PACKAGE_GROUP": "g", "SERVING_IMAGE_URI": "img",
    "ENDPOINT_NAME": "lp-p-metrics-endpoint", "ENDPOINT_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/r",
    "LOCK_WAIT_SECONDS": "7200", "DEPLOY_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:d",
    "POWERTOOLS_SERVICE_NAME": SERVICE, "POWERTOOLS_METRICS_NAMESPACE": "LoRAPlane",
    "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "false", "POWERTOOLS_DEV": "false",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class Context:
    function_name = "lp-p-metrics-fn"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:lp-p-metrics-fn"
    aws_request_id = "req-1"


@pytest.fixture
def handler(monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)

    def load(function: str):
        path = REPO / "functions" / function / "app.py"
        spec = importlib.util.spec_from_file_location(f"metrics_test_{function}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


def invoke(capsys, app, event) -> list[dict]:
    """Calls the handler (as a cold start) and returns the EMF documents it printed."""
    cold_start.is_cold_start = True
    capsys.readouterr()
    try:
        app.lambda_handler(event, Context())
    except Exception:  # noqa: BLE001 - a failing step still emits its metrics
        pass
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    return lines


def shapes(documents: list[dict]) -> dict[str, tuple[dict, float]]:
    """Metric name -> ({dimension: value}, value)."""
    out = {}
    for d in documents:
        [directive] = d["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "LoRAPlane"
        [dims] = directive["Dimensions"]
        for metric in directive["Metrics"]:
            value = d[metric["Name"]]
            out[metric["Name"]] = ({k: d[k] for k in dims}, value[0] if isinstance(value, list) else value)
    return out


def test_validate_emits_the_outcome_and_the_rejection_reason(handler, capsys, monkeypatch):
    app = handler("validate_adapter")
    rejected = ValidationResult(outcome="rejected", adapter_name="a1", reason="rank_too_high", message="m")
    monkeypatch.setattr(app, "validate_upload", lambda *a: rejected)
    event = {"event": json.loads((REPO / "tests" / "events" / "s3-object-created.json").read_text())}
    got = shapes(invoke(capsys, app, event))
    assert got["Upload"] == ({"outcome": "rejected", "service": SERVICE}, 1.0)
    assert got["UploadRejected"] == ({"reason": "rank_too_high", "service": SERVICE}, 1.0)
    assert got["ColdStart"][0] == {"function_name": Context.function_name, "service": SERVICE}
    assert not any("_" in name for name in got), "no dimension values baked into names"


def test_reconcile_emits_drift_found_every_round(handler, capsys, monkeypatch):
    app = handler("reconcile")
    drift = {"drift": [{"adapter": "a"}, {"adapter": "b"}], "repairs": []}
    monkeypatch.setattr(app, "reconcile", lambda *a, **k: drift)
    assert shapes(invoke(capsys, app, {}))["DriftFound"] == ({"service": SERVICE}, 2.0)
    monkeypatch.setattr(app, "reconcile", lambda *a, **k: {"drift": [], "repairs": []})
    assert shapes(invoke(capsys, app, {}))["DriftFound"] == ({"service": SERVICE}, 0.0)


def test_lock_emits_how_long_the_deployment_has_waited(handler, capsys, monkeypatch):
    app = handler("endpoint_lock")
    monkeypatch.setitem(app.STEPS, AcquireLock, lambda *a: LockResult(acquired=False))
    started = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=90)).isoformat()
    event = {"action": "acquire", "owner": "e1", "started_at": started}
    dims, value = shapes(invoke(capsys, app, event))["LockWaitSeconds"]
    assert dims == {"service": SERVICE} and 89 <= value < 120


def test_smoke_test_failure_is_counted_for_its_alarm(handler, capsys, monkeypatch):
    from loraplane_core.errors import SmokeTestFailed

    app = handler("smoke_test")

    def fail(*a):
        raise SmokeTestFailed("no answer")
    monkeypatch.setattr(app.steps, "smoke_test", fail)
    documents = invoke(capsys, app, {"kind": "base", "deployment": {"kind": "none"}})
    assert shapes(documents)["SmokeTest"] == ({"result": "failed", "service": SERVICE}, 1.0)


def test_deployment_outcome_tells_rollbacks_apart(handler, capsys, monkeypatch):
    app = handler("record_deployment")
    monkeypatch.setattr(app.steps, "record_deployment", lambda *a: Notified(subject="s", event="deployment.failed"))
    got = shapes(invoke(capsys, app, {"kind": "failed", "execution": "e1"}))
    assert got["Deployment"] == ({"outcome": "failed", "service": SERVICE}, 1.0)
    monkeypatch.setattr(app.steps, "record_deployment", lambda *a: Notified(subject="s", event="deployment.deploy"))
    got = shapes(invoke(capsys, app, {"kind": "failed", "execution": "e1"}))
    assert got["Deployment"][0]["outcome"] == "deploy"
