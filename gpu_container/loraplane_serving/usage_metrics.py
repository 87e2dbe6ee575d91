"""Per-adapter CloudWatch metrics from the serving process, in the embedded metric format (EMF).

SageMaker sends a container's stdout to CloudWatch Logs (/aws/sagemaker/Endpoints/<endpoint>), and CloudWatch
Logs turns each log event that is an EMF document into metric data points (the specification:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html;
no header or agent is needed: .../CloudWatch_Embedded_Metric_Format_Generation_PutLogEvents.html). So every
LORAPLANE_METRICS_FLUSH_SECONDS (`serve --sagemaker`: 60 by default; 0 or unset: off) the server prints one EMF
line per adapter that saw traffic, with that interval's sums (never a line per request), and one per residency
tier. Powertools' EMF provider writes the documents (it validates them against the specification's limits).

Where the numbers come from:
- requests, cache hits and misses, errors (rate-limit refusals included): the Prometheus counters of
  metrics.py, read at each flush (their growth since the last one), so /metrics and CloudWatch agree;
  requests for the base model, which those do not count, are counted as they are answered;
- prompt and generated tokens: the `usage` of vLLM's OpenAI answers, read on their way out (`Metered`).
  A stream carries usage only when the client asked for it (stream_options.include_usage): other streamed
  answers are counted as requests without tokens;
- load latency: each cold load's seconds (`observe_load`).
Dimension values are as bounded as the Prometheus labels: names the server has found (an inference
component's name maps back to its adapter), `_base` for the base model, `_invalid` / `_unknown` for refusals;
past MAX_ADAPTERS names in one interval the rest count under `_other`.
"""
import asyncio
import json
import logging
import math
import os
import sys
import threading
import time
from collections import Counter

from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from loraplane_core.endpoint_names import adapter_of_component

from . import metrics, names

log = logging.getLogger("loraplane.serving")

NAMESPACE = "LoRAPlane/Serving"
BASE = "_base"  # requests for the base model (adapter names never start with "_")
RESERVED = frozenset({BASE, metrics.INVALID, metrics.UNKNOWN, metrics.OTHER})
ADAPTER_DIMENSIONS = ("EndpointName", "Adapter")  # EndpointName only when the container knows it
TIER_DIMENSIONS = ("EndpointName", "Tier")
# metric -> unit; every per-adapter one has ADAPTER_DIMENSIONS, ResidentAdapters has TIER_DIMENSIONS
METRICS = {"Requests": "Count", "PromptTokens": "Count", "GeneratedTokens": "Count", "Errors": "Count",
           "CacheHits": "Count", "CacheMisses": "Count", "LoadSeconds": "Seconds", "ResidentAdapters": "Count"}
COUNTERS = {"Requests": metrics.REQUESTS, "CacheHits": metrics.HITS, "CacheMisses": metrics.MISSES,
            "Errors": metrics.ERRORS, "RateLimited": metrics.RATE_LIMITED}  # RateLimited adds to Errors
MAX_ADAPTERS = 200  # adapters with their own document per interval
MAX_VALUES = 50  # load times kept per adapter and interval (Powertools prints a document itself at 100)
MAX_JSON = 4 * 2**20  # bytes of a non-streamed answer read for its usage
MAX_SSE_LINE = 64 * 2**10  # a longer server-sent event line is skipped (usage lines are short)
SCOPE_KEY = "loraplane.metered"  # set by the middleware on requests whose answer is metered


class Window:
    """One interval's sums per adapter, with at most max_adapters (+ `_other`) of them."""

    def __init__(self, max_adapters: int = MAX_ADAPTERS):
        self.max_adapters = max_adapters
        self.sums: dict[str, Counter] = {}
        self.loads: dict[str, list[float]] = {}

    def key(self, adapter: str) -> str:
        if adapter in self.sums or len(self.sums) < self.max_adapters:
            return adapter
        return metrics.OTHER

    def add(self, adapter: str, metric: str, value: float) -> None:
        self.sums.setdefault(self.key(adapter), Counter())[metric] += value

    def observe(self, adapter: str, seconds: float) -> None:
        key = self.key(adapter)
        self.sums.setdefault(key, Counter())
        values = self.loads.setdefault(key, [])
        if len(values) < MAX_VALUES:
            values.append(seconds)


