"""On-demand mode's prefetch on approval (SageMaker's `preload` intent): every adapter version the
live manifest lists is fetched into the disk cache in the background as soon as this container reads
the manifest, and loaded into a free CPU-tier slot of the engine if there is one, so that the first
request for it pays neither the download nor the validation.

Bounds: at most `concurrency` fetches at once; one attempt per (adapter, sha256), up to
MAX_ATTEMPTS, RETRY_GAP_SECONDS apart, for a transient failure (a failed one is left to the first
request); the disk budget: a bulk change (the first read of a new container, or
more than APPROVALS_PER_READ new versions at once: a restored manifest, every adapter re-attached)
only fills free room and stops at the first adapter that does not fit; a few new versions (approvals)
may evict idle adapters, never pinned ones or ones in use. The manifest is re-read every TTL even
without traffic (a 304 when unchanged). After each pass, `reporter` says which manifest was taken up
and which versions failed (instance_report.py): the control plane marks a version live on it."""
import asyncio
import logging
import time
from typing import Awaitable, Callable

from loraplane_core.adapters.reasons import AdapterRejected

from . import metrics, names
from .body import one_line
from .cache import AdapterNotFound, NoRoom, Spare
from .instance_report import InstanceReporter, PrefetchFailures
from .live import LiveGate, NotLive
from .manifest import ManifestUnavailable

log = logging.getLogger("loraplane.serving")

DEFAULT_CONCURRENCY = 2
MAX_ATTEMPTS = 3  # prefetches of one version before a transient failure is reported
RETRY_GAP_SECONDS = 30.0  # between two of them: a throttling episode of a minute is ridden out
PERMANENT = (AdapterRejected, AdapterNotFound)  # the adapter is invalid or not there: reported at once
APPROVALS_PER_READ = 4  # more new versions than this in one manifest read: a bulk change
MIN_INTERVAL = 1.0  # seconds between two reads, whatever the TTL
OUTCOMES = ("loaded", "fetched", "resident", "no_room", "not_live", "failed")


def due(live: dict[str, str], seen: dict[str, str]) -> list[str]:
    """Adapters (name -> live sha256, in manifest order) whose live version no pass has taken up yet."""
    return [name for name, sha in live.items() if seen.get(name) != sha]


def is_bulk(first_pass: bool, new_versions: int) -> bool:
    return first_pass or new_versions > APPROVALS_PER_READ


def spare_for(bulk: bool, in_use: Spare) -> Spare:
    """What a prefetch must not evict: anything in a bulk change, else what requests use (pins: always)."""
    return (lambda name: True) if bulk else in_use


