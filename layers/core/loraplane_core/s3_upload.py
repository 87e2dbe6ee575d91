"""Brings an uploaded adapter from S3 into a local directory, deciding first whether the upload
is complete. Sizes are checked from the listing, before anything is downloaded."""
import hashlib
from dataclasses import dataclass

from .names import ARCHIVE_FILE, CONFIG_FILE, PICKLE_SUFFIXES, WEIGHTS_FILE, UploadKey
from .staging import stage_files


@dataclass(frozen=True)
class StagedUpload:
    complete: bool
    source: str
    fingerprint: str


def list_upload(s3, bucket: str, upload: UploadKey) -> dict[str, dict]:
    """filename -> {size, etag} of the objects directly under adapters/<name>/."""
    files: dict[str, dict] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=upload.prefix, Delimiter="/"):
        for obj in page.get("Contents", []):
            files[obj["Key"][len(upload.prefix):]] = {"size": obj["Size"], "etag": obj["ETag"].strip('"')}
    return files


def fingerprint(files: dict[str, dict], names: list[str]) -> str:
    h = hashlib.sha256()
    for name in sorted(names):
        h.update(f"{name}:{files[name]['etag']}:{files[name]['size']}\n".encode())
    return h.hexdigest()


def stage_upload(s3, bucket: str, upload: UploadKey, dest: str, max_bytes: int, final: bool) -> StagedUpload:
    files = list_upload(s3, bucket, upload)
    prefix_uri = f"s3://{bucket}/{upload.prefix}"
    sizes = {name: meta["size"] for name, meta in files.items()}

    def download(filename: str, path: str) -> None:
        s3.download_file(bucket, upload.prefix + filename, path)

    if upload.filename == ARCHIVE_FILE:
        if ARCHIVE_FILE not in files:  # deleted since the event: nothing to act on
            return StagedUpload(False, prefix_uri + ARCHIVE_FILE, "")
        stage_files(sizes, download, dest, max_bytes, from_archive=True)
        return StagedUpload(True, prefix_uri + ARCHIVE_FILE, fingerprint(files, [ARCHIVE_FILE]))

    relevant = [n for n in files if n in (CONFIG_FILE, WEIGHTS_FILE) or n.endswith(PICKLE_SUFFIXES)]
    pickle_only = WEIGHTS_FILE not in files and any(n.endswith(PICKLE_SUFFIXES) for n in files)
    complete = (CONFIG_FILE in files and WEIGHTS_FILE in files) or pickle_only
    staged = StagedUpload(complete or final, prefix_uri, fingerprint(files, relevant))
    if staged.complete:
        stage_files({n: sizes[n] for n in relevant}, download, dest, max_bytes, from_archive=False)
    return staged
