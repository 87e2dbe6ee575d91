"""Per-adapter Prometheus metrics, served by vLLM's own /metrics (the default registry).

Every label value costs memory for the life of the process, so the `adapter` label only ever holds
a name the server has validated and found (see `adapter_label`); everything else is counted under
INVALID or UNKNOWN, and past MAX_ADAPTER_LABELS names under OTHER."""
import threading

from prometheus_client import Counter, Gauge, Histogram

INVALID = "_invalid"  # a name no rule allows
UNKNOWN = "_unknown"  # a valid name that is not (or could not be checked to be) an adapter here
OTHER = "_other"  # a real adapter beyond the label budget
MAX_ADAPTER_LABELS = 1000

REQUESTS = Counter("loraplane_adapter_requests", "Requests naming the adapter", ["adapter"])
HITS = Counter("loraplane_adapter_cache_hits", "Requests whose adapter was already on local disk", ["adapter"])
MISSES = Counter("loraplane_adapter_cache_misses", "Requests that had to fetch their adapter", ["adapter"])
FETCHES = Counter("loraplane_adapter_fetches", "Adapter fetches from the source", ["adapter"])
FETCH_SECONDS = Histogram("loraplane_adapter_fetch_seconds", "Fetch + validation time of an adapter", ["adapter"])
LOAD_SECONDS = Histogram("loraplane_adapter_load_seconds",
                         "First request of a cold adapter: fetch, validation, engine load and inference", ["adapter"])
EVICTIONS = Counter("loraplane_adapter_evictions", "Adapters evicted", ["adapter", "tier"])
ERRORS = Counter("loraplane_adapter_errors", "Requests refused for their adapter", ["adapter", "reason"])
RATE_LIMITED = Counter("loraplane_adapter_rate_limited", "Requests refused (429) by the adapter's rate limit, by "
                       "limit (requests_per_second, tokens_per_minute)", ["adapter", "limit"])
RESIDENT = Gauge("loraplane_resident_adapters", "Adapters resident per tier", ["tier"])
MANIFEST_RELOADS = Counter("loraplane_manifest_reloads", "Reads of the live manifest by outcome "
                           "(read, not_modified, missing, invalid, failed)", ["outcome"])
PREFETCHES = Counter("loraplane_adapter_prefetches", "Background fetches of live adapters by outcome (loaded: "
                     "also into the engine; fetched; resident; no_room; not_live; failed)", ["outcome"])
LIVE_ADAPTERS = Gauge("loraplane_live_adapters", "Adapters in the live manifest in use (0 if it is missing or malformed)")

_labelled: set[str] = set()
_lock = threading.Lock()


def adapter_label(name: str) -> str:
    """The label of an adapter the server has found (fetched, validated or named by the manifest)."""
    with _lock:
        if name in _labelled:
            return name
        if len(_labelled) < MAX_ADAPTER_LABELS:
            _labelled.add(name)
            return name
    return OTHER
