"""Runs Lambda functions in this process instead of in Docker.

moto invokes functions only in Docker containers, and there is no Docker daemon here. This
runs the deployed code itself: the function's zip (as uploaded by the stack) is unpacked once
and its handler imported, with the function's environment set for the call. The shared layer
package (`loraplane_core`) is the one installed in this environment, the same source the
layer is built from. Invocations are serialised, since they share os.environ.
"""
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zipfile

_lock = threading.RLock()
_modules: dict[str, object] = {}
_code_root = tempfile.mkdtemp(prefix="loraplane-lambda-")
_base_env: dict[str, str] = {}


class LambdaContext:
    """The attributes of the Lambda context object that Powertools and handlers read."""

    def __init__(self, fn, timeout_s: int):
        self.function_name = fn.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = fn.function_arn
        self.memory_limit_in_mb = int(fn.memory_size or 128)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{fn.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@contextlib.contextmanager
def function_environment(fn):
    saved = dict(os.environ)
    os.environ.update(_base_env)
    os.environ.update({k: str(v) for k, v in (fn.environment_vars or {}).items()})
    os.environ.update({
        "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
        "AWS_REGION": fn.region, "AWS_DEFAULT_REGION": fn.region,
    })
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def load_handler(fn):
    module_file, _, func_name = fn.handler.rpartition(".")
    key = f"{fn.function_name}:{fn.code_sha_256}"
    if key not in _modules:
        code_dir = os.path.join(_code_root, hashlib.sha256(key.encode()).hexdigest()[:16])
        with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as zf:
            zf.extractall(code_dir)
        path = os.path.join(code_dir, module_file.replace(".", "/") + ".py")
        spec = importlib.util.spec_from_file_location(f"lambda_{fn.function_name.replace('-', '_')}", path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, code_dir)
        try:
            spec.loader.exec_module(module)  # import-time code runs in the function's environment
        finally:
            sys.path.remove(code_dir)
        _modules[key] = module
    return getattr(_modules[key], func_name)


def invoke(fn, event) -> tuple[str, bool, str]:
    """Same contract as moto's LambdaFunction._invoke_lambda: (payload, errored, logs)."""
    if isinstance(event, (str, bytes)):
        event = json.loads(event or "{}")
    with _lock, function_environment(fn):
        try:
            handler = load_handler(fn)
            result = handler(event, LambdaContext(fn, int(fn.timeout or 3)))
            return json.dumps(result), False, ""
        except Exception as e:  # noqa: BLE001 - reported to the caller as a function error
            payload = {"errorType": type(e).__name__, "errorMessage": str(e),
                       "stackTrace": traceback.format_exception(e)[-5:]}
            return json.dumps(payload), True, traceback.format_exc()


def install(endpoint_url: str) -> None:
    from moto.awslambda.models import LambdaFunction

    _base_env.update({
        "AWS_ENDPOINT_URL": endpoint_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        # No X-Ray or CloudWatch here: tracing and EMF metrics off, logs at WARNING unless asked.
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": os.environ.get("LORAPLANE_LAMBDA_METRICS_DISABLED", "true"),
        "POWERTOOLS_LOG_LEVEL": os.environ.get("LORAPLANE_LAMBDA_LOG_LEVEL", "WARNING"),
    })
    LambdaFunction._invoke_lambda = lambda self, event=None: invoke(self, event)
