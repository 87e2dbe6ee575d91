"""Per-adapter Prometheus metrics, served by vLLM's own /metrics (the default registry)."""
from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("loraplane_adapter_requests", "Requests naming the adapter", ["adapter"])
HITS = Counter("loraplane_adapter_cache_hits", "Requests whose adapter was already on local disk", ["adapter"])
MISSES = Counter("loraplane_adapter_cache_misses", "Requests that had to fetch their adapter", ["adapter"])
FETCHES = Counter("loraplane_adapter_fetches", "Adapter fetches from the source", ["adapter"])
FETCH_SECONDS = Histogram("loraplane_adapter_fetch_seconds", "Fetch + validation time of an adapter", ["adapter"])
LOAD_SECONDS = Histogram("loraplane_adapter_load_seconds",
                         "First request of a cold adapter: fetch, validation, engine load and inference", ["adapter"])
EVICTIONS = Counter("loraplane_adapter_evictions", "Adapters evicted", ["adapter", "tier"])
ERRORS = Counter("loraplane_adapter_errors", "Requests refused for their adapter", ["adapter", "reason"])
RESIDENT = Gauge("loraplane_resident_adapters", "Adapters resident per tier", ["tier"])
MANIFEST_RELOADS = Counter("loraplane_manifest_reloads", "Reads of the live manifest by outcome "
                           "(read, not_modified, missing, invalid, failed)", ["outcome"])
LIVE_ADAPTERS = Gauge("loraplane_live_adapters", "Adapters in the live manifest in use (0 if it is missing or malformed)")