def dimension_value(label: str, endpoint: str | None) -> str:
    """The Adapter dimension of a metric label: the adapter of an inference component of this endpoint."""
    if label in RESERVED:
        return label
    if not names.is_component_name(label):  # labels are found names; this is a second fence
        return metrics.INVALID
    return (endpoint and adapter_of_component(endpoint, label)) or label


def emf(dimensions: dict[str, str], values: dict[str, list[float]], timestamp_ms: int) -> dict:
    """One EMF document (Powertools' serializer): these dimensions, these metrics' values."""
    doc = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service="")  # "": no `service` dimension
    for name, value in dimensions.items():
        doc.add_dimension(name, value)
    for name, points in values.items():
        for point in points:
            doc.add_metric(name, METRICS[name], point)
    doc.set_timestamp(timestamp_ms)
    return doc.serialize_metric_set()


def documents(window: Window, endpoint: str | None, timestamp_ms: int,
              resident: dict[str, int] | None = None) -> list[dict]:
    where = {"EndpointName": endpoint} if endpoint else {}
    docs = []
    for adapter, sums in sorted(window.sums.items()):
        values = {name: [float(v)] for name, v in sorted(sums.items()) if v > 0}
        if window.loads.get(adapter):
            values["LoadSeconds"] = window.loads[adapter]
        if values:
            docs.append(emf({**where, "Adapter": adapter}, values, timestamp_ms))
    for tier, count in sorted((resident or {}).items()):
        docs.append(emf({**where, "Tier": tier}, {"ResidentAdapters": [float(count)]}, timestamp_ms))
    return docs


def counter_totals(counter) -> dict[str, float]:
    """A Prometheus counter's totals per `adapter` label (other labels summed)."""
    totals: Counter = Counter()
    for family in counter.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                totals[sample.labels["adapter"]] += sample.value
    return totals



def _write_line(line: str) -> None:
    """One write per document (print() writes the text and the newline apart: another writer's output
    could land between them and spoil the JSON line CloudWatch reads)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()

class Publisher:
    def __init__(self, endpoint: str | None = None, write=None, max_adapters: int = MAX_ADAPTERS, clock=time.time):
        self.endpoint, self.max_adapters, self.clock = endpoint, max_adapters, clock
        self.write = write or _write_line
        self.window = Window(max_adapters)
        self.lock = threading.Lock()
        self.last: dict[tuple[str, str], float] = {}  # (counter, label) -> total at the last flush
        self.counter_growth()  # counted from now on

    def add(self, label: str, metric: str, value: float) -> None:
        with self.lock:
            self.window.add(dimension_value(label, self.endpoint), metric, value)

    def record_usage(self, adapter: str, usage: dict) -> None:
        label = adapter if adapter in RESERVED else metrics.adapter_label(adapter)
        for field, metric in (("prompt_tokens", "PromptTokens"), ("completion_tokens", "GeneratedTokens")):
            count = usage.get(field)
            if isinstance(count, int) and not isinstance(count, bool) and 0 < count < 2**53:
                self.add(label, metric, count)

    def observe_load(self, adapter: str, seconds: float) -> None:
        if math.isfinite(seconds) and seconds >= 0:
            with self.lock:
                self.window.observe(dimension_value(metrics.adapter_label(adapter), self.endpoint), seconds)

    def counter_growth(self) -> list[tuple[str, str, float]]:
        grown = []
        for metric, counter in COUNTERS.items():
            for label, total in counter_totals(counter).items():
                before = self.last.get((metric, label), 0.0)
                self.last[(metric, label)] = total
                if total > before:
                    grown.append(("Errors" if metric == "RateLimited" else metric, label, total - before))
        return grown

    def flush(self, resident: dict[str, int] | None = None) -> list[dict]:
        """Print this interval's documents and start the next interval."""
        with self.lock:
            grown = self.counter_growth()
            window, self.window = self.window, Window(self.max_adapters)
        for metric, label, value in grown:
            window.add(dimension_value(label, self.endpoint), metric, value)
        docs = documents(window, self.endpoint, int(self.clock() * 1000), resident)
        for doc in docs:
            self.write(json.dumps(doc, separators=(",", ":")))
        return docs


def flush_seconds(env=os.environ) -> float:
    try:
        value = float(env.get("LORAPLANE_METRICS_FLUSH_SECONDS") or 0)
    except ValueError:
        log.warning("LORAPLANE_METRICS_FLUSH_SECONDS is not a number: EMF metrics are off")
        return 0.0
    return value if math.isfinite(value) and value > 0 else 0.0


