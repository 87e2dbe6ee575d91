"""The serving process's shared state (adapter cache, settings), built once from the environment
that `loraplane serve` / the container's `serve` sets. vLLM's resolver plugin and our middleware
run in the same process and share it."""
import logging
import os
import re
import threading
from dataclasses import dataclass, field

from loraplane_core.adapters.base_profile import BaseModelProfile
from loraplane_core.adapters.validation import Policy

from . import limits, metrics
from .budgets import parse_bytes
from .cache import AdapterCache, Entry
from .live import LiveGate
from .manifest import LiveManifest
from .prefetch import DEFAULT_CONCURRENCY
from .sources import open_source


@dataclass
class Runtime:
    base_name: str
    cache: AdapterCache
    preload: tuple[str, ...] = ()
    live: LiveGate | None = None  # on-demand mode: only what the live manifest names is served
    prefetch_concurrency: int = 0  # on-demand mode: live adapters fetched in the background (0: off)
    remote_admin: bool = False  # admin routes (POST/DELETE /adapters, ...) for non-loopback clients too
    limiter: limits.Limiter = field(default_factory=limits.Limiter)  # default: no limits

    async def adapter(self, name: str) -> tuple[Entry, bool]:
        """(cache entry, hit) for a request naming `name`, through the live manifest if there is one."""
        return await (self.live.get(name) if self.live else self.cache.get(name))

    def admit(self, name: str, body: dict, path: str) -> "limits.Ticket | limits.Refused":
        """Rate limits for a request naming an adapter the server has found: the defaults, or in
        on-demand mode the adapter's own from the live manifest (read by `adapter` just before)."""
        entry = self.live.manifest.peek().adapters.get(name) if self.live and name not in self.cache.sources else None
        own = self.limiter.default.over(entry.requests_per_second, entry.tokens_per_minute) if entry \
            else self.limiter.default
        return self.limiter.admit(name, own, limits.requested_tokens(path, body, self.limiter.model_max))


def prefetch_concurrency(text: str | None) -> int:
    """LORAPLANE_PREFETCH_CONCURRENCY: prefetches at once, 0-16 (0: none); unset: the default."""
    if not (text or "").strip():
        return DEFAULT_CONCURRENCY
    if not re.fullmatch(r"[0-9]{1,2}", text.strip()) or int(text) > 16:
        logging.getLogger("loraplane.serving").warning(
            "LORAPLANE_PREFETCH_CONCURRENCY=%.20r is not 0-16: using %d", text, DEFAULT_CONCURRENCY)
        return DEFAULT_CONCURRENCY
    return int(text)


_runtime: Runtime | None = None
_lock = threading.Lock()


def from_env() -> Runtime:
    env = os.environ
    model_dir = env["LORAPLANE_MODEL_DIR"]
    base_name = env.get("LORAPLANE_BASE_NAME") or os.path.basename(os.path.normpath(model_dir))
    base = BaseModelProfile.from_config_file(base_name, os.path.join(model_dir, "config.json"))
    policy = Policy(max_rank=int(env.get("LORAPLANE_MAX_LORA_RANK", "64")),
                    max_bytes=parse_bytes(env.get("LORAPLANE_MAX_ADAPTER_BYTES", "512MiB")))
    cache = AdapterCache(
        source=open_source(env.get("LORAPLANE_ADAPTER_SOURCE") or os.path.join(model_dir, "adapters")),
        root=env.get("LORAPLANE_CACHE_DIR") or os.path.join("/tmp", "loraplane-adapters"),
        max_bytes=parse_bytes(env.get("LORAPLANE_DISK_CACHE_BYTES", "10GiB")),
        base=base, policy=policy,
        pinned=frozenset(n for n in env.get("LORAPLANE_PINNED_ADAPTERS", "").split(",") if n),
        on_evict=lambda name: metrics.EVICTIONS.labels(metrics.adapter_label(name), "disk").inc(),
    )
    preload = tuple(n for n in env.get("LORAPLANE_PRELOAD_ADAPTERS", "").split(",") if n)
    manifest = LiveManifest.from_env(env)
    return Runtime(base_name=base_name, cache=cache, preload=preload,
                   live=LiveGate(cache, manifest) if manifest else None,
                   prefetch_concurrency=prefetch_concurrency(env.get("LORAPLANE_PREFETCH_CONCURRENCY")),
                   remote_admin=env.get("LORAPLANE_REMOTE_ADMIN") == "1",
                   limiter=limits.Limiter(limits.from_env(env), limits.model_max_tokens(env, model_dir)))


def get() -> Runtime:
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = from_env()
        return _runtime
