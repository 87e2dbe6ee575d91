"""Polling helpers for asynchronous journeys (events, executions)."""
import time
from typing import Callable, TypeVar

T = TypeVar("T")
SEEN_MAX = 500  # characters of the last value quoted in a timeout


def wait_until(probe: Callable[[], T], timeout: float = 60, interval: float = 0.2, what: str = "condition",
               seen: Callable[[T], object] = lambda value: value) -> T:
    """The first truthy value of `probe()`; a TimeoutError after `timeout` s that names what was
    awaited and what was seen last (`seen(value)`, e.g. a status out of a description)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            last = repr(seen(value))
            if len(last) > SEEN_MAX:
                last = last[:SEEN_MAX] + "…"
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {last}")
        time.sleep(interval)
