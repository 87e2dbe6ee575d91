"""Argument types of the `loraplane` commands: each one names what is wrong with a bad value, and argparse
prints that (an ArgumentTypeError's message) with the usage, exit code 2."""
import argparse
import datetime
import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION = re.compile(r"(?:(\d{1,9})([smhdw]))+")
PART = re.compile(r"(\d{1,9})([smhdw])")
MAX_SINCE_DAYS = 3650  # CloudWatch Logs keeps events 10 years at most: further back is a typo


class Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default in --help, but not the empty ones (None, a flag's False): those say nothing."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
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


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value
