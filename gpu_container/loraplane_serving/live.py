"""On-demand mode: an adapter is served only at the version the live manifest names (by the
sha256 of its weights), so a version the control plane has retired stops being served within
the manifest's TTL. Adapters registered through POST /adapters are not governed by the manifest."""
import time

from .cache import AdapterCache, AdapterNotFound, Entry, Spare
from .manifest import LiveManifest


class NotLive(AdapterNotFound):
    """Not in the live manifest (answered as not found)."""


class VersionMismatch(Exception):
    def __init__(self, name: str, live: str, fetched: str):
        super().__init__(f"adapter '{name}' is being published: its weights (sha256 {fetched[:12]}) "
                         f"do not match the live manifest's ({live[:12]}) yet")
        self.name, self.live, self.fetched = name, live, fetched


class LiveGate:
    def __init__(self, cache: AdapterCache, manifest: LiveManifest, clock=time.monotonic):
        self.cache, self.manifest, self.clock = cache, manifest, clock
        # name -> (manifest sha, fetched sha, when): a mismatch is answered from here for one TTL,
        # so a wrong manifest costs two downloads per TTL, not two per request.
        self._mismatch: dict[str, tuple[str, str, float]] = {}

    async def get(self, name: str, spare: Spare | None = None) -> tuple[Entry, bool]:
        """(entry, hit) as AdapterCache.get (`spare`: a prefetch's). Raises NotLive (any cached copy
        dropped), VersionMismatch, ManifestUnavailable, or what the cache raises."""
        if name in self.cache.sources:
            return await self.cache.get(name, spare)
        live = await self._live(name)
        known = self._mismatch.get(name)
        if known and known[0] == live and self.clock() - known[2] < self.manifest.ttl:
            raise VersionMismatch(name, live, known[1])
        entry, hit = await self.cache.get(name, spare)
        if entry.adapter.sha256 != live and hit:  # the cached copy is a version no longer live
            self.cache.drop(name, entry)
            entry, hit = await self.cache.get(name, spare)
        if entry.adapter.sha256 != live:
            # The live prefix and the manifest disagree: a publish is under way. Re-read both once.
            self.cache.drop(name, entry)
            live = await self._live(name, force=True)
            entry, hit = await self.cache.get(name, spare)
            if entry.adapter.sha256 != live:
                self.cache.drop(name, entry)
                self._mismatch[name] = (live, entry.adapter.sha256, self.clock())
                raise VersionMismatch(name, live, entry.adapter.sha256)
        self._mismatch.pop(name, None)
        return entry, hit

    async def _live(self, name: str, force: bool = False) -> str:
        adapter = (await self.manifest.current(force)).adapters.get(name)
        if adapter is None:
            self.cache.drop(name)
            raise NotLive(name)
        return adapter.sha256
