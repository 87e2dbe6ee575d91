"""The running local stack's state file, $LORAPLANE_HOME/local.json (default ./.loraplane/): which process serves
it, on which port, with which environment. `local up` writes it once the stack is deployed and removes it when it
stops; `local up --detach` waits for it; `local down` and `local env` read it. Importing this module loads no
emulator (`local env` and `local down` must be quick)."""
import json
import os
import signal
import subprocess
import sys
import time
from typing import Callable

from .progress import LINE as PROGRESS_LINE

STATE_FILE = "local.json"
LOG_FILE = "local.log"
STOP_WAIT_S = 60.0  # `local up` stops its serving processes (SIGTERM, 5 s grace each) before it exits


def home() -> str:
    return os.environ.get("LORAPLANE_HOME", os.path.join(os.getcwd(), ".loraplane"))


def state_path() -> str:
    return os.path.join(home(), STATE_FILE)


def write(state: dict) -> None:
    """Atomically: a reader never sees half a file."""
    os.makedirs(home(), exist_ok=True)
    tmp = state_path() + f".{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=2)
    os.replace(tmp, state_path())


def read() -> dict | None:
    try:
        with open(state_path()) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("pid"), int) else None


def remove(pid: int | None = None) -> None:
    """Removes the file (only if it is still `pid`'s, when given: a newer `up` may have replaced it)."""
    state = read()
    if pid is None or (state and state["pid"] == pid):
        try:
            os.remove(state_path())
        except FileNotFoundError:
            pass


def is_ours(pid: int) -> bool:
    """Whether pid runs `loraplane ... local up` (a stale file's pid may have been reused by anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: not one we started
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return True  # no /proc (macOS): the pid is alive, trust the file
    return b"local" in argv and b"up" in argv


def running() -> dict | None:
    """The state of a live local stack; a stale file (its process gone) is removed."""
    state = read()
    if state and not is_ours(state["pid"]):
        remove(state["pid"])
        return None
    return state


def exports(env: dict[str, str]) -> str:
    import shlex

    return "\n".join(f"export {k}={shlex.quote(str(v))}" for k, v in env.items())


def start_detached(argv: list[str], timeout: float, poll: float = 0.5,
                   on_progress: Callable[[str], None] = lambda _: None) -> dict:
    """Starts `loraplane local up ARGV` in its own session, output to local.log; returns its state once written.
    Its progress lines (loraplane.progress) go to `on_progress` as they reach the log.
    Raises RuntimeError (with the log's tail) when it exits or times out first."""
    os.makedirs(home(), exist_ok=True)
    log_path = os.path.join(home(), LOG_FILE)
    env = {**os.environ, "LORAPLANE_HOME": home()}  # the child writes where this process looks
    with open(log_path, "ab") as log:
        start = log.tell()
        proc = subprocess.Popen([sys.executable, "-m", "loraplane.cli", "local", "up", *argv], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    return await_state(proc, log_path, start, timeout, poll, on_progress)


def await_state(proc, log_path: str, start: int, timeout: float, poll: float = 0.5,
                on_progress: Callable[[str], None] = lambda _: None) -> dict:
    """start_detached's wait for `proc` (a Popen) to write its state, its progress lines forwarded as they come.
    Whatever it wrote between the last read and its state or its exit is read too, the last line even without
    its newline when it has exited: those are the lines that say why it stopped."""
    deadline = time.monotonic() + timeout
    follow = LogLines(log_path, start)

    def forward(lines: list[str]) -> None:
        for line in lines:
            if PROGRESS_LINE.match(line):
                on_progress(line)

    while True:
        forward(follow.new())
        state = read()
        if state and state["pid"] == proc.pid:
            forward(follow.new())
            return state | {"log": log_path}
        code = proc.poll()
        if code is not None or time.monotonic() > deadline:
            if code is None:
                stop(proc.pid)
            forward(follow.rest())  # to the end of the file, now that nothing more comes
            why = f"exited with code {code}" if code is not None else f"was not up after {timeout:.0f}s (stopped)"
            raise RuntimeError(f"`local up` {why}; log {log_path}:\n{tail(log_path)}")
        time.sleep(poll)


class LogLines:
    """The whole lines a file gains, from an offset on."""

    def __init__(self, path: str, offset: int = 0):
        self.path, self.offset, self.pending = path, offset, b""

    def new(self) -> list[str]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        self.offset += len(data)
        *lines, self.pending = (self.pending + data).split(b"\n")
        return [line.decode(errors="replace").rstrip("\r") for line in lines]

    def rest(self) -> list[str]:
        """new(), then the last line even without its newline (the writer has ended)."""
        lines = self.new()
        last, self.pending = self.pending, b""
        return lines + ([last.decode(errors="replace").rstrip("\r")] if last else [])


def tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def descendants(pid: int) -> list[int]:
    """The process's children, grandchildren, ... (serving processes run in sessions of their own, so a group
    signal would miss them). Empty without psutil."""
    try:
        import psutil

        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except Exception:  # noqa: BLE001 - psutil missing, or the process just ended
        return []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a zombie (our own child not reaped yet) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def stop(pid: int, wait: float = STOP_WAIT_S) -> bool:
    """SIGTERM (`local up` then stops its serving processes and Lambda environments), SIGKILL after `wait`;
    then whatever it left behind of its own descendants. True if it ended on SIGTERM."""
    left = descendants(pid)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + wait
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    clean = not alive(pid)
    if not clean:
        signal_process(pid, signal.SIGKILL)
    for child in left:  # serving processes of a killed `up` would outlive it
        if alive(child):
            signal_process(child, signal.SIGTERM)
    return clean


def signal_process(pid: int, sig: int) -> None:
    """The process, and its group when it leads one (a serving process and vLLM's helpers)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