class Prefetcher:
    def __init__(self, gate: LiveGate, *, hold: Callable[[str], None], release: Callable[[str], None],
                 in_use: Spare, load: Callable[[str, str], Awaitable[bool]],
                 tidy: Callable[[], Awaitable[None]], concurrency: int = DEFAULT_CONCURRENCY,
                 reporter: InstanceReporter | None = None):
        """hold/release: the adapter is in use (its folder stays) between them; load(name, folder):
        into the engine if it has a free slot, True if loaded; tidy(): retired folders go;
        reporter: told after each pass what it took up (None: a local manifest, no report)."""
        self.gate, self.hold, self.release, self.in_use = gate, hold, release, in_use
        self.load, self.tidy, self.concurrency, self.reporter = load, tidy, max(1, concurrency), reporter
        self.seen: dict[str, str] = {}  # name -> sha256 taken up; only names the manifest lists
        self.failed: PrefetchFailures = {}  # name -> (sha256, why) of live versions that could not be fetched
        # (name, sha256) -> (failed prefetches, not tried again before: clock) of live versions
        self.retries: dict[tuple[str, str], tuple[int, float]] = {}
        self.retry_gap, self.clock = RETRY_GAP_SECONDS, time.monotonic
        self.taken_up: str | None = None  # ETag of the last manifest whose every due version was tried
        self.passes = 0

    async def run(self) -> None:
        await asyncio.gather(self.passes_forever(), *([self.reporter.keep_alive()] if self.reporter else []))

    async def passes_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as e:  # noqa: BLE001 - the next pass tries again; requests still fetch
                log.warning("adapter prefetch pass failed: %s", e)
            await asyncio.sleep(max(self.gate.manifest.ttl, MIN_INTERVAL))

    async def run_once(self) -> dict[str, str]:
        """One pass over the manifest: name -> outcome of each prefetch it started."""
        try:
            await self.gate.manifest.current()
        except ManifestUnavailable:
            return {}
        manifest, etag = self.gate.manifest.tagged()  # the pair: what this pass takes up is reported
        live = {name: adapter.sha256 for name, adapter in manifest.adapters.items()}
        self.seen = {name: sha for name, sha in self.seen.items() if live.get(name) == sha}
        self.retries = {key: r for key, r in self.retries.items() if live.get(key[0]) == key[1]}
        now = self.clock()
        todo = [name for name in due(live, self.seen) if self.retries.get((name, live[name]), (0, 0.0))[1] <= now]
        # a failure stands while its version is live and no request has fetched it since
        self.failed = {name: f for name, f in self.failed.items()
                       if live.get(name) == f[0] != self.gate.cache.resident_sha256(name)}
        new_versions = sum((name, live[name]) not in self.retries for name in todo)  # retries are not new
        bulk, self.passes = is_bulk(self.passes == 0, new_versions), self.passes + 1
        spare, queue = spare_for(bulk, self.in_use), iter(todo)
        outcomes: dict[str, str] = {}

        async def worker() -> None:
            for name in queue:  # shared by the workers: each name once
                self.seen[name] = live[name]
                self.failed.pop(name, None)
                outcomes[name] = await self.prefetch(name, live[name], spare)
                metrics.PREFETCHES.labels(outcomes[name]).inc()
                if bulk and outcomes[name] == "no_room":
                    return  # a bulk change fills free room only: the rest would not fit either
        await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        if bulk:  # the ones left after the cache filled up are not taken up again (retries: tried again)
            self.seen.update({name: live[name] for name in queue if (name, live[name]) not in self.retries})
        await self.tidy()
        if not due(live, self.seen):  # nothing left to retry: this manifest is taken up
            self.taken_up = etag
        if self.reporter is not None:
            await self.reporter.report(self.taken_up, self.failed)
        return outcomes

    def note_failure(self, name: str, sha256: str, reason: str, permanent: bool) -> None:
        """A bad or missing adapter is reported at once; anything else (S3, KMS, the disk, a version
        still being published) is tried again RETRY_GAP_SECONDS later, and reported after MAX_ATTEMPTS."""
        tries = self.retries.get((name, sha256), (0, 0.0))[0] + 1
        self.retries[(name, sha256)] = (tries, self.clock() + self.retry_gap)
        if permanent or tries >= MAX_ATTEMPTS:
            self.failed[name] = (sha256, reason)  # the newest last: a report keeps the latest
        else:
            self.seen.pop(name, None)  # due again once the gap has passed

    async def prefetch(self, name: str, sha256: str, spare: Spare) -> str:
        self.hold(name)
        try:
            entry, hit = await self.gate.get(name, spare)
            if not hit:
                label = metrics.adapter_label(name)
                metrics.FETCHES.labels(label).inc()
                metrics.FETCH_SECONDS.labels(label).observe(entry.fetch_seconds)
            if name not in self.gate.cache.resident():
                return "no_room"  # it no longer fitted when it landed (requests came meanwhile)
            if await self.load(name, entry.path):
                return "loaded"
            return "resident" if hit else "fetched"
        except NoRoom:
            return "no_room"
        except NotLive:
            return "not_live"  # retired since the manifest was read
        except Exception as e:  # noqa: BLE001 - VersionMismatch, a bad adapter, S3: the first request reports it
            reason = one_line(str(e)) or type(e).__name__
            log.warning("prefetch of adapter %s failed: %s", names.shown(name), reason)
            self.note_failure(name, sha256, reason, isinstance(e, PERMANENT))
            return "failed"
        finally:
            self.release(name)
