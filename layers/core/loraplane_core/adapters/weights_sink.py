"""The weights file written as its bytes arrive: sha256 in the same pass and the safetensors header
parsed from the first bytes, so validation never reads the file again; never more bytes than the
source announced. A header that fails its checks is recorded, not raised: validation raises it in
its usual order (files, config, header), so every source gives the same rejection for an adapter."""
import hashlib
import io
import struct
from dataclasses import dataclass

from loraplane_core.adapters.reasons import AdapterRejected, Reason
from loraplane_core.adapters.safetensors_header import MAX_HEADER_BYTES, TensorInfo, read_header
from loraplane_core.adapters.upload_layout import WEIGHTS_FILE


class ShortRead(OSError):
    """The source ended before the size it announced: a failed fetch (try again), not a bad adapter."""


@dataclass(frozen=True)
class WeightsDigest:
    sha256: str
    size: int
    tensors: dict[str, TensorInfo] | None = None
    error: AdapterRejected | None = None  # what read_header raised instead

    def header(self) -> dict[str, TensorInfo]:
        if self.error is not None:
            raise self.error
        assert self.tensors is not None
        return self.tensors


class CappedFile:
    """A write-only file that refuses to grow past `size` (the object listed, and size-checked, before)."""

    def __init__(self, path: str, size: int, label: str):
        self.size, self.label, self.written = size, label, 0
        self._file = open(path, "wb")  # noqa: SIM115 - closed by finish() / close()

    def write(self, data) -> int:
        n = len(data)
        if self.written + n > self.size:
            raise AdapterRejected(Reason.TOO_LARGE, "{file} grew beyond its listed {size} bytes while read",
                                  file=self.label, size=self.size)
        self._file.write(data)
        self.written += n
        self._consumed(data)
        return n

    def seekable(self) -> bool:
        return False  # bytes come in order (s3transfer keeps ranged parts in order for such a target)

    def _consumed(self, data) -> None:
        pass

    def close(self) -> None:
        self._file.close()

    def finish(self) -> None:
        """Closes the file; ShortRead if the source gave fewer bytes than it announced."""
        self.close()
        if self.written != self.size:
            raise ShortRead(f"{self.label}: read {self.written} of its {self.size} bytes")


class WeightsSink(CappedFile):
    def __init__(self, path: str, size: int, label: str = WEIGHTS_FILE):
        super().__init__(path, size, label)
        self._sha = hashlib.sha256()
        self._head: bytearray | None = bytearray()  # the first bytes, until the header is read
        self._tensors: dict[str, TensorInfo] | None = None
        self._error: AdapterRejected | None = None

    def _consumed(self, data) -> None:
        self._sha.update(data)
        view = memoryview(data)
        while self._head is not None and view:
            take = (self._header_end() or 8) - len(self._head)  # the length first, then the header
            self._head += view[:take]
            view = view[take:]
            end = self._header_end()
            if end is not None and len(self._head) >= end:
                self._read_header(self.size)

    def _header_end(self) -> int | None:
        """Bytes up to the end of the header, or what read_header needs to reject it; None: not known yet."""
        if self._head is None or len(self._head) < 8:
            return None
        (n,) = struct.unpack("<Q", self._head[:8])
        return 8 + n if n <= MAX_HEADER_BYTES and 8 + n <= self.size else 8

    def _read_header(self, size: int) -> None:
        head, self._head = bytes(self._head or b""), None
        try:
            self._tensors = read_header(io.BytesIO(head), size)
        except AdapterRejected as e:
            self._error = e

    def digest(self) -> WeightsDigest:
        """After finish(): the file's sha256, size and header (or the header's rejection)."""
        if self._head is not None:  # fewer bytes than a header: read_header names what is missing
            self._read_header(self.written)
        return WeightsDigest(self._sha.hexdigest(), self.written, self._tensors, self._error)
