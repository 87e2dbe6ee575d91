"""Runs Lambda functions as Lambda does, without Docker: each invocation in an execution environment
of its function, environments running concurrently.

moto invokes functions only in Docker containers, and there is no Docker daemon here. An execution
environment is a Python process (`loraplane.emulator.lambda_worker`) with the function's
environment variables and its deployed zip unpacked as the task root; it imports the handler once
(init) and then serves one invocation at a time. A function invoked while all of its environments
are busy gets a new one (up to MAX_ENVIRONMENTS, then TooManyRequestsException, as a function at its
concurrency limit); idle environments stop after IDLE_S, and when their function is deleted.
The function's timeout is enforced: the environment is stopped and the invocation fails with
`Sandbox.Timedout`. The shared layer package (`loraplane_core`) is the one installed in this
environment, the same source the layer is built from.

Why processes: invocations must overlap, as on AWS. A function that waits for another's work (the
stack's cleanup waits for a deployment to release the endpoint lock) deadlocks when invocations
are serialised, and in one process they would have to be, since they share os.environ.
"""
import hashlib
import io
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path

IDLE_S = float(os.environ.get("LORAPLANE_LAMBDA_IDLE_S", "300"))
MAX_ENVIRONMENTS = int(os.environ.get("LORAPLANE_LAMBDA_MAX_ENVIRONMENTS", "16"))  # per function
_code_root = tempfile.mkdtemp(prefix="loraplane-lambda-")
_base_env: dict[str, str] = {}
_log_dir: dict[str, Path] = {}


class TooManyRequests(Exception):
    """All of a function's environments are busy and it may have no more."""


class RuntimeStopped(Exception):
    """The emulator is shutting down: no new execution environment starts."""


