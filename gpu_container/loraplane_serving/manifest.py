"""On-demand mode's live manifest: which adapters (and which version of each, by the sha256 of its
weights) the control plane has made live. Read from S3 or a local file, cached for a TTL.

Failure handling, chosen so a retired version is never served for long:
- object gone (NoSuchKey / no file): nothing is live;
- malformed (not JSON, wrong shape, unknown format): nothing is live, logged;
- transient read error: the last good manifest stays; with none yet, `ManifestUnavailable` (503).
"""
import asyncio
import json
import logging
import os
import threading
import time
from typing import Callable
from urllib.parse import urlparse

from botocore.exceptions import ClientError
from loraplane_core.adapters.live_manifest import DEFAULT_TTL_SECONDS, EMPTY, LiveAdapter, Manifest

from . import metrics

log = logging.getLogger("loraplane.serving")

MAX_MANIFEST_BYTES = 32 * 2**20  # ~100k adapters; anything larger is a publisher bug


# The model is shared with the writer (the control plane's deployment step).
__all__ = ["DEFAULT_TTL_SECONDS", "EMPTY", "LiveAdapter", "LiveManifest", "Manifest", "ManifestUnavailable"]


class ManifestUnavailable(Exception):
    """No good manifest has been read yet and the last read failed transiently."""


class _Unchanged(Exception):
    pass


class LiveManifest:
    def __init__(self, uri: str, ttl: float = DEFAULT_TTL_SECONDS, client=None,
                 clock: Callable[[], float] = time.monotonic):
        self.uri, self.ttl, self.clock = uri, ttl, clock
        self._s3 = client
        self._manifest: Manifest | None = None  # None: no read has succeeded or settled yet
        self._etag: str | None = None
        self._tagged: tuple[Manifest, str | None] = (EMPTY, None)
        self._read_at: float | None = None
        self._lock = threading.Lock()
        self._task: asyncio.Task | None = None
        self._outcome = ""  # of the last read

    @classmethod
    def from_env(cls, env) -> "LiveManifest | None":
        uri = env.get("LORAPLANE_ADAPTER_MANIFEST")
        if not uri:
            return None
        return cls(uri, ttl=float(env.get("LORAPLANE_MANIFEST_TTL_SECONDS") or DEFAULT_TTL_SECONDS))

    # -- reading -----------------------------------------------------------------------------
    def stale(self) -> bool:
        return self._read_at is None or self.clock() - self._read_at >= self.ttl

    def get(self, force: bool = False) -> Manifest:
        """The manifest, re-read if older than the TTL (or `force`). Blocking: S3 or disk I/O."""
        self._refresh(force)
        return self._answer()

    async def current(self, force: bool = False) -> Manifest:
        """`get` for the event loop: concurrent requests share one re-read, run in a thread."""
        if force or self.stale():
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._refresh, force))
            await asyncio.shield(self._task)
        return self._answer()

    def tagged(self) -> tuple[Manifest, str | None]:
        """The manifest last read and its ETag, as one pair (a re-read in a thread replaces both at once)."""
        return self._tagged

    def peek(self) -> Manifest:
        """The manifest last read, without reading (empty before the first good read)."""
        return self._manifest or EMPTY

    def _answer(self) -> Manifest:
        if self._manifest is None:
            raise ManifestUnavailable(f"the adapter manifest {self.uri} could not be read")
        return self._manifest

    def _refresh(self, force: bool) -> None:
        with self._lock:
            if force or self.stale():
                try:
                    self._reload()
                finally:  # also after a failure: retry after the TTL, not on every request
                    self._read_at = self.clock()

    def _reload(self) -> None:
        try:
            raw, etag = self._read()
        except _Unchanged:
            self._note("not_modified")
            return
        except FileNotFoundError:
            self._settle(EMPTY, None, "missing", "adapter manifest %s does not exist: no adapter is live", self.uri)
            return
        except Exception as e:  # noqa: BLE001 - network, throttling, permissions: keep what we had
            self._note("failed", "adapter manifest %s could not be read (%s); %s", self.uri, e,
                       "keeping the last good one" if self._manifest is not None else "none read yet")
            return
        try:
            manifest = Manifest.model_validate(json.loads(raw))
        except ValueError as e:  # JSON, UTF-8 and pydantic's ValidationError are all ValueErrors
            self._settle(EMPTY, etag, "invalid", "adapter manifest %s is malformed, no adapter is live: %s",
                         self.uri, e)
            return
        self._settle(manifest, etag, "read")

    def _settle(self, manifest: Manifest, etag: str | None, outcome: str, *warning) -> None:
        self._manifest, self._etag = manifest, etag
        # a manifest refused as malformed is not reported as taken up (the control plane would count it)
        self._tagged = (manifest, etag if outcome == "read" else None)
        self._note(outcome, *warning)
        metrics.LIVE_ADAPTERS.set(len(manifest.adapters))

    def _note(self, outcome: str, *warning) -> None:
        metrics.MANIFEST_RELOADS.labels(outcome).inc()
        if warning and outcome != self._outcome:  # once per change of state, not once per TTL
            log.warning(*warning)
        self._outcome = outcome

    def _read(self) -> tuple[bytes, str | None]:
        """(bytes, etag); raises _Unchanged, FileNotFoundError (gone) or the transport's error."""
        if not self.uri.startswith("s3://"):
            if os.path.getsize(self.uri) > MAX_MANIFEST_BYTES:
                return b"", None  # parsed as malformed
            with open(self.uri, "rb") as f:
                return f.read(), None
        parsed = urlparse(self.uri)
        if self._s3 is None:
            import boto3

            from .sources import S3_CONFIG

            self._s3 = boto3.client("s3", config=S3_CONFIG)
        # If-None-Match: an unchanged manifest costs a 304, no body.
        extra = {"IfNoneMatch": self._etag} if self._etag and self._manifest is not None else {}
        try:
            resp = self._s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"), **extra)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code")
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 304 or code in ("304", "NotModified"):
                raise _Unchanged() from None
            if code in ("NoSuchKey", "404", "NoSuchBucket"):
                raise FileNotFoundError(self.uri) from None
            raise
        if resp.get("ContentLength", 0) > MAX_MANIFEST_BYTES:
            resp["Body"].close()
            return b"", resp.get("ETag")
        return resp["Body"].read(), resp.get("ETag")
