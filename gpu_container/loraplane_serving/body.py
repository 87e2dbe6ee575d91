"""Request bodies: read within a byte limit, and parsed as JSON only once they are known to be
shallow enough, with only numbers the engine can take (no NaN/Infinity, no 1e400, no 5,000-digit
integers). Every refusal is a BadRequest: a 4xx status, a reason code and a one-line message."""
import json
import math
import re

import numpy as np  # vLLM's dependency: always in the serving image

# The limits (docs/configuration.md, "Serving"). 8 MiB is above SageMaker's 6 MB
# InvokeEndpoint payload; 64 levels is far above any OpenAI or TGI body.
MAX_BODY_BYTES = 8 * 2**20
MAX_JSON_DEPTH = 64
MAX_INTEGER_DIGITS = 20  # every int64 / uint64
MAX_MESSAGE_CHARS = 500


def one_line(message: str) -> str:
    """A message as answers carry it: one line, at most MAX_MESSAGE_CHARS characters."""
    message = " ".join(message.split())
    return message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS - 3] + "..."


class BadRequest(Exception):
    """A request refused for its shape: `status` (4xx), `reason` (a code) and str() (one line)."""

    def __init__(self, message: str, reason: str = "BAD_REQUEST", status: int = 400):
        super().__init__(one_line(message))
        self.reason, self.status = reason, status


def too_large(declared: str = "") -> BadRequest:
    said = f" (Content-Length: {declared})" if declared else ""
    return BadRequest(f"body exceeds the limit of {MAX_BODY_BYTES} bytes{said}", "BODY_TOO_LARGE", 413)


async def read_body(receive, content_length: str | None = None) -> bytes:
    """The body, refused (413) as soon as it is known to exceed MAX_BODY_BYTES: by its declared
    length before reading, else while reading, so memory stays bounded."""
    if content_length and re.fullmatch(r"[0-9]{1,30}", content_length.strip()) and int(content_length) > MAX_BODY_BYTES:
        raise too_large(content_length.strip())
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large()
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


# Depth is counted on the raw bytes at C speed (UTF-8: these ASCII bytes never occur inside a
# multi-byte character): escaped backslashes and quotes out, then only quotes and brackets kept;
# a bracket counts when an even number of quotes precedes it (outside strings).
_KEPT = bytes(b for b in range(256) if b not in b'"[]{}')
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord("["), ord("{")]], _STEP[[ord("]"), ord("}")]] = 1, -1


def nesting(raw: bytes) -> int:
    """How deep the JSON text nests arrays and objects (malformed text may count high: it is refused anyway)."""
    tokens = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _KEPT)
    chars = np.frombuffer(tokens, dtype=np.uint8)
    steps = _STEP[chars]
    steps[(np.cumsum(chars == ord('"'), dtype=np.int32) & 1).astype(bool)] = 0  # inside a string
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise BadRequest(f"an integer of {len(text.lstrip('-'))} digits; at most {MAX_INTEGER_DIGITS}",
                         "NUMBER_OUT_OF_RANGE")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest(f"number {text[:40]} is out of range", "NUMBER_OUT_OF_RANGE")
    return value


def _constant(text: str):
    raise BadRequest(f"{text} is not a JSON number", "NUMBER_OUT_OF_RANGE")


def parse_body(raw: bytes) -> dict:
    """The body as a JSON object, or BadRequest."""
    if len(raw) > MAX_BODY_BYTES:
        raise too_large()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest(f"body is not UTF-8: {e.reason} at byte {e.start}", "INVALID_JSON") from None
    # Text cannot nest deeper than it opens: counting openers (C speed) spares most bodies the exact walk.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and nesting(raw) > MAX_JSON_DEPTH:
        raise BadRequest(f"JSON nests deeper than {MAX_JSON_DEPTH} levels", "JSON_TOO_DEEP")
    try:
        body = json.loads(text or "null", parse_int=_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as e:
        raise BadRequest(f"body is not valid JSON: {e}", "INVALID_JSON") from None
    except RecursionError:  # not reached below MAX_JSON_DEPTH; kept so no text can crash the parser
        raise BadRequest(f"JSON nests deeper than {MAX_JSON_DEPTH} levels", "JSON_TOO_DEEP") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", "NOT_AN_OBJECT")
    if "\\u" in text:  # only an escape can make a lone surrogate, which no tokenizer can encode
        try:
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest("body has a lone UTF-16 surrogate (\\ud800-\\udfff) in a string", "INVALID_JSON") from None
    return body
