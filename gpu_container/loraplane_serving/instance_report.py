"""This container's prefetch report (loraplane_core.adapters.instance_reports): after each prefetch
pass, the live manifest it has taken up (its ETag) and the live versions it could not fetch, written
beside the manifest as `_instances/<instance>.json` when it changes and at least every
HEARTBEAT_SECONDS (keep_alive, also during a long pass). The control plane marks an approved version
live once every instance has it.

Only for a manifest in S3. A failed write (e.g. a role without s3:PutObject there) is logged once per
change of state and changes nothing else: the control plane then marks versions live on its timer."""
import asyncio
import json
import logging
import os
import re
import secrets
import socket
import time
from typing import Callable
from urllib.parse import urlparse

from loraplane_core.adapters.instance_reports import (
    HEARTBEAT_SECONDS,
    MAX_FAILED,
    MAX_REASON_CHARS,
    MAX_REPORT_BYTES,
    report_key,
)

log = logging.getLogger("loraplane.serving")
STALLED_BEATS = 5  # no pass reported for this many heartbeats: keep_alive stops (a stuck pass)

# adapter -> (sha256 of the live version, why its prefetch failed), oldest failure first
PrefetchFailures = dict[str, tuple[str, str]]


def instance_id() -> str:
    """Unique per container process: the host's name (one per SageMaker instance), the pid and a nonce
    (a restarted server is a new reporter; the old report goes stale)."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:80] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(4)}"


def report_body(instance: str, manifest_etag: str | None, failed: PrefetchFailures) -> bytes:
    """The latest MAX_FAILED failures, fewer if they would not fit in MAX_REPORT_BYTES (JSON escapes
    a non-ASCII character into up to 12 bytes): the control plane reads nothing larger."""
    listed = list(failed.items())[-MAX_FAILED:]
    while True:
        body = json.dumps({"format": 1, "instance": instance, "manifest_etag": manifest_etag,
                           "failed": {name: {"sha256": sha, "reason": reason[:MAX_REASON_CHARS]}
                                      for name, (sha, reason) in listed}}).encode()
        if len(body) <= MAX_REPORT_BYTES or not listed:
            return body
        listed = listed[len(listed) // 4 + 1:]  # the oldest go first


class InstanceReporter:
    def __init__(self, manifest_uri: str, client=None, clock: Callable[[], float] = time.monotonic,
                 instance: str | None = None):
        parsed = urlparse(manifest_uri)
        self.instance = instance or instance_id()
        self.bucket, self.key = parsed.netloc, report_key(self.instance, parsed.path.lstrip("/"))
        self._s3, self.clock = client, clock
        self._last: bytes | None = None
        self._written_at = 0.0
        self._failing = False
        self._lock = asyncio.Lock()  # report and keep_alive: one write at a time
        self.beat = HEARTBEAT_SECONDS
        self._reported_at = 0.0  # when a prefetch pass last reported

    @classmethod
    def for_manifest(cls, uri: str | None) -> "InstanceReporter | None":
        return cls(uri) if uri and uri.startswith("s3://") else None

    async def report(self, manifest_etag: str | None, failed: PrefetchFailures) -> bool:
        """After a prefetch pass. True if written now (the content changed, or the heartbeat is due)."""
        self._reported_at = self.clock()
        async with self._lock:
            return await self._write(report_body(self.instance, manifest_etag, failed))

    async def keep_alive(self) -> None:
        """Rewrites the last report written every HEARTBEAT_SECONDS, also while a long prefetch pass runs
        (a big download, a TTL above the heartbeat): the instance stays counted, with what it has taken
        up. Not once passes have stopped reporting for STALLED_BEATS heartbeats: the report then goes
        stale and the control plane stops waiting for this instance."""
        while True:
            await asyncio.sleep(self.beat / 4)
            async with self._lock:
                if self._last is not None and self.clock() - self._reported_at < STALLED_BEATS * self.beat:
                    await self._write(self._last)

    async def _write(self, body: bytes) -> bool:
        if body == self._last and self.clock() - self._written_at < self.beat:
            return False
        try:
            await asyncio.to_thread(self._put, body)
        except Exception as e:  # noqa: BLE001 - the report is advisory: serving goes on
            if not self._failing:
                log.warning("prefetch report s3://%s/%s not written (the control plane falls back to its timer): %s",
                            self.bucket, self.key, e)
            self._failing = True
            return False
        self._last, self._written_at, self._failing = body, self.clock(), False
        return True

    def _put(self, body: bytes) -> None:
        if self._s3 is None:
            import boto3

            from .sources import S3_CONFIG

            self._s3 = boto3.client("s3", config=S3_CONFIG)
        self._s3.put_object(Bucket=self.bucket, Key=self.key, Body=body, ContentType="application/json")
