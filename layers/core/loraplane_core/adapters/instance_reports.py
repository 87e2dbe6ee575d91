"""On-demand mode's prefetch reports, `live/_instances/<instance>.json`: each serving container says
which live manifest (by its S3 ETag) its prefetch has taken up, and which live versions it could not
fetch. The control plane marks an approved version live once every serving instance has it
(SageMaker's `preload` intent) instead of after a timer. One model for the writer (the container's
loraplane_serving.instance_report) and the reader (deployment/serving_modes.OnDemand); `readiness`
is the pure decision.

A report is untrusted input to the control plane (any code in the container could write it): it is
read only below MAX_REPORT_BYTES and validated; a report that does not parse is ignored."""
import datetime
import json
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loraplane_core.adapters.live_manifest import LIVE_PREFIX, MANIFEST_KEY

# "_" is not allowed in adapter names (upload_layout.ADAPTER_NAME_RE): no adapter's live/<name>/ folder
REPORTS_FOLDER = "_instances/"
REPORTS_PREFIX = f"{LIVE_PREFIX}{REPORTS_FOLDER}"
HEARTBEAT_SECONDS = 60  # a container rewrites its report after this long (60-75 s; and whenever it changes)
FRESH_SECONDS = 150  # a report older than this is of an instance that stopped (2.5 heartbeats)
MAX_REPORT_BYTES = 64 * 1024
MAX_FAILED = 100  # failures one report lists (the latest)
MAX_REASON_CHARS = 300
INSTANCE_ID_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def report_key(instance: str, manifest_key: str = MANIFEST_KEY) -> str:
    """Beside the manifest: live/_instances/<instance>.json for the control plane's live/manifest.json."""
    folder = manifest_key.rpartition("/")[0]
    return f"{folder}/{REPORTS_FOLDER}{instance}.json" if folder else f"{REPORTS_FOLDER}{instance}.json"


def is_fresh(written: datetime.datetime, now: datetime.datetime) -> bool:
    """Written lately enough to be a running instance's (an older report is a stopped one's)."""
    return (now - written).total_seconds() <= FRESH_SECONDS


class FailedPrefetch(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    reason: str = Field(max_length=MAX_REASON_CHARS)

    @field_validator("reason")
    @classmethod
    def one_line(cls, v: str) -> str:
        """It reaches the deployment's error and the notification: no line breaks or control characters."""
        return CONTROL.sub(" ", v)


class InstanceReport(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)
    format: int = Field(ge=1, le=1)
    instance: str = Field(pattern=INSTANCE_ID_PATTERN)
    manifest_etag: str | None = Field(default=None, max_length=256)  # None: no manifest read yet
    failed: dict[str, FailedPrefetch] = Field(default_factory=dict, max_length=MAX_FAILED)


def parse_report(raw: bytes) -> InstanceReport | None:
    """None for anything that is not a report (too large, not JSON, wrong shape)."""
    if len(raw) > MAX_REPORT_BYTES:
        return None
    try:
        return InstanceReport.model_validate(json.loads(raw))
    except (ValueError, RecursionError):  # JSON, UTF-8 and pydantic's ValidationError are ValueErrors
        return None


@dataclass(frozen=True)
class WrittenReport:
    """A report and when S3 last wrote it (LastModified: S3's clock, not the container's)."""
    report: InstanceReport
    written: datetime.datetime


def readiness(adapter: str, sha256: str, manifest_etag: str | None, reports: list[WrittenReport], instances: int | None,
              now: datetime.datetime, settled_by_timer: bool) -> tuple[str, str | None]:
    """InService | Publishing | Failed, with why, for `adapter` at `sha256` in the manifest whose
    ETag is `manifest_etag`. `instances`: what the endpoint runs now (None: unknown). Live once as
    many instances as run have taken up this manifest (a stopped instance's last report stays fresh
    for FRESH_SECONDS and counts only if it had). Fewer report than run (one starting, or whose
    writes fail): every reporting one must have it and `settled_by_timer` covers the others, as it
    covers every instance when none reports (an image from before the reports, or prefetch off)."""
    if instances == 0:
        return "InService", "no instance runs (scaled to zero): each one fetches the live adapters when it starts"
    fresh = [s.report for s in reports if is_fresh(s.written, now)]
    taken_up = [r for r in fresh if manifest_etag is not None and r.manifest_etag == manifest_etag]
    for r in taken_up:
        failure = r.failed.get(adapter)
        if failure is not None and failure.sha256 == sha256:
            return "Failed", f"instance {r.instance} could not fetch it: {failure.reason}"
    if not fresh:
        return ("InService" if settled_by_timer else "Publishing"), \
            "no serving instance reports its prefetch: live once every container has re-read the manifest"
    if instances is not None and len(taken_up) >= instances:
        return "InService", None
    of = f"{len(taken_up)} of {max(len(fresh), instances or 0)} instances have fetched it"
    if len(taken_up) == len(fresh) and settled_by_timer:
        return "InService", f"{of}; the others have re-read the manifest"
    return "Publishing", of
