"""One Lambda execution environment: `python -m loraplane.emulator.lambda_worker CODE_DIR HANDLER`.

Started by the emulator's Lambda runtime (shims/lambda_runtime.py) with the function's environment.
Init imports the handler once, as Lambda's init phase does; then each line on stdin is one
invocation ({"event", "request_id", "timeout_ms"}) and each line on the protocol pipe its result
({"payload": ...} or {"error": {...}, "logs": ...}). The handler's own prints go to stderr, so they
can never corrupt the protocol.
"""
import importlib
import json
import os
import sys
import time
import traceback


class LambdaContext:
    """The attributes of the Lambda context object that Powertools and handlers read."""

    def __init__(self, request_id: str, timeout_ms: int):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = os.environ.get("LORAPLANE_FUNCTION_ARN", "")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_of(e: BaseException, kind: str | None = None) -> dict:
    return {"errorType": kind or type(e).__name__, "errorMessage": str(e),
            "stackTrace": traceback.format_exception(e)[-5:]}


def load(code_dir: str, handler: str):
    module_name, _, func_name = handler.rpartition(".")
    sys.path.insert(0, code_dir)  # LAMBDA_TASK_ROOT comes first, as on Lambda
    return getattr(importlib.import_module(module_name), func_name)


def report(request_id: str, started: float, init_ms: float | None) -> None:
    """Lambda's REPORT log line after each invocation; the first one of an environment has its Init
    Duration (here: the handler module's import, what the function's own code costs at cold start)."""
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    init = f"\tInit Duration: {init_ms:.2f} ms" if init_ms is not None else ""
    print(f"REPORT RequestId: {request_id}\tDuration: {(time.monotonic() - started) * 1000:.2f} ms\t"
          f"Memory Size: {memory} MB{init}", file=sys.stderr, flush=True)


def main() -> None:
    code_dir, handler_name = sys.argv[1], sys.argv[2]
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # print() and Powertools' logger write to stdout: send them to the log instead
    sys.stdout = sys.stderr
    init_started = time.monotonic()
    try:
        handler, init_error = load(code_dir, handler_name), None
    except Exception as e:  # noqa: BLE001 - an init failure is reported on the first invocation
        handler, init_error = None, error_of(e, "Runtime.ImportModuleError")
    init_ms = (time.monotonic() - init_started) * 1000
    for line in sys.stdin:
        request = json.loads(line)
        if init_error is not None:
            protocol.write(json.dumps({"error": init_error, "logs": "".join(init_error["stackTrace"])}) + "\n")
            protocol.flush()
            return  # a failed init is not reused: the next invocation starts a new environment
        started = time.monotonic()
        try:
            result = handler(request["event"], LambdaContext(request["request_id"], request["timeout_ms"]))
            answer = {"payload": result}
        except Exception as e:  # noqa: BLE001 - reported to the caller as a function error
            answer = {"error": error_of(e), "logs": traceback.format_exc()}
        report(request["request_id"], started, init_ms)
        init_ms = None
        try:
            encoded = json.dumps(answer)
        except (TypeError, ValueError) as e:
            encoded = json.dumps({"error": error_of(e, "Runtime.MarshalError")})
        protocol.write(encoded + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
