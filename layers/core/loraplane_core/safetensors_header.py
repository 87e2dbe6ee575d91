"""Reads and checks a safetensors header with bounded reads; tensor data is never loaded.

Format (https://github.com/huggingface/safetensors#format): 8-byte little-endian header
length N, N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__": {...}},
then the tensor bytes. The checks mirror the library's own: contiguous, non-overlapping
offsets that match shape x dtype size and cover the data to the last byte.
"""
import json
import math
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from .reasons import AdapterRejected, Reason

# The library refuses headers above 100 MB; an adapter header is a few KB per tensor.
MAX_HEADER_BYTES = 100_000_000
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]


def _malformed(msg: str) -> AdapterRejected:
    return AdapterRejected(Reason.SAFETENSORS_MALFORMED, f"safetensors header is malformed: {msg}")


def read_header(f: BinaryIO, file_size: int, max_header_bytes: int = MAX_HEADER_BYTES) -> dict[str, TensorInfo]:
    """Parse and check the header of an open safetensors file of `file_size` bytes."""
    if file_size < 8:
        raise AdapterRejected(Reason.SAFETENSORS_TRUNCATED, f"file is {file_size} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > min(max_header_bytes, MAX_HEADER_BYTES):
        raise AdapterRejected(
            Reason.SAFETENSORS_HEADER_TOO_LARGE,
            f"header claims {n} bytes, above the limit of {min(max_header_bytes, MAX_HEADER_BYTES)}",
        )
    if 8 + n > file_size:
        raise AdapterRejected(Reason.SAFETENSORS_TRUNCATED, f"header claims {n} bytes but the file has only {file_size - 8} after the length")
    raw = f.read(n)
    if len(raw) != n:
        raise AdapterRejected(Reason.SAFETENSORS_TRUNCATED, "file ended inside the header")
    if not raw.startswith(b"{"):
        raise _malformed("does not start with '{'")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # not UTF-8 / not JSON / absurd nesting or numbers
        raise _malformed(f"not UTF-8 JSON ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(header, dict):
        raise _malformed("not a JSON object")

    data_size = file_size - 8 - n
    tensors: dict[str, TensorInfo] = {}
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise _malformed("__metadata__ must map strings to strings")
            continue
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _malformed(f"tensor {name!r} needs exactly dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPE_BYTES:
            raise _malformed(f"tensor {name!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise _malformed(f"tensor {name!r} has an invalid shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and o >= 0 for o in offsets) or offsets[0] > offsets[1]):
            raise _malformed(f"tensor {name!r} has invalid data_offsets {offsets!r}")
        if offsets[1] - offsets[0] != math.prod(shape) * DTYPE_BYTES[dtype]:
            raise _malformed(f"tensor {name!r}: {offsets[1] - offsets[0]} bytes do not fit shape {shape} of {dtype}")
        tensors[name] = TensorInfo(name, dtype, tuple(shape))
        spans.append((offsets[0], offsets[1], name))

    spans.sort()
    cursor = 0
    for begin, end, name in spans:
        if begin != cursor:
            raise _malformed(f"tensor {name!r} starts at {begin}, expected {cursor} (gap or overlap)")
        cursor = end
    if cursor > data_size:
        raise AdapterRejected(Reason.SAFETENSORS_TRUNCATED, f"tensors need {cursor} data bytes but the file holds {data_size}")
    if cursor < data_size:
        raise _malformed(f"{data_size - cursor} bytes after the last tensor")
    return tensors


def read_header_file(path: str, max_header_bytes: int = MAX_HEADER_BYTES) -> dict[str, TensorInfo]:
    with open(path, "rb") as f:
        return read_header(f, os.fstat(f.fileno()).st_size, max_header_bytes)
