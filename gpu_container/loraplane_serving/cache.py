"""The adapter disk cache: fetch on first use (one fetch however many requests wait for it),
validate with the ingest rules, keep within a byte budget by evicting the least recently used
adapter that is not pinned.

A fetch streams each file into the cache folder's staging copy (the weights hashed and their header
read as they are written, an archive extracted as it arrives) and renames the folder into place; the
engine loads it from there. Nothing is copied or read twice.

A prefetch (prefetch.py) passes `spare`: the adapters it must not evict; if the adapter does not fit
beside them it raises NoRoom after the listing, before any download.

An evicted (or forgotten) adapter leaves the index at once, so the next request fetches it again
into a new folder; its old folder is only *retired*: vLLM may still read it (its CPU tier reloads
adapters from disk) until the serving layer has dropped the adapter from the engine and no request
that uses it is in flight. `take_retired` hands such folders over for that.
"""
import asyncio
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable

from loraplane_core.adapters.base_profile import BaseModelProfile
from loraplane_core.adapters.upload_layout import ARCHIVE_FILE, CONFIG_FILE, WEIGHTS_FILE
from loraplane_core.adapters.staging import stage_streams
from loraplane_core.adapters.validation import Policy, ValidatedAdapter, validate_adapter_dir

from . import names
from .sources import AdapterSource


class AdapterNotFound(Exception):
    def __init__(self, name: str):
        super().__init__(f"adapter '{name}' not found")
        self.name = name


class NoRoom(Exception):
    """A prefetch's adapter does not fit in the disk budget beside the adapters it must spare."""

    def __init__(self, name: str, size: int, room: int):
        super().__init__(f"adapter '{name}' ({size} bytes) does not fit in the {room} bytes a prefetch may use")
        self.name, self.size, self.room = name, size, room


Spare = Callable[[str], bool]  # names a prefetch must not evict (pinned ones never are)


@dataclass
class Entry:
    name: str
    path: str
    size: int
    adapter: ValidatedAdapter
    fetch_seconds: float
    pinned: bool = False
    loaded_at: float = field(default_factory=time.time)


