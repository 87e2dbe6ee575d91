"""Why an adapter upload is rejected: one code per cause, each with a human message.

Messages travel in Step Functions payloads (256 KB), SNS notifications and the catalog, and
they repeat what the user uploaded. So AdapterRejected builds every message itself: user
values are passed as keyword arguments, quoted and shortened here, and the whole message is
capped - a 300 KB base model name can never push Validate's output over the payload limit.
"""
from collections.abc import Collection
from enum import StrEnum

MAX_MESSAGE_CHARS = 1024  # the whole message (at most 4 KB of UTF-8)
MAX_QUOTED_CHARS = 200    # one quoted user value
MAX_LISTED_ITEMS = 10     # items shown of a user list, then "and K more"
MAX_LISTED_ITEM_CHARS = 60


class Reason(StrEnum):
    INVALID_ADAPTER_NAME = "INVALID_ADAPTER_NAME"
    MISSING_CONFIG = "MISSING_CONFIG"
    MISSING_WEIGHTS = "MISSING_WEIGHTS"
    PICKLE_WEIGHTS = "PICKLE_WEIGHTS"
    CONFIG_NOT_JSON = "CONFIG_NOT_JSON"
    CONFIG_INVALID = "CONFIG_INVALID"
    NOT_LORA = "NOT_LORA"
    UNSUPPORTED_VARIANT = "UNSUPPORTED_VARIANT"
    NO_BASE_MODEL = "NO_BASE_MODEL"
    BASE_MODEL_MISMATCH = "BASE_MODEL_MISMATCH"
    RANK_TOO_HIGH = "RANK_TOO_HIGH"
    UNKNOWN_TARGET_MODULES = "UNKNOWN_TARGET_MODULES"
    SAFETENSORS_HEADER_TOO_LARGE = "SAFETENSORS_HEADER_TOO_LARGE"
    SAFETENSORS_MALFORMED = "SAFETENSORS_MALFORMED"
    SAFETENSORS_TRUNCATED = "SAFETENSORS_TRUNCATED"
    TENSORS_MISMATCH_CONFIG = "TENSORS_MISMATCH_CONFIG"
    TOO_LARGE = "TOO_LARGE"
    UNSAFE_ARCHIVE = "UNSAFE_ARCHIVE"
    INVALID_ARCHIVE = "INVALID_ARCHIVE"
    CONFIG_CONFLICT = "CONFIG_CONFLICT"  # these weights are registered already, with another config


def _printable(text: str, limit: int) -> tuple[str, int]:
    """At most `limit` characters of `text`, control characters escaped; and how many were cut."""
    out, used = [], 0
    for count, ch in enumerate(text):
        piece = ch if ch.isprintable() else repr(ch)[1:-1]
        if used + len(piece) > limit:
            return "".join(out), len(text) - count
        out.append(piece)
        used += len(piece)
    return "".join(out), 0


def quote(value: object, limit: int = MAX_QUOTED_CHARS) -> str:
    """A user value for a message: strings quoted, collections listed, all of it bounded."""
    if isinstance(value, Collection) and not isinstance(value, (str, bytes, dict)):
        return listing(value)
    if isinstance(value, str):
        shown, cut = _printable(value, limit)
        shown = f"'{shown}'"
    else:
        try:
            text = repr(value)
        except (RecursionError, ValueError):  # absurdly nested, or an int past the digit limit
            text = f"<{type(value).__name__}>"
        shown, cut = _printable(text, limit)
    return f"{shown}... ({cut} more characters)" if cut else shown


def listing(items: Collection) -> str:
    """`[a, b, ... and K more]`: the first MAX_LISTED_ITEMS items, each quoted and bounded."""
    items = list(items)
    shown = ", ".join(quote(i, MAX_LISTED_ITEM_CHARS) for i in items[:MAX_LISTED_ITEMS])
    more = len(items) - MAX_LISTED_ITEMS
    return f"[{shown}, and {more} more]" if more > 0 else f"[{shown}]"


def bounded(message: str) -> str:
    """Any message, control characters escaped and cut to MAX_MESSAGE_CHARS."""
    shown, cut = _printable(message, MAX_MESSAGE_CHARS - 30)
    return f"{shown}... ({cut} more characters)" if cut else shown


class AdapterRejected(Exception):
    """An upload that can never become a model package; `reason` says which rule it broke.

    `message` is a template; user-supplied values go in `values` (`{name}` in the template),
    never into the template itself, so they are always quoted and shortened.
    """

    def __init__(self, reason: Reason, message: str, **values: object):
        if values:
            message = message.format(**{k: quote(v) for k, v in values.items()})
        message = bounded(message)
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