class Environment:
    """One execution environment: a worker process with the function's configuration."""

    def __init__(self, fn, key: str):
        self.key, self.function_name, self.retired = key, fn.function_name, False
        self.last_used = time.monotonic()
        env = {**os.environ, **_base_env, **{k: str(v) for k, v in (fn.environment_vars or {}).items()},
               "AWS_LAMBDA_FUNCTION_NAME": fn.function_name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
               "AWS_REGION": fn.region, "AWS_DEFAULT_REGION": fn.region, "LORAPLANE_FUNCTION_ARN": fn.function_arn,
               "LAMBDA_TASK_ROOT": code_dir(fn), "PYTHONUNBUFFERED": "1"}
        log = open(log_path(fn.function_name), "ab")  # noqa: SIM115 - the child holds it
        with log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "loraplane.emulator.lambda_worker", code_dir(fn), fn.handler],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env, text=True,
                start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, event, timeout_s: float) -> tuple[str, bool, str]:
        """(payload, errored, logs), as moto's LambdaFunction._invoke_lambda returns them."""
        request_id = str(uuid.uuid4())
        try:
            self.proc.stdin.write(json.dumps({"event": event, "request_id": request_id,
                                              "timeout_ms": int(timeout_s * 1000)}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self.exited(request_id)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        if not ready:
            self.stop()
            return failure("Sandbox.Timedout", f"RequestId: {request_id} Error: Task timed out after "
                                               f"{timeout_s:.2f} seconds")
        line = self.proc.stdout.readline()
        if not line:
            return self.exited(request_id)
        self.last_used = time.monotonic()
        answer = json.loads(line)
        if "error" in answer:
            if answer["error"].get("errorType") == "Runtime.ImportModuleError":
                self.retired = True  # its worker exits: the next invocation initialises a new one
            return json.dumps(answer["error"]), True, answer.get("logs", "")
        return json.dumps(answer["payload"]), False, ""

    def exited(self, request_id: str) -> tuple[str, bool, str]:
        code = self.proc.wait()
        return failure("Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited with error: "
                                            f"exit status {code}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # Lambda freezes, then discards: no grace
            except ProcessLookupError:
                pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


def failure(kind: str, message: str) -> tuple[str, bool, str]:
    return json.dumps({"errorType": kind, "errorMessage": message}), True, message


class Environments:
    """Every execution environment of every function, idle ones kept for reuse."""

    def __init__(self):
        self._lock = threading.Lock()
        self._idle: dict[str, list[Environment]] = {}
        self._busy: set[Environment] = set()
        self._reaper: threading.Thread | None = None
        self._stopped = False

    def take(self, fn) -> Environment:
        key = f"{fn.function_arn}:{fn.code_sha_256}:{config_hash(fn)}"
        dead = []
        try:
            with self._lock:
                if self._stopped:
                    raise RuntimeStopped(fn.function_name)
                return self._take(fn, key, dead)
        finally:
            for env in dead:
                env.stop()  # closes its pipes

    def _take(self, fn, key: str, dead: list) -> "Environment":
        idle = self._idle.get(key, [])
        while idle:
            env = idle.pop()
            if env.alive():
                self._busy.add(env)
                return env
            dead.append(env)
        if sum(1 for e in self._busy if e.key == key) >= MAX_ENVIRONMENTS:
            raise TooManyRequests(fn.function_name)
        env = Environment(fn, key)
        self._busy.add(env)
        self._start_reaper()
        return env

    def reopen(self) -> None:
        with self._lock:
            self._stopped = False

    def give_back(self, env: Environment) -> None:
        with self._lock:
            self._busy.discard(env)
            if env.alive() and not env.retired:
                self._idle.setdefault(env.key, []).append(env)
                return
        env.stop()

    def _take_idle(self, chosen) -> list[Environment]:
        """Takes the idle environments `chosen(env)` picks out of the pool (lock held); the caller stops them."""
        gone = [e for envs in self._idle.values() for e in envs if chosen(e)]
        for envs in self._idle.values():
            envs[:] = [e for e in envs if not chosen(e)]
        return gone

    def retire(self, function_name: str) -> None:
        """The function is gone: its environments stop (busy ones when their invocation returns)."""
        with self._lock:
            for env in self._busy:
                if env.function_name == function_name:
                    env.retired = True
            gone = self._take_idle(lambda e: e.function_name == function_name)
        for env in gone:
            env.stop()

    def reap(self, older_than: float) -> None:
        now = time.monotonic()
        with self._lock:
            gone = self._take_idle(lambda e: now - e.last_used > older_than)
        for env in gone:
            env.stop()

    def stop_all(self) -> None:
        """Stops every environment; none starts afterwards (busy ones are killed mid-invocation)."""
        with self._lock:
            self._stopped = True
            for env in self._busy:
                env.retired = True
            gone = self._take_idle(lambda e: True) + list(self._busy)
        for env in gone:
            env.stop()

    def busy(self, function_name: str) -> int:
        """How many invocations of the function are running now."""
        with self._lock:
            return sum(1 for e in self._busy if e.function_name == function_name)

    def pids(self) -> list[int]:
        with self._lock:
            return [e.proc.pid for envs in self._idle.values() for e in envs if e.alive()] + \
                [e.proc.pid for e in self._busy if e.alive()]

    def _start_reaper(self) -> None:
        if self._reaper is None:
            def loop():
                while True:
                    time.sleep(min(max(IDLE_S, 1), 10))
                    self.reap(IDLE_S)

            self._reaper = threading.Thread(target=loop, name="lambda-reaper", daemon=True)
            self._reaper.start()


_environments = Environments()


def environments() -> Environments:
    return _environments


def config_hash(fn) -> str:
    config = json.dumps([fn.handler, fn.environment_vars or {}, fn.memory_size, fn.timeout], sort_keys=True)
    return hashlib.sha256(config.encode()).hexdigest()[:12]


def code_dir(fn) -> str:
    """The function's zip, unpacked once per code version (the task root)."""
    path = os.path.join(_code_root, hashlib.sha256(f"{fn.function_name}:{fn.code_sha_256}".encode()).hexdigest()[:16])
    if not os.path.isdir(path):
        staging = tempfile.mkdtemp(dir=_code_root)
        with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as zf:
            zf.extractall(staging)
        try:
            os.rename(staging, path)
        except OSError:  # another invocation unpacked it first
            pass
    return path


def log_path(function_name: str) -> Path:
    """Each function's output (what CloudWatch Logs would hold), under $LORAPLANE_HOME/lambda/."""
    if "dir" not in _log_dir:
        home = os.environ.get("LORAPLANE_HOME")
        _log_dir["dir"] = Path(home) / "lambda" if home else Path(_code_root) / "logs"
        _log_dir["dir"].mkdir(parents=True, exist_ok=True)
    return _log_dir["dir"] / f"{function_name}.log"


def invoke(fn, event) -> tuple[str, bool, str]:
    """Same contract as moto's LambdaFunction._invoke_lambda: (payload, errored, logs)."""
    if isinstance(event, (str, bytes)):
        event = json.loads(event or "{}")
    env = _environments.take(fn)
    try:
        return env.call(event, float(fn.timeout or 3))
    finally:
        _environments.give_back(env)


def install(endpoint_url: str) -> None:
    import atexit

    from moto.awslambda.models import LambdaFunction, LambdaStorage
    from moto.core.exceptions import JsonRESTError

    _base_env.update({
        "AWS_ENDPOINT_URL": endpoint_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        # No X-Ray or CloudWatch here: tracing and EMF metrics off, logs at WARNING unless asked.
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": os.environ.get("LORAPLANE_LAMBDA_METRICS_DISABLED", "true"),
        "POWERTOOLS_LOG_LEVEL": os.environ.get("LORAPLANE_LAMBDA_LOG_LEVEL", "WARNING"),
    })

    class TooManyRequestsException(JsonRESTError):
        code = 429

        def __init__(self, name: str):
            super().__init__("TooManyRequestsException", f"Rate Exceeded. ({name} is at its concurrency limit)")

    def invoke_lambda(self, event=None):
        try:
            return invoke(self, event)
        except (TooManyRequests, RuntimeStopped) as e:
            raise TooManyRequestsException(str(e)) from None

    original_del = LambdaStorage.del_function

    def del_function(self, name_or_arn: str, qualifier: str | None = None) -> None:
        fn = self.get_function_by_name_or_arn_with_qualifier(name_or_arn, qualifier)
        original_del(self, name_or_arn, qualifier)
        if not qualifier:
            _environments.retire(fn.function_name)

    LambdaFunction._invoke_lambda = invoke_lambda
    LambdaStorage.del_function = del_function
    atexit.register(_environments.stop_all)