_publisher: Publisher | None = None
_configured = False
_lock = threading.Lock()


def get() -> Publisher | None:
    """The process's publisher, or None when EMF metrics are off."""
    global _publisher, _configured
    with _lock:
        if not _configured:
            _configured = True
            if flush_seconds():
                _publisher = Publisher(os.environ.get("LORAPLANE_ENDPOINT_NAME") or None)
        return _publisher


def observe_load(adapter: str, seconds: float) -> None:
    if (publisher := get()) is not None:
        publisher.observe_load(adapter, seconds)


async def resident(scope) -> dict[str, int]:
    """Adapters per tier: `disk` (our cache), `engine` (vLLM's GPU and CPU tiers together: which of them
    holds a GPU slot at a moment is vLLM's scheduler's business and not exposed)."""
    from . import runtime

    tiers = {"disk": len(runtime.get().cache.resident())}
    try:
        tiers["engine"] = len(await scope["app"].state.openai_serving_models.engine_client.list_loras())
    except Exception:  # noqa: BLE001 - metrics never fail the server
        pass
    return tiers


async def run(scope) -> None:
    """The flush loop (a task the middleware starts once the server is up)."""
    publisher, interval = get(), flush_seconds()
    while publisher is not None:
        await asyncio.sleep(interval)
        try:
            publisher.flush(await resident(scope))
        except Exception:  # noqa: BLE001 - metrics never fail the server
            log.exception("EMF metrics flush failed")


def flush_at_exit() -> None:
    if (publisher := get()) is not None:
        try:
            publisher.flush()
        except Exception:  # noqa: BLE001
            log.exception("EMF metrics flush failed")


class UsageReader:
    """Reads `usage` from an answer as it is sent: a JSON body, or the server-sent events of a stream
    (the last usage seen: with continuous_usage_stats every event has the running total)."""

    def __init__(self):
        self.kind: str | None = None
        self.parts: list[bytes] = []
        self.size = 0
        self.line = b""
        self.usage: dict | None = None

    def feed(self, message) -> None:
        if message["type"] == "http.response.start":
            content_type = dict(message.get("headers") or []).get(b"content-type", b"")
            ok = message.get("status") == 200
            self.kind = ("sse" if content_type.startswith(b"text/event-stream") else
                         "json" if content_type.startswith(b"application/json") else None) if ok else None
        elif message["type"] == "http.response.body" and self.kind:
            body = message.get("body", b"")
            self.json_part(body, message.get("more_body", False)) if self.kind == "json" else self.sse_part(body)

    def json_part(self, body: bytes, more: bool) -> None:
        self.size += len(body)
        if self.size > MAX_JSON:
            self.kind, self.parts = None, []
            return
        self.parts.append(body)
        if not more:
            self.take(b"".join(self.parts))

    def sse_part(self, body: bytes) -> None:
        lines = (self.line + body).split(b"\n")
        self.line = lines.pop()
        if len(self.line) > MAX_SSE_LINE:
            self.line = b""
        for line in lines:
            if line.startswith(b"data:") and b'"usage"' in line and len(line) <= MAX_SSE_LINE:
                self.take(line[5:].strip())

    def take(self, raw: bytes) -> None:
        try:
            answer = json.loads(raw)
        except ValueError:
            return
        if isinstance(answer, dict) and isinstance(answer.get("usage"), dict):
            self.usage = answer["usage"]


class Metered:
    """vLLM's app, with the answers to requests the middleware marked (scope[SCOPE_KEY] = adapter or BASE)
    read for their token usage."""

    def __init__(self, app):
        self.app = app

    def __getattr__(self, name):  # the wrapped app's attributes (state, routes, ...) stay reachable
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send):
        adapter = scope.get(SCOPE_KEY) if scope.get("type") == "http" else None
        publisher = get() if adapter else None
        if publisher is None:
            return await self.app(scope, receive, send)
        reader = UsageReader()

        async def watch(message):
            reader.feed(message)
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if adapter == BASE:  # adapters' requests are counted by the middleware (metrics.REQUESTS)
                publisher.add(BASE, "Requests", 1)
            if reader.usage:
                publisher.record_usage(adapter, reader.usage)
