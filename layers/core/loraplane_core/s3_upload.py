"""Brings an uploaded adapter from S3 into a local directory, deciding first whether the upload
is complete. Sizes are checked from the listing, before anything is downloaded."""
import hashlib
import os
from dataclasses import dataclass

from .archive import extract_adapter_archive
from .names import ARCHIVE_FILE, CONFIG_FILE, PICKLE_SUFFIXES, WEIGHTS_FILE, UploadKey
from .reasons import AdapterRejected, Reason


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

    if upload.filename == ARCHIVE_FILE:
        if ARCHIVE_FILE not in files:  # deleted since the event: nothing to act on
            return StagedUpload(False, prefix_uri + ARCHIVE_FILE, "")
        staged = StagedUpload(True, prefix_uri + ARCHIVE_FILE, fingerprint(files, [ARCHIVE_FILE]))
        if files[ARCHIVE_FILE]["size"] > max_bytes:
            raise AdapterRejected(Reason.TOO_LARGE, f"adapter.tar.gz is {files[ARCHIVE_FILE]['size']} bytes, above the limit of {max_bytes} (MaxAdapterBytes)")
        archive = os.path.join(dest, "..", f"{os.path.basename(dest)}.tar.gz")
        s3.download_file(bucket, upload.prefix + ARCHIVE_FILE, archive)
        extract_adapter_archive(archive, dest, max_bytes)
        os.remove(archive)
        return staged

    relevant = [n for n in files if n in (CONFIG_FILE, WEIGHTS_FILE) or n.endswith(PICKLE_SUFFIXES)]
    has_config, has_weights = CONFIG_FILE in files, WEIGHTS_FILE in files
    pickle_only = not has_weights and any(n.endswith(PICKLE_SUFFIXES) for n in files)
    complete = (has_config and has_weights) or pickle_only
    staged = StagedUpload(complete or final, prefix_uri, fingerprint(files, relevant))
    if not staged.complete:
        return staged
    wanted = [n for n in (CONFIG_FILE, WEIGHTS_FILE) if n in files]
    size = sum(files[n]["size"] for n in wanted)
    if size > max_bytes:
        raise AdapterRejected(Reason.TOO_LARGE, f"adapter is {size} bytes, above the limit of {max_bytes} (MaxAdapterBytes)")
    for name in wanted:
        s3.download_file(bucket, upload.prefix + name, os.path.join(dest, name))
    # Pickle files are never downloaded: an empty marker lets validation name them.
    for name in relevant:
        if name.endswith(PICKLE_SUFFIXES):
            open(os.path.join(dest, name), "wb").close()
    return staged
