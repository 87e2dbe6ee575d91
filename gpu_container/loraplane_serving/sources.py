"""Where adapters come from: `s3://bucket/prefix/` or a local directory, one folder per adapter
(`<name>/adapter_config.json` + `<name>/adapter_model.safetensors`, or `<name>/adapter.tar.gz`).
A source lists an adapter's files, then streams each one, in order, into a sink (staging.py's
stage_streams): the cache folder's file, hashed as written, or the archive's extraction."""
import os
from typing import Protocol
from urllib.parse import urlparse

import boto3
from botocore.config import Config

from .body import BadRequest
from .transfer import stream_object

# Bounded waits and retries: a slow or failing S3 must not hang a request forever.
S3_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 4},
                   max_pool_connections=16)  # ranged GETs of two adapters at once (transfer.py: 8 each)
CHUNK = 1 << 20


class AdapterSource(Protocol):
    uri: str

    def list_files(self, name: str) -> dict[str, int]:
        """filename -> size of the adapter's files; empty if the adapter does not exist."""

    def stream(self, name: str, filename: str, sink) -> None:
        """Write the file's bytes to sink.write, in order."""


class LocalSource:
    def __init__(self, directory: str):
        self.root = os.path.abspath(directory)
        self.uri = self.root

    def list_files(self, name: str) -> dict[str, int]:
        folder = os.path.join(self.root, name)
        if not os.path.isdir(folder):
            return {}
        return {f: os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)
                if os.path.isfile(os.path.join(folder, f))}

    def stream(self, name: str, filename: str, sink) -> None:
        with open(os.path.join(self.root, name, filename), "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                sink.write(chunk)


class S3Source:
    def __init__(self, uri: str, client=None):
        parsed = urlparse(uri)
        self.uri, self.bucket = uri, parsed.netloc
        self.prefix = parsed.path.lstrip("/")
        if self.prefix and not self.prefix.endswith("/"):
            self.prefix += "/"
        self.s3 = client or boto3.client("s3", config=S3_CONFIG)
        self._listed: dict[str, tuple[int, str]] = {}  # key -> (size, etag) at the last listing

    def list_files(self, name: str) -> dict[str, int]:
        prefix = f"{self.prefix}{name}/"
        resp = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix, Delimiter="/")
        objects = resp.get("Contents", [])
        self._listed.update({o["Key"]: (o["Size"], o["ETag"].strip('"')) for o in objects})
        return {o["Key"][len(prefix):]: o["Size"] for o in objects}

    def stream(self, name: str, filename: str, sink) -> None:
        # The object read is the one listed (and size-checked): same ETag, capped at its listed size.
        key = f"{self.prefix}{name}/{filename}"
        if key not in self._listed:
            self.list_files(name)
        if key not in self._listed:
            raise FileNotFoundError(f"s3://{self.bucket}/{key}")
        stream_object(self.s3, self.bucket, key, *self._listed[key], sink)


def open_source(uri: str) -> AdapterSource:
    return S3Source(uri) if uri.startswith("s3://") else LocalSource(uri)


class SingleAdapterSource:
    """The `src` of POST /adapters: one adapter's files directly under an S3 prefix or a directory."""

    def __init__(self, src: str):
        parent, _, self.leaf = src.rstrip("/").rpartition("/")
        if not parent or self.leaf in ("", ".", "..") or (src.startswith("s3://") and parent == "s3:/"):
            raise BadRequest(f"'src': '{src[:200]}' names no adapter folder (s3://bucket/prefix/name/ or /dir/name)",
                             "INVALID_PARAMETER")
        self.inner, self.uri = open_source(parent + "/"), src

    def list_files(self, name: str) -> dict[str, int]:
        return self.inner.list_files(self.leaf)

    def stream(self, name: str, filename: str, sink) -> None:
        self.inner.stream(self.leaf, filename, sink)