class AdapterCache:
    def __init__(self, source: AdapterSource, root: str, max_bytes: int, base: BaseModelProfile, policy: Policy,
                 pinned: frozenset[str] = frozenset(), on_evict: Callable[[str], None] | None = None):
        self.source, self.root, self.max_bytes = source, root, max_bytes
        self.base, self.policy, self.pinned = base, policy, set(pinned)
        self.on_evict = on_evict or (lambda name: None)
        self.sources: dict[str, AdapterSource] = {}  # per-adapter sources (POST /adapters src)
        self._entries: OrderedDict[str, Entry] = OrderedDict()  # least recently used first
        self._inflight: dict[str, asyncio.Task] = {}
        self._generation: Counter[str] = Counter()  # bumped by forget(): a fetch started before is void
        self._lock = threading.Lock()
        self.evicted: deque[str] = deque(maxlen=1000)  # the latest evictions, in order (bounded: months of churn)
        self._retired: list[tuple[str, str]] = []  # (name, folder) no longer indexed, not yet deleted
        os.makedirs(os.path.join(root, ".staging"), exist_ok=True)

    # -- lookups -------------------------------------------------------------------------------
    def resident(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    def resident_sha256(self, name: str) -> str | None:
        """The sha256 of the weights cached under `name` (None: not cached); no LRU touch."""
        with self._lock:
            entry = self._entries.get(name)
            return entry.adapter.sha256 if entry else None

    async def get(self, name: str, spare: Spare | None = None) -> tuple[Entry, bool]:
        """(entry, hit). Raises AdapterNotFound, AdapterRejected, the source's error, or (only with
        `spare`, a prefetch) NoRoom. The fetch runs as its own task: a waiter that is cancelled
        (client gone) does not cancel it."""
        # Registered inference components go by their component name; the rest by adapter name.
        # Either rule also keeps names from escaping the cache directory.
        names.check(name, component=name in self.sources)
        with self._lock:
            if name in self._entries:
                self._entries.move_to_end(name)
                return self._entries[name], True
        task = self._inflight.get(name)
        if task is None:
            fetch = asyncio.to_thread(self._fetch, name, self._generation[name], spare)
            task = asyncio.get_running_loop().create_task(fetch)
            self._inflight[name] = task
            task.add_done_callback(lambda t: self._fetch_done(name, t))
        try:
            return await asyncio.shield(task), False
        except NoRoom:
            if spare is not None:
                raise
        # A request joined a prefetch that found no room: a request's fetch may evict.
        if self._inflight.get(name) is task:
            del self._inflight[name]
        return await self.get(name)

    def _fetch_done(self, name: str, task: asyncio.Task) -> None:
        if self._inflight.get(name) is task:
            del self._inflight[name]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter re-raises it itself

    # -- changes -------------------------------------------------------------------------------
    def pin(self, name: str) -> None:
        self.pinned.add(name)
        with self._lock:
            if name in self._entries:
                self._entries[name].pinned = True

    def forget(self, name: str) -> bool:
        with self._lock:
            if name in self._inflight:  # only a fetch under way needs voiding (and names must not pile up)
                self._generation[name] += 1
            entry = self._entries.pop(name, None)
            if entry:
                self._retired.append((name, entry.path))
        self._inflight.pop(name, None)  # a fetch under way finishes, but lands as retired
        self.pinned.discard(name)
        return entry is not None

    def drop(self, name: str, entry: Entry | None = None) -> bool:
        """Retire the indexed copy (only if it is still `entry`, when given) so that the next get
        fetches again; unlike forget, the pin and a fetch under way stay (a version change, not a delete)."""
        with self._lock:
            current = self._entries.get(name)
            if current is None or (entry is not None and current is not entry):
                return False
            del self._entries[name]
            self._retired.append((name, current.path))
        return True

    def retire(self, name: str, folder: str) -> None:
        with self._lock:
            self._retired.append((name, folder))

    def take_retired(self, in_use) -> list[tuple[str, str]]:
        """Retired (name, folder) pairs whose adapter `in_use(name)` says is idle; the caller deletes them."""
        with self._lock:
            ready = [(n, p) for n, p in self._retired if not in_use(n)]
            self._retired = [r for r in self._retired if r not in ready]
        return ready

    def _room(self, spare: Spare) -> int:
        with self._lock:
            return self.max_bytes - sum(e.size for n, e in self._entries.items() if e.pinned or spare(n))

    def _fetch(self, name: str, generation: int, spare: Spare | None = None) -> Entry:
        t0 = time.perf_counter()
        source = self.sources.get(name, self.source)
        files = source.list_files(name)
        if not files:
            raise AdapterNotFound(name)
        from_archive = WEIGHTS_FILE not in files and ARCHIVE_FILE in files
        if spare is not None:  # a prefetch: only into the room it may take
            size = files[ARCHIVE_FILE] if from_archive else sum(files.get(f, 0) for f in (CONFIG_FILE, WEIGHTS_FILE))
            if size > (room := self._room(spare)):
                raise NoRoom(name, size, room)
        staging = tempfile.mkdtemp(dir=os.path.join(self.root, ".staging"))
        try:
            weights = stage_streams(files, lambda filename, sink: source.stream(name, filename, sink), staging,
                                    self.policy.max_bytes, from_archive)
            adapter = validate_adapter_dir(staging, self.policy, self.base, weights)
            # A new folder per fetch: a retired one may still be read by the engine.
            final = os.path.join(self.root, name, f"{adapter.sha256[:16]}-{uuid.uuid4().hex[:8]}")
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        entry = Entry(name, final, adapter.size_bytes, adapter, time.perf_counter() - t0, pinned=name in self.pinned)
        with self._lock:
            if self._generation[name] != generation:  # forgotten (DELETE / re-register) meanwhile
                self._retired.append((name, final))
                return entry
            self._entries[name] = entry
        self._evict(keep=name, spare=spare)
        return entry

    def _evict(self, keep: str, spare: Spare | None = None) -> None:
        while True:
            with self._lock:
                total = sum(e.size for e in self._entries.values())
                victim = next((n for n, e in self._entries.items()
                               if not e.pinned and n != keep and not (spare and spare(n))), None)
                kept = self._entries.get(keep)
                if total > self.max_bytes and victim is None and spare is not None and kept and not kept.pinned:
                    victim = keep  # a prefetch that no longer fits (requests came meanwhile) yields
                if total <= self.max_bytes or victim is None:
                    return
                entry = self._entries.pop(victim)
                self._retired.append((victim, entry.path))
            self.evicted.append(victim)
            self.on_evict(victim)
