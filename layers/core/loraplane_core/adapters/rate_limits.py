"""Per-adapter rate limits as settings: requests per second and generated tokens per minute.

One bounded parser for every place a limit comes from, all of them untrusted text: the serving
container's environment (LORAPLANE_ADAPTER_RPS / _TPM, from `loraplane serve` flags or the stack's
AdapterRequestsPerSecond / AdapterTokensPerMinute), an adapter version's model package metadata
(`requests_per_second` / `tokens_per_minute`), and the live manifest that carries those to the
container. Any input ends in a value or a `LimitRejected` naming why; 0 means unlimited."""
import math
import re

# Model package CustomerMetadataProperties keys a team may set on an adapter version.
METADATA_RPS = "requests_per_second"
METADATA_TPM = "tokens_per_minute"

MAX_RPS = 100_000  # far above what one instance serves; anything larger is a typo
MAX_TPM = 1_000_000_000
MAX_TEXT = 32  # characters of a limit given as text
_DECIMAL = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,6})?")  # no sign, exponent, inf/nan, "_" or spaces inside
_INTEGER = re.compile(r"[0-9]{1,10}")


class LimitRejected(ValueError):
    """A limit that is not a number in range: `reason` is NOT_A_NUMBER or OUT_OF_RANGE."""

    def __init__(self, setting: str, reason: str, message: str):
        super().__init__(f"{setting}: {message}")
        self.setting, self.reason = setting, reason


def _text(setting: str, value) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise LimitRejected(setting, "NOT_A_NUMBER", f"must be a number, not {type(value).__name__}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LimitRejected(setting, "NOT_A_NUMBER", "must be a finite number")
        if value < 0 or value > MAX_TPM or 0 < value < 1e-6:
            raise LimitRejected(setting, "OUT_OF_RANGE", "must be 0 or more and within the limit's range")
        value = rps_text(value)
    text = str(value).strip()
    if len(text) > MAX_TEXT:
        raise LimitRejected(setting, "NOT_A_NUMBER", f"is {len(text)} characters; a limit has at most {MAX_TEXT}")
    return text


def parse_rps(value, setting: str = "requests per second") -> float:
    """Requests per second: 0 (unlimited) or a decimal in (0, MAX_RPS], at most 6 decimals (0.5: one
    request every 2 s). Empty text is 0."""
    text = _text(setting, value)
    if text == "":
        return 0.0
    if not _DECIMAL.fullmatch(text):
        raise LimitRejected(setting, "NOT_A_NUMBER", f"{text!r} is not a decimal number such as 5 or 0.5")
    rps = float(text)
    if rps > MAX_RPS or 0 < rps < 1e-6:
        raise LimitRejected(setting, "OUT_OF_RANGE", f"{text} is outside 0 (unlimited) .. {MAX_RPS}")
    return rps


def parse_tpm(value, setting: str = "tokens per minute") -> int:
    """Generated tokens per minute: 0 (unlimited) or an integer in [1, MAX_TPM]. Empty text is 0."""
    text = _text(setting, value)
    if text == "":
        return 0
    if re.fullmatch(r"[0-9]{1,10}\.0*", text):  # 6000.0 from a float
        text = text.split(".")[0]
    if not _INTEGER.fullmatch(text):
        raise LimitRejected(setting, "NOT_A_NUMBER", f"{text!r} is not a whole number of tokens")
    tpm = int(text)
    if tpm > MAX_TPM:
        raise LimitRejected(setting, "OUT_OF_RANGE", f"{text} is above {MAX_TPM}")
    return tpm


def rps_text(rps: float) -> str:
    """A parsed rps as text parse_rps reads back (never an exponent: 1e-06 is not a limit's text)."""
    return f"{rps:.6f}".rstrip("0").rstrip(".")


def from_metadata(props) -> tuple[float | None, int | None, list[str]]:
    """(rps, tpm, problems) from a model package's CustomerMetadataProperties: None where the key is
    absent or its value rejected (the stack's default then applies); problems name each rejection."""
    props = props if isinstance(props, dict) else {}
    rps = tpm = None
    problems = []
    if METADATA_RPS in props:
        try:
            rps = parse_rps(props[METADATA_RPS], METADATA_RPS)
        except LimitRejected as e:
            problems.append(f"{e.reason}: {e}")
    if METADATA_TPM in props:
        try:
            tpm = parse_tpm(props[METADATA_TPM], METADATA_TPM)
        except LimitRejected as e:
            problems.append(f"{e.reason}: {e}")
    return rps, tpm, problems
