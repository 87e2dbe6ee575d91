"""Adapter names and the S3 key layout of uploads (CONTRACTS §2)."""
import re
from dataclasses import dataclass

from loraplane_core.adapters.reasons import AdapterRejected, Reason

# Used with fullmatch: `$` alone would also accept a trailing newline.
ADAPTER_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,28}[a-z0-9])?")
UPLOAD_PREFIX = "adapters/"
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
ARCHIVE_FILE = "adapter.tar.gz"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


@dataclass(frozen=True)
class UploadKey:
    adapter_name: str
    filename: str

    @property
    def prefix(self) -> str:
        return f"{UPLOAD_PREFIX}{self.adapter_name}/"


def parse_upload_key(key: str) -> UploadKey | None:
    """`adapters/<name>/<file>` -> UploadKey; None for keys outside the upload layout."""
    if not key.startswith(UPLOAD_PREFIX):
        return None
    parts = key[len(UPLOAD_PREFIX):].split("/")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return UploadKey(adapter_name=parts[0], filename=parts[1])


def check_adapter_name(name: str) -> None:
    if not ADAPTER_NAME_RE.fullmatch(name):
        raise AdapterRejected(
            Reason.INVALID_ADAPTER_NAME,
            "adapter name {name} must be 1-30 characters of [a-z0-9-], starting and ending with a letter or digit",
            name=name,
        )


def is_relevant_file(filename: str) -> bool:
    """Files whose arrival can complete (or doom) an upload; others are ignored."""
    return filename in (CONFIG_FILE, WEIGHTS_FILE, ARCHIVE_FILE) or filename.endswith(PICKLE_SUFFIXES)
