"""`loraplane image build`: the serving image built by the stack's CodeBuild project, no local Docker.

The source is exactly what gpu_container/Dockerfile copies (dockerfile.context_files(), the Dockerfile
included), zipped reproducibly and stored content-addressed under image-sources/<sha256>.zip in the
stack's bucket; the build pushes <ServingImageRepositoryUri>:src-<first 12 of that sha256> and :latest.
The same source gives the same key, so an unchanged tree uploads nothing new."""
import hashlib
import io
import os
import sys
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..cli_errors import CliError, line
from .dockerfile import REPO, context_files

PREFIX = "image-sources/"
NEEDED = ("AdapterBucketName", "ImageBuildProject", "ServingImageRepositoryUri")
DONE = {"SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED"}


class ImageBuildError(CliError):
    """A failure the user can fix: `loraplane` prints it as one line, what and the fix."""


@dataclass
class Source:
    data: bytes
    files: list[str]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.sha256}.zip"

    @property
    def tag(self) -> str:
        return f"src-{self.sha256[:12]}"


@dataclass
class BuildResult:
    build_id: str
    status: str
    image_uri: str  # <repository>:src-<sha>
    latest_uri: str
    source: str  # s3://bucket/key
    phase: str = ""  # the last phase (the failed one, for a failed build)
    reason: str = ""
    logs: dict = field(default_factory=dict)  # groupName, streamName, deepLink


def source_zip(files: list[Path] | None = None, root: Path = REPO) -> Source:
    """Repository-relative paths, fixed timestamps, modes from the executable bit: same tree, same bytes."""
    files = sorted(files if files is not None else context_files(root=root))
    buf, names = io.BytesIO(), []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            name = path.resolve().relative_to(root.resolve()).as_posix()
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
            names.append(name)
    return Source(buf.getvalue(), names)


def check_outputs(outputs: dict, stack: str) -> None:
    missing = [k for k in NEEDED if not outputs.get(k)]
    if missing:
        raise ImageBuildError(f"stack {stack} has no {', '.join(missing)} output (deployed from an older template)",
                              "Deploy the current template.yaml (sam deploy), then run this again")


def upload(s3, bucket: str, source: Source) -> bool:
    """Stores the source unless that content is there already; True if it was uploaded."""
    try:
        s3.head_object(Bucket=bucket, Key=source.key)
        return False
    except s3.exceptions.ClientError as e:
        if e.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
    s3.put_object(Bucket=bucket, Key=source.key, Body=source.data, ContentType="application/zip")
    return True


def start(codebuild, outputs: dict, source: Source) -> dict:
    return codebuild.start_build(
        projectName=outputs["ImageBuildProject"], sourceTypeOverride="S3",
        sourceLocationOverride=f"{outputs['AdapterBucketName']}/{source.key}",
        environmentVariablesOverride=[{"name": "IMAGE_TAG", "value": source.tag, "type": "PLAINTEXT"}])["build"]


def follow(codebuild, build_id: str, progress: Callable[[str], None], interval: float = 10,
           timeout: float = 2 * 3600) -> dict:
    """Polls the build until it is done, reporting each phase as it starts."""
    started, seen = time.monotonic(), set()
    while True:
        [build] = codebuild.batch_get_builds(ids=[build_id])["builds"]
        for phase in build.get("phases", []):
            kind = phase["phaseType"]
            if kind not in seen and kind not in ("SUBMITTED", "COMPLETED"):
                seen.add(kind)
                progress(f"[{time.monotonic() - started:5.0f}s] {kind}")
        if build["buildStatus"] in DONE and build.get("buildComplete", True):
            return build
        if time.monotonic() - started > timeout:
            raise ImageBuildError(f"build {build_id} still running after {timeout:.0f}s",
                                  f"Follow it with: aws codebuild batch-get-builds --ids {build_id}")
        time.sleep(interval)


def result(build: dict, outputs: dict, source: Source) -> BuildResult:
    repository = outputs["ServingImageRepositoryUri"]
    failed = [p for p in build.get("phases", []) if p.get("phaseStatus") not in (None, "SUCCEEDED")]
    phase = failed[0] if failed else (build.get("phases") or [{}])[-1]
    reason = "; ".join(c.get("message", "") for c in phase.get("contexts", []) if c.get("message"))
    logs = {k: v for k, v in build.get("logs", {}).items() if k in ("groupName", "streamName", "deepLink")}
    return BuildResult(build["id"], build["buildStatus"], f"{repository}:{source.tag}", f"{repository}:latest",
                       f"s3://{outputs['AdapterBucketName']}/{source.key}", phase.get("phaseType", ""), reason, logs)


def log_tail(logs_client, logs: dict, lines: int = 20) -> list[str]:
    """The build log's last lines, or [] when they cannot be read."""
    try:
        events = logs_client.get_log_events(logGroupName=logs["groupName"], logStreamName=logs["streamName"],
                                            limit=lines, startFromHead=False)["events"]
    except Exception:  # noqa: BLE001 - the tail is a courtesy: the one-line error already says where to look
        return []
    return [e["message"].rstrip() for e in events]


def failure_line(r: BuildResult) -> str:
    fix = (f"The whole log: aws logs tail {r.logs['groupName']} --log-stream-names {r.logs['streamName']}"
           if r.logs.get("groupName") and r.logs.get("streamName") else "")
    return line(f"image build {r.build_id} {r.status} in {r.phase or 'an unknown phase'}: "
                f"{r.reason or 'no reason given'}", fix)


def render(r: BuildResult, output: str) -> str:
    import json

    if output == "json":
        return json.dumps(asdict(r), indent=2)
    rows = [("BUILD", r.build_id), ("STATUS", r.status)]
    if r.status in ("SUCCEEDED", "IN_PROGRESS"):  # what it pushed, or will push
        rows += [("IMAGE", r.image_uri), ("LATEST", r.latest_uri), ("SOURCE", r.source)]
    else:
        rows += [("SOURCE", r.source), ("PHASE", r.phase), ("REASON", r.reason)]
    rows += [("LOGS", f"{r.logs['groupName']} {r.logs.get('streamName', '')}".strip())] if r.logs.get("groupName") else []
    return "\n".join(f"{k:<7} {v}" for k, v in rows)


def stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
