"""Per-adapter rate limits, enforced here (each serving process counts its own requests): token
buckets for requests per second and generated tokens per minute. Pure: the clock is injected.

- requests: a bucket of max(1, rps) requests refilled at rps per second, so in any window of T
  seconds at most max(1, rps) + rps x T requests are admitted.
- tokens: a bucket of tpm tokens refilled at tpm / 60 per second. A request is charged up front its
  most generated tokens (max_completion_tokens / max_tokens / TGI max_new_tokens, times n, bounded
  by the model's context length and by the bucket's size; no max given: the bound), because what it
  will generate is unknown until it ends. When a non-streamed answer reports what was generated
  (usage.completion_tokens, TGI details.generated_tokens) the charge is corrected to that; an error
  answer generated nothing and is refunded; a stream keeps the up-front charge (an upper bound).
  Prompt tokens are not counted: they are unknown before vLLM tokenizes the prompt.
Buckets exist only for adapters the server has found (the middleware admits after the adapter check),
and at most MAX_BUCKETS of them: the least recently used is dropped (it starts full when it returns)."""
import json
import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass

from loraplane_core.adapters.rate_limits import parse_rps, parse_tpm

MAX_BUCKETS = 10_000
MAX_CAPTURE = 1 * 2**20  # bytes of a non-streamed answer read for its usage; larger ones keep their charge
GENERATION_PATHS = frozenset({"/invocations", "/v1/completions", "/v1/chat/completions"})
MAX_CHOICES = 128  # `n` counted in a charge (vLLM refuses far fewer anyway)
REQUESTS, TOKENS = "requests_per_second", "tokens_per_minute"  # the `limit` of a refusal


@dataclass(frozen=True)
class Limits:
    rps: float = 0.0  # 0: unlimited
    tpm: int = 0

    def over(self, rps: float | None, tpm: int | None) -> "Limits":
        """These defaults with an adapter's own limits where it has them (None: keep the default)."""
        return Limits(self.rps if rps is None else rps, self.tpm if tpm is None else tpm)


class Bucket:
    def __init__(self, capacity: float, per_second: float, now: float, level: float | None = None):
        self.capacity, self.per_second, self.updated = capacity, per_second, now
        self.level = capacity if level is None else min(level, capacity)

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + max(0.0, now - self.updated) * self.per_second)
        self.updated = max(self.updated, now)

    def wait(self, amount: float) -> float:
        """Seconds until `amount` is available (0: now); call refill first."""
        short = amount - self.level
        return 0.0 if short <= 1e-9 else short / self.per_second


@dataclass(frozen=True)
class Refused:
    limit: str  # REQUESTS or TOKENS
    value: float
    retry_after: int  # whole seconds, at least 1

    def message(self, shown: str) -> str:
        what = (f"{value_text(self.value)} requests per second" if self.limit == REQUESTS
                else f"{value_text(self.value)} generated tokens per minute")
        return f"adapter '{shown}' is over its limit of {what}; retry after {self.retry_after} s"


