"""The emulator's Lambda runtime, with small handlers of its own (no moto): invocations of one
function overlap in environments of their own, environments are reused, and the function's
timeout, a crashed runtime, a failed import and the concurrency limit fail as Lambda fails."""
import io
import json
import threading
import time
import zipfile
from types import SimpleNamespace

import pytest

from loraplane.emulator.shims import lambda_runtime
from loraplane.waiting import wait_until

HANDLERS = '''
import os, sys, time
PID = os.getpid()
def wait(event, context):
    time.sleep(event.get("seconds", 0))
    return {"pid": PID, "remaining_ms": context.get_remaining_time_in_millis(), "env": os.environ.get("GREETING")}
def crash(event, context):
    os._exit(3)
def fail(event, context):
    raise ValueError("bad input")
'''


def function(name: str, handler: str = "app.wait", source: str = HANDLERS, timeout: int = 10):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", source)
    code = buf.getvalue()
    return SimpleNamespace(function_name=name, function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
                           code_sha_256=str(hash(code)), code_bytes=code, handler=handler, timeout=timeout,
                           environment_vars={"GREETING": "hello"}, memory_size=128, region="us-east-1")


@pytest.fixture
def runtime(monkeypatch, tmp_path):
    monkeypatch.setenv("LORAPLANE_HOME", str(tmp_path))
    envs = lambda_runtime.Environments()
    monkeypatch.setattr(lambda_runtime, "_environments", envs)
    yield envs
    envs.stop_all()
    assert not envs.pids()


def call(fn, event: dict) -> tuple[dict, bool]:
    payload, errored, _ = lambda_runtime.invoke(fn, json.dumps(event))
    return json.loads(payload), errored


def test_environment_is_reused_and_has_the_functions_settings(runtime):
    fn = function("reuse")
    first, errored = call(fn, {})
    second, _ = call(fn, {})
    assert not errored and first["pid"] == second["pid"] and first["env"] == "hello"
    assert 0 < first["remaining_ms"] <= 10_000


def test_invocations_of_one_function_overlap(runtime):
    fn, results = function("overlap"), []
    threads = [threading.Thread(target=lambda: results.append(call(fn, {"seconds": 1.5}))) for _ in range(3)]
    started = time.monotonic()
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert time.monotonic() - started < 4  # serialised, they would take 4.5 s
    assert len({r[0]["pid"] for r in results}) == 3


def test_timeout_fails_with_sandbox_timedout_and_discards_the_environment(runtime):
    fn = function("slow", timeout=1)
    payload, errored = call(fn, {"seconds": 30})
    assert errored and payload["errorType"] == "Sandbox.Timedout" and "1.00 seconds" in payload["errorMessage"]
    assert call(fn, {})[1] is False  # a fresh environment answers


def test_crash_import_error_and_handler_error_are_function_errors(runtime):
    payload, errored = call(function("crashy", "app.crash"), {})
    assert errored and payload["errorType"] == "Runtime.ExitError" and "exit status 3" in payload["errorMessage"]
    payload, errored = call(function("broken", "app.wait", source="import does_not_exist\n"), {})
    assert errored and payload["errorType"] == "Runtime.ImportModuleError"
    payload, errored = call(function("failing", "app.fail"), {})
    assert errored and payload["errorType"] == "ValueError" and payload["errorMessage"] == "bad input"


def test_too_many_concurrent_invocations_are_refused(runtime, monkeypatch):
    monkeypatch.setattr(lambda_runtime, "MAX_ENVIRONMENTS", 1)
    fn = function("limited")
    busy = threading.Thread(target=call, args=(fn, {"seconds": 2}))
    busy.start()
    wait_until(lambda: runtime.busy("limited"), timeout=30, interval=0.05, what="the first invocation to run")
    with pytest.raises(lambda_runtime.TooManyRequests):
        call(fn, {})
    busy.join()


def test_a_deleted_function_and_a_stopped_runtime_start_nothing(runtime):
    fn = function("retired")
    call(fn, {})
    assert runtime.pids()
    runtime.retire("retired")
    assert not runtime.pids()
    runtime.stop_all()
    with pytest.raises(lambda_runtime.RuntimeStopped):
        call(fn, {})


def test_each_invocation_logs_lambdas_report_line_the_first_with_its_init_duration(runtime):
    source = "import time\ntime.sleep(0.2)  # a slow import\n" + HANDLERS
    fn = function("reported", source=source)
    call(fn, {})
    call(fn, {})
    reports = [line for line in lambda_runtime.log_path("reported").read_text().splitlines()
               if line.startswith("REPORT RequestId: ")]
    assert len(reports) == 2 and all("\tDuration: " in r and "\tMemory Size: 128 MB" in r for r in reports)
    [init] = [float(r.split("Init Duration: ")[1].removesuffix(" ms")) for r in reports if "Init Duration" in r]
    assert "Init Duration" in reports[0] and init >= 200
