"""Progress of the commands' long steps, on stderr so that stdout keeps the result alone (`--output json` stays
parseable): `[   12s] what` lines, as `image build` prints its phases; a heartbeat while one call runs long;
byte counts while files are hashed or uploaded (redrawn on a terminal, a line per 10% otherwise)."""
import re
import sys
import threading
import time
from contextlib import contextmanager

LINE = re.compile(r"^\[ *\d+s\] ")  # a progress line, as `local up --detach` forwards them from its log
HEARTBEAT_S = 10.0


class Steps:
    """`steps("Deploying ...")` prints `[   3s] Deploying ...`, the seconds since the command started."""

    def __init__(self, stream=None, quiet: bool = False):
        self.stream, self.quiet, self.started = stream, quiet, time.monotonic()

    def __call__(self, text: str) -> None:
        if not self.quiet:
            print(f"[{time.monotonic() - self.started:5.0f}s] {text}", file=self.stream or sys.stderr, flush=True)

    @contextmanager
    def waiting(self, what: str, every: float = HEARTBEAT_S):
        """While the block runs, `... still <what>` every `every` seconds: a long call that says nothing looks hung."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(every):
                self(f"... still {what}")

        thread = threading.Thread(target=beat, daemon=True, name="loraplane-heartbeat")
        thread.start()
        try:
            yield self
        finally:
            done.set()
            thread.join()


class Progress:
    """boto3's transfer callback (called from its worker threads), or a hashing loop's: sam-CLI-style lines on
    stderr, redrawn in place on a terminal, one line per 10% otherwise (logs, CI). One instance may count
    several files: `total` is their sum."""

    def __init__(self, label: str, total: int, stream=None, verb: str = "Uploading to"):
        self.label, self.total, self.done, self.verb = label, total, 0, verb
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.shown = -1
        self.lock = threading.Lock()

    def __call__(self, sent: int) -> None:
        with self.lock:
            self.done += sent
            percent = min(100, self.done * 100 // self.total) if self.total else 100
            step = percent if self.tty else percent - percent % 10
            if step == self.shown:
                return
            self.shown = step
            line = f"{self.verb} {self.label}  {self.done} / {self.total}  ({percent}%)"
            self.stream.write(("\r" + line + ("\n" if percent == 100 else "")) if self.tty else line + "\n")
            self.stream.flush()