def value_text(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


class Ticket:
    """An admitted request; its token charge is settled once, from the answer."""

    def __init__(self, bucket: Bucket | None = None, charged: int = 0):
        self.bucket, self.charged, self.settled = bucket, charged, bucket is None or charged == 0

    def settle(self, used: int | None) -> None:
        """Correct the charge to `used` tokens (None: unknown, the charge stands)."""
        if self.settled:
            return
        self.settled = True
        if used is not None:  # may go below 0: a request that used more than charged is paid back later
            self.bucket.level = min(self.bucket.capacity, self.bucket.level + self.charged - used)

    def tap(self, send):
        """`send`, watching the answer for what was generated (only when there is a charge to settle)."""
        if self.settled:
            return send
        seen = {"status": 0, "json": False, "size": 0}
        chunks: list[bytes] = []

        async def tapped(message):
            await send(message)
            if message["type"] == "http.response.start":
                seen["status"] = message.get("status", 0)
                content_type = dict(message.get("headers") or []).get(b"content-type", b"")
                seen["json"] = content_type.startswith(b"application/json")
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                seen["size"] += len(chunk)
                if seen["json"] and seen["size"] <= MAX_CAPTURE:
                    chunks.append(chunk)
                if not message.get("more_body"):
                    readable = seen["json"] and seen["size"] <= MAX_CAPTURE
                    self.settle(used_tokens(seen["status"], b"".join(chunks) if readable else None))
        return tapped


UNLIMITED = Ticket()


def used_tokens(status: int, body: bytes | None) -> int | None:
    """Generated tokens an answer reports: 0 for an error (nothing generated), None when unknown."""
    if status and not 200 <= status < 300:
        return 0
    if body is None:
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    counts = []
    if isinstance(answer, dict):  # OpenAI
        counts = [(answer.get("usage") or {}).get("completion_tokens")] if isinstance(answer.get("usage"), dict) else []
    elif isinstance(answer, list):  # TGI, as the middleware answers it
        counts = [item.get("details", {}).get("generated_tokens") for item in answer
                  if isinstance(item, dict) and isinstance(item.get("details"), dict)]
    if not counts or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
        return None
    return sum(counts)


def requested_tokens(path: str, body: dict, model_max: int | None) -> float:
    """The most tokens a request may generate (math.inf when nothing bounds it); 0 off the generation routes."""
    if path not in GENERATION_PATHS:
        return 0
    ints = [body.get(k) for k in ("max_completion_tokens", "max_tokens")]
    given = next((v for v in ints if isinstance(v, int) and not isinstance(v, bool) and v > 0), None)
    per_choice = min(given or math.inf, model_max or math.inf)
    n = body.get("n")
    choices = n if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_CHOICES else 1
    return per_choice * choices


class Limiter:
    def __init__(self, default: Limits = Limits(), model_max: int | None = None, clock=time.monotonic,
                 max_buckets: int = MAX_BUCKETS):
        self.default, self.model_max, self.clock, self.max_buckets = default, model_max, clock, max_buckets
        # adapter -> (its limits, requests bucket, tokens bucket), least recently used first
        self.buckets: OrderedDict[str, tuple[Limits, Bucket | None, Bucket | None]] = OrderedDict()

    def admit(self, adapter: str, limits: Limits, tokens: float = 0) -> Ticket | Refused:
        """Admit one request of `adapter` that may generate `tokens` (see requested_tokens), or refuse it."""
        if not limits.rps and not limits.tpm:
            self.buckets.pop(adapter, None)
            return UNLIMITED
        now = self.clock()
        requests, token_bucket = self._buckets(adapter, limits, now)
        charge = int(min(tokens, limits.tpm)) if token_bucket else 0
        waits = []
        if requests:
            requests.refill(now)
            waits.append((requests.wait(1), REQUESTS, limits.rps))
        if token_bucket and charge:  # a request generating nothing (/tokenize) passes even a bucket in debt
            token_bucket.refill(now)
            waits.append((token_bucket.wait(charge), TOKENS, limits.tpm))
        wait, limit, value = max(waits, default=(0.0, REQUESTS, 0))
        if wait > 0:
            return Refused(limit, value, max(1, math.ceil(wait)))
        if requests:
            requests.level -= 1
        if token_bucket and charge:
            token_bucket.level -= charge
        return Ticket(token_bucket, charge)

    def _buckets(self, adapter: str, limits: Limits, now: float) -> tuple[Bucket | None, Bucket | None]:
        known = self.buckets.pop(adapter, None)
        if known is None or known[0] != limits:  # new, or its limits changed: levels carry over
            old_requests, old_tokens = (known[1], known[2]) if known else (None, None)
            for old in (old_requests, old_tokens):
                if old:
                    old.refill(now)
            requests = Bucket(max(1.0, limits.rps), limits.rps, now, old_requests and old_requests.level) \
                if limits.rps else None
            tokens = Bucket(float(limits.tpm), limits.tpm / 60, now, old_tokens and old_tokens.level) \
                if limits.tpm else None
            known = (limits, requests, tokens)
        self.buckets[adapter] = known
        while len(self.buckets) > self.max_buckets:
            self.buckets.popitem(last=False)
        return known[1], known[2]


def from_env(env) -> Limits:
    """The defaults of every adapter; a malformed value stops the server at start (LimitRejected names it)."""
    return Limits(parse_rps(env.get("LORAPLANE_ADAPTER_RPS", ""), "LORAPLANE_ADAPTER_RPS"),
                  parse_tpm(env.get("LORAPLANE_ADAPTER_TPM", ""), "LORAPLANE_ADAPTER_TPM"))


def model_max_tokens(env, model_dir: str) -> int | None:
    """The context length bounding a charge: LORAPLANE_MAX_MODEL_LEN, else the model's max_position_embeddings."""
    given = env.get("LORAPLANE_MAX_MODEL_LEN", "")
    if given.isdigit() and 0 < int(given) < 2**31:
        return int(given)
    try:
        with open(os.path.join(model_dir, "config.json"), "rb") as f:
            value = json.load(f).get("max_position_embeddings")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31 else None
