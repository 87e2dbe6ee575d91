"""Brings an uploaded adapter from S3 into a local directory, deciding first whether the upload
is complete. Sizes are checked from the listing, before anything is downloaded."""
import datetime
import hashlib
from dataclasses import dataclass

from loraplane_core.adapters.reasons import AdapterRejected, Reason
from loraplane_core.adapters.staging import stage_files
from loraplane_core.adapters.upload_layout import (
    ARCHIVE_FILE,
    CONFIG_FILE,
    PICKLE_SUFFIXES,
    WEIGHTS_FILE,
    UploadKey,
)

# A file of a multi-file upload changed this recently: wait this long, then validate what is there
# (files of one `aws s3 cp --recursive` land within a second or two; an event handled before the
# other file's new version landed would pair new weights with an old config).
SETTLE_SECONDS = 5


@dataclass(frozen=True)
class StagedUpload:
    complete: bool
    source: str
    fingerprint: str
    gone: bool = False  # the archive named by the event has been deleted since
    files: tuple[tuple[str, int, str], ...] = ()  # (name, size, etag) of what is to be fetched
    from_archive: bool = False
    settling: bool = False  # complete, but a file changed within SETTLE_SECONDS: look again after them


def list_upload(s3, bucket: str, upload: UploadKey) -> dict[str, dict]:
    """filename -> {size, etag} of the objects directly under adapters/<name>/."""
    files: dict[str, dict] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=upload.prefix, Delimiter="/"):
        for obj in page.get("Contents", []):
            files[obj["Key"][len(upload.prefix):]] = {"size": obj["Size"], "etag": obj["ETag"].strip('"'),
                                                      "modified": obj.get("LastModified")}
    return files


def fingerprint(files: dict[str, dict], names: list[str]) -> str:
    h = hashlib.sha256()
    for name in sorted(names):
        h.update(f"{name}:{files[name]['etag']}:{files[name]['size']}\n".encode())
    return h.hexdigest()


def settling(files: dict[str, dict], names: list[str], now: datetime.datetime | None = None) -> bool:
    now = now or datetime.datetime.now(datetime.timezone.utc)
    times = [files[n]["modified"] for n in names if files[n].get("modified")]
    return bool(times) and (now - max(times)).total_seconds() < SETTLE_SECONDS


def plan_upload(s3, bucket: str, upload: UploadKey, final: bool) -> StagedUpload:
    """From the listing alone: is the upload complete, what identifies it, what is to be fetched."""
    files = list_upload(s3, bucket, upload)
    prefix_uri = f"s3://{bucket}/{upload.prefix}"
    if upload.filename == ARCHIVE_FILE:
        if ARCHIVE_FILE not in files:
            return StagedUpload(False, prefix_uri + ARCHIVE_FILE, "", gone=True)
        meta = files[ARCHIVE_FILE]
        return StagedUpload(True, prefix_uri + ARCHIVE_FILE, fingerprint(files, [ARCHIVE_FILE]),
                            files=((ARCHIVE_FILE, meta["size"], meta["etag"]),), from_archive=True)
    relevant = [n for n in files if n in (CONFIG_FILE, WEIGHTS_FILE) or n.endswith(PICKLE_SUFFIXES)]
    pickle_only = WEIGHTS_FILE not in files and any(n.endswith(PICKLE_SUFFIXES) for n in files)
    complete = (CONFIG_FILE in files and WEIGHTS_FILE in files) or pickle_only
    return StagedUpload(complete or final, prefix_uri, fingerprint(files, relevant),
                        files=tuple((n, files[n]["size"], files[n]["etag"]) for n in relevant),
                        settling=complete and not final and settling(files, relevant))


def download_listed(s3, bucket: str, key: str, size: int, etag: str, path: str) -> None:
    """Download exactly the object that was listed (IfMatch) and never more than its listed size,
    even if the key is overwritten between the listing (where sizes are checked) and the read."""
    with open(path, "wb") as out:
        stream_listed(s3, bucket, key, size, etag, out)


def stream_listed(s3, bucket: str, key: str, size: int, etag: str, sink) -> None:
    """download_listed into anything with write(): one GET, its body in 1 MiB chunks."""
    body = s3.get_object(Bucket=bucket, Key=key, IfMatch=etag)["Body"]
    with body:
        written = 0
        for chunk in iter(lambda: body.read(1 << 20), b""):
            written += len(chunk)
            if written > size:
                raise AdapterRejected(Reason.TOO_LARGE, f"{key} grew beyond its listed {size} bytes while read")
            sink.write(chunk)


def fetch_upload(s3, bucket: str, upload: UploadKey, staged: StagedUpload, dest: str, max_bytes: int) -> None:
    listed = {name: (size, etag) for name, size, etag in staged.files}

    def download(filename: str, path: str) -> None:
        download_listed(s3, bucket, upload.prefix + filename, *listed[filename], path)

    stage_files({name: size for name, size, _ in staged.files}, download, dest, max_bytes, staged.from_archive)
