"""Reads and checks a safetensors header with bounded reads; tensor data is never loaded.

Format (https://github.com/huggingface/safetensors#format): 8-byte little-endian header
length N, N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__": {...}},
then the tensor bytes. The checks mirror the library's own: contiguous, non-overlapping
offsets that match shape x dtype size and cover the data to the last byte.
"""
import json
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from loraplane_core.adapters.reasons import AdapterRejected, Reason

# The library allows 100 MB, but parsed JSON takes up to 25x its size in memory (measured with
# tracemalloc: a header of empty objects; benchmarks/validate_memory.py), and Validate has 1024 MB.
# An adapter needs ~130 bytes per tensor: 8 MiB is 30x a 126-layer model with all 7 modules.
MAX_HEADER_BYTES = 8 * 1024 * 1024
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


def _malformed(template: str, **values: object) -> AdapterRejected:
    return AdapterRejected(Reason.SAFETENSORS_MALFORMED, "safetensors header is malformed: " + template, **values)


def _is_count(v: object) -> bool:
    return type(v) is int and v >= 0  # not bool: JSON true is no dimension


def _nbytes(shape: list[int], itemsize: int, span: int) -> int:
    """shape x itemsize, or span + 1 once it is known to exceed span: a million huge dimensions
    would otherwise make math.prod build a megabyte-long integer, quadratically."""
    if 0 in shape:
        return 0
    size = itemsize
    for d in shape:
        size *= d
        if size > span:
            return span + 1
    return size


def read_header(f: BinaryIO, file_size: int, max_header_bytes: int = MAX_HEADER_BYTES) -> dict[str, TensorInfo]:
    """Parse and check the header of an open safetensors file of `file_size` bytes."""
    if file_size < 8:
        raise AdapterRejected(Reason.SAFETENSORS_TRUNCATED, "file is {size} bytes, shorter than the 8-byte header length",
                              size=file_size)
    (n,) = struct.unpack("<Q", f.read(8))
    limit = min(max_header_bytes, MAX_HEADER_BYTES)
    if n > limit:
        raise AdapterRejected(Reason.SAFETENSORS_HEADER_TOO_LARGE, "header claims {n} bytes, above the limit of {limit}",
                              n=n, limit=limit)
    if 8 + n > file_size:
        raise AdapterRejected(Reason.SAFETENSORS_TRUNCATED, "header claims {n} bytes but the file has only {left} after the length",
                              n=n, left=file_size - 8)
    raw = f.read(n)
    if len(raw) != n:
        raise AdapterRejected(Reason.SAFETENSORS_TRUNCATED, "file ended inside the header")
    if not raw.startswith(b"{"):
        raise _malformed("does not start with '{'")
    try:
        text = raw.decode("utf-8")
        del raw  # one copy of the header at a time
        header = json.loads(text)
    except (ValueError, RecursionError) as e:  # not UTF-8 / not JSON / absurd nesting or numbers
        raise _malformed("not UTF-8 JSON ({error})", error=f"{type(e).__name__}: {e}") from None
    del text
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
            raise _malformed("tensor {name} needs exactly dtype, shape and data_offsets", name=name)
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
            raise _malformed("tensor {name} has unknown dtype {dtype}", name=name, dtype=dtype)
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise _malformed("tensor {name} has an invalid shape {shape}", name=name, shape=shape)
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(_is_count(o) for o in offsets) or offsets[0] > offsets[1]):
            raise _malformed("tensor {name} has invalid data_offsets {offsets}", name=name, offsets=offsets)
        if offsets[1] - offsets[0] != _nbytes(shape, DTYPE_BYTES[dtype], offsets[1] - offsets[0]):
            raise _malformed("tensor {name}: {size} bytes do not fit shape {shape} of {dtype}",
                             name=name, size=offsets[1] - offsets[0], shape=shape, dtype=dtype)
        tensors[name] = TensorInfo(name, dtype, tuple(shape))
        spans.append((offsets[0], offsets[1], name))

    spans.sort()
    cursor = 0
    for begin, end, name in spans:
        if begin != cursor:
            raise _malformed("tensor {name} starts at {begin}, expected {cursor} (gap or overlap)",
                             name=name, begin=begin, cursor=cursor)
        cursor = end
    if cursor > data_size:
        raise AdapterRejected(Reason.SAFETENSORS_TRUNCATED, "tensors need {need} data bytes but the file holds {have}",
                              need=cursor, have=data_size)
    if cursor < data_size:
        raise _malformed("{extra} bytes after the last tensor", extra=data_size - cursor)
    return tensors


def read_header_file(path: str, max_header_bytes: int = MAX_HEADER_BYTES) -> dict[str, TensorInfo]:
    with open(path, "rb") as f:
        return read_header(f, os.fstat(f.fileno()).st_size, max_header_bytes)
