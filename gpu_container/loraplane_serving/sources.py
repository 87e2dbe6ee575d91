"""Where adapters come from: `s3://bucket/prefix/` or a local directory, one folder per adapter
(`<name>/adapter_config.json` + `<name>/adapter_model.safetensors`, or `<name>/adapter.tar.gz`)."""
import os
import shutil
from typing import Protocol
from urllib.parse import urlparse

import boto3
from botocore.config import Config

from loraplane_core.adapters.s3_upload import download_listed

# Bounded waits and retries: a slow or failing S3 must not hang a request forever.
S3_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 4})


class AdapterSource(Protocol):
    uri: str

    def list_files(self, name: str) -> dict[str, int]:
        """filename -> size of the adapter's files; empty if the adapter does not exist."""

    def download(self, name: str, filename: str, dest: str) -> None: ...


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

    def download(self, name: str, filename: str, dest: str) -> None:
        shutil.copyfile(os.path.join(self.root, name, filename), dest)


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

    def download(self, name: str, filename: str, dest: str) -> None:
        # The object read is the one listed (and size-checked): same ETag, capped at its listed size.
        key = f"{self.prefix}{name}/{filename}"
        if key in self._listed:
            download_listed(self.s3, self.bucket, key, *self._listed[key], dest)
        else:
            self.s3.download_file(self.bucket, key, dest)


def open_source(uri: str) -> AdapterSource:
    return S3Source(uri) if uri.startswith("s3://") else LocalSource(uri)
