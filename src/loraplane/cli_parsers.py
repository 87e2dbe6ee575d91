"""Argument types of the `loraplane` commands: each one names what is wrong with a bad value, and argparse
prints that (an ArgumentTypeError's message) with the usage, exit code 2."""
import argparse
import datetime
import json
import math
import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION = re.compile(r"(?:(\d{1,9})([smhdw]))+")
PART = re.compile(r"(\d{1,9})([smhdw])")
MAX_SINCE_DAYS = 3650  # CloudWatch Logs keeps events 10 years at most: further back is a typo


class Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default in --help, but not the empty ones (None, a flag's False): those say nothing,
    and their help tells in words what happens without them (tests/unit/test_cli_conventions.py)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "(default" in (action.help or ""):
            return action.help  # nothing to show, or the help already says it in words
        return super()._get_help_string(action)


class InvalidSince(argparse.ArgumentTypeError, ValueError):
    """A --since value that is neither a duration nor a time."""


class InvalidAdapterName(argparse.ArgumentTypeError, ValueError):
    """An adapter name ingest would refuse (INVALID_ADAPTER_NAME)."""


def parse_since(text: str, now: datetime.datetime | None = None) -> int:
    """The start of a time window in epoch milliseconds (CloudWatch Logs' unit): `text` is a duration back
    from `now` (`30s`, `10m`, `2h`, `1d`, `1w`, or combined: `1h30m`) or an ISO-8601 time
    (`2026-11-30T12:00:00Z`, `2026-11-30 12:00`; UTC unless it names a zone)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    value = text.strip().lower() if isinstance(text, str) else ""
    seconds = None
    if DURATION.fullmatch(value):
        seconds = sum(int(n) * UNITS[unit] for n, unit in PART.findall(value))
    elif value and value[0].isdigit() and ("-" in value or ":" in value):
        try:
            when = datetime.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is not None:
            when = when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)
            seconds = (now - when).total_seconds()
    if seconds is None:
        raise InvalidSince(f"--since {text!r} is neither a duration (30s, 10m, 2h, 1d, 1w, 1h30m) "
                           "nor an ISO-8601 time (2026-11-30T12:00:00Z)")
    if seconds > MAX_SINCE_DAYS * 86400:
        raise InvalidSince(f"--since {text!r} is more than {MAX_SINCE_DAYS} days back")
    return int((now.timestamp() - seconds) * 1000)


def adapter_name(text: str) -> str:
    """The rule ingest applies to the folder under adapters/ (CONTRACTS §2), with its message."""
    from loraplane_core.adapters.reasons import AdapterRejected
    from loraplane_core.adapters.upload_layout import check_adapter_name

    try:
        check_adapter_name(text)
    except AdapterRejected as e:
        raise InvalidAdapterName(e.message) from None
    return text


def whole(low: int, high: int | None = None):
    """An argparse type: a whole number from `low` (to `high`), else a message naming the value and the range."""
    span = f"from {low} to {high}" if high is not None else f"of at least {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except (TypeError, ValueError):
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number {span}")
        return value
    parse.__name__ = f"whole number {span}"
    return parse


def number(low: float, high: float | None = None, above: bool = False, unit: str = ""):
    """An argparse type: a finite number from `low` (or above it, with `above`) to `high`; nan and inf refused."""
    span = (f"above {low:g}" if above else f"from {low:g}") + (f" to {high:g}" if high is not None else "")
    unit = f" {unit}" if unit else ""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except (TypeError, ValueError):
            value = math.nan
        inside = math.isfinite(value) and (value > low if above else value >= low) and (high is None or value <= high)
        if not inside:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number{unit} {span}")
        return value
    parse.__name__ = f"number {span}"
    return parse


positive_int = whole(1)
seed = whole(0, 2**32 - 1)  # numpy's and torch's seeds
port = whole(1, 65535)
# How often to poll AWS: below 1 s a loop would call until it is throttled; above 5 min nobody watches.
poll_seconds = number(1, 300, unit="of seconds")
timeout_seconds = number(0, 86400, above=True, unit="of seconds")


class InvalidJsonBody(argparse.ArgumentTypeError, ValueError):
    """A --body that is not a JSON object."""


def json_body(text: str) -> dict:
    """A request body given on the command line: one JSON object (what the serving container reads)."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as e:
        raise InvalidJsonBody(f"--body is not JSON ({e})") from None
    if not isinstance(value, dict):
        raise InvalidJsonBody(f"--body is JSON but not an object ({type(value).__name__})")
    return value


def check_model_dir(path: str, flag: str = "--base-model-dir") -> str:
    """A Hugging Face model directory (config.json in it), else a Usage error before torch says it worse."""
    import os

    from .cli_errors import Usage

    if not os.path.isfile(os.path.join(path, "config.json")):
        raise Usage(f"no config.json in {path}", f"Pass {flag} the Hugging Face model directory of the base model")
    return path
