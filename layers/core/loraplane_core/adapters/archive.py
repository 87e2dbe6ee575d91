"""Safe extraction of an `adapter.tar.gz` upload: regular files at the top level only, bounded.
From a file, or from a stream as it arrives (the serving cache: no copy of the archive on disk),
by the same rules."""
import gzip
import os
import tarfile
import zlib
from typing import BinaryIO, Callable

from loraplane_core.adapters.reasons import AdapterRejected, Reason
from loraplane_core.adapters.upload_layout import (
    CONFIG_FILE,
    PICKLE_SUFFIXES,
    WEIGHTS_FILE,
)
from loraplane_core.adapters.weights_sink import WeightsDigest, WeightsSink

MAX_MEMBERS = 64
MAX_HEADER_BYTES = 64 * 1024  # pax / GNU long-name headers are read into memory whole: bound them
# Each pax or GNU long-name header makes tarfile recurse into the next header: 3,000 of them in a
# 12 KB archive exhaust the stack. Real archives chain two or three (global pax, pax, long link).
MAX_CHAINED_HEADERS = 8
_EXTENDED = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
# What tarfile and gzip raise on corrupt input (ValueError: tarfile's int() of pax and sparse numbers).
_CORRUPT = (tarfile.TarError, EOFError, OSError, zlib.error, ValueError)


def _unsafe(template: str, **values: object) -> AdapterRejected:
    return AdapterRejected(Reason.UNSAFE_ARCHIVE, template, **values)


class BoundedTarInfo(tarfile.TarInfo):
    """Refuses oversized or long chains of extended headers before tarfile reads them, sparse
    files (an adapter has none; tarfile's sparse parsing trusts its input) and negative sizes."""

    def _proc_member(self, tarfile_obj):
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise _unsafe("archive has a sparse file, which an adapter never is")
        if self.type not in _EXTENDED:
            member = super()._proc_member(tarfile_obj)
        else:
            if self.size > MAX_HEADER_BYTES:
                raise _unsafe("archive has a {size}-byte extended header (limit {limit})", size=self.size, limit=MAX_HEADER_BYTES)
            depth = getattr(tarfile_obj, "_loraplane_chain", 0)
            if depth >= MAX_CHAINED_HEADERS:
                raise _unsafe("archive chains more than {limit} extended headers", limit=MAX_CHAINED_HEADERS)
            tarfile_obj._loraplane_chain = depth + 1
            try:
                member = super()._proc_member(tarfile_obj)
            finally:
                tarfile_obj._loraplane_chain = depth
        if member.size < 0:
            raise AdapterRejected(Reason.INVALID_ARCHIVE, "archive member {name} has a negative size", name=member.name)
        return member

    def _proc_gnusparse_00(self, *args):
        raise _unsafe("archive has a sparse file, which an adapter never is")

    _proc_gnusparse_01 = _proc_gnusparse_10 = _proc_gnusparse_00


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if member.issym() or member.islnk():
        raise _unsafe("archive member {name} is a link", name=name)
    if name.startswith("/") or os.path.isabs(name):
        raise _unsafe("archive member {name} has an absolute path", name=name)
    if ".." in name.replace("\\", "/").split("/"):
        raise _unsafe("archive member {name} escapes with '..'", name=name)
    if not name.isprintable():  # NUL would fail open(); newlines and escapes would reach logs
        raise _unsafe("archive member {name} has control characters in its name", name=name)
    if not (member.isfile() or member.isdir()):
        raise _unsafe("archive member {name} is not a regular file", name=name)


def extract_adapter_archive(archive_path: str, dest: str, max_bytes: int) -> list[str]:
    """Extract the adapter files of the archive into `dest`; returns the names written.

    Rejects links, devices, absolute paths, `..`, nested directories for the adapter files,
    too many members, and more than `max_bytes` of content (checked before writing).
    """
    return _extract(lambda: tarfile.open(archive_path, mode="r:gz", tarinfo=BoundedTarInfo), dest, max_bytes)[0]


def extract_adapter_stream(stream: BinaryIO, dest: str, max_bytes: int) -> tuple[list[str], WeightsDigest | None]:
    """extract_adapter_archive from a stream read once, front to back (only read() is called), with
    the weights member hashed and its header read as it is written: (names written, the weights'
    digest if any). The same tarfile mode as from a file: it only ever seeks forward, which gzip does
    by reading on, and decompresses no further than the file reading would, so both modes give the
    same verdict on every archive (tarfile's "r|gz" reads ahead and would fail some that "r:gz" takes)."""
    return _extract(lambda: tarfile.open(fileobj=stream, mode="r:gz", tarinfo=BoundedTarInfo), dest, max_bytes,
                    digest=True)


def _extract(open_tar: Callable[[], tarfile.TarFile], dest: str, max_bytes: int,
             digest: bool = False) -> tuple[list[str], WeightsDigest | None]:
    try:
        tar = open_tar()
    except RecursionError:
        raise _unsafe("adapter.tar.gz nests its headers too deeply") from None
    except _CORRUPT as e:
        raise AdapterRejected(Reason.INVALID_ARCHIVE, "adapter.tar.gz is not a readable gzip tar archive: {error}",
                              error=str(e)) from None
    written, weights = [], None
    with tar:
        total = everything = 0
        try:
            for count, member in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise _unsafe("archive has more than {limit} members", limit=MAX_MEMBERS)
                _check_member(member)
                if member.isdir():
                    continue
                everything += member.size  # ignored members are decompressed too, to skip them
                if everything > 2 * max_bytes:
                    raise AdapterRejected(Reason.TOO_LARGE, "archive content exceeds {limit} bytes", limit=2 * max_bytes)
                base = member.name.removeprefix("./")
                if "/" in base or not (base in (CONFIG_FILE, WEIGHTS_FILE) or base.endswith(PICKLE_SUFFIXES)):
                    continue  # other files are ignored, as for loose uploads
                total += member.size
                if total > max_bytes:
                    raise AdapterRejected(Reason.TOO_LARGE, "archive content exceeds {limit} bytes (MaxAdapterBytes)", limit=max_bytes)
                hashed = _copy_out(tar, member, os.path.join(dest, base), digest and base == WEIGHTS_FILE)
                weights = hashed or weights
                written.append(base)
        except RecursionError:
            raise _unsafe("adapter.tar.gz nests its headers too deeply") from None
        except _CORRUPT as e:
            raise AdapterRejected(Reason.INVALID_ARCHIVE, "adapter.tar.gz is corrupt: {error}", error=str(e)) from None
    return written, weights


def _copy_out(tar: tarfile.TarFile, member: tarfile.TarInfo, path: str, digest: bool) -> WeightsDigest | None:
    """Writes the member to `path`; with `digest`, through a WeightsSink, whose digest it returns."""
    src = tar.extractfile(member)
    assert src is not None  # a regular file
    out = WeightsSink(path, member.size) if digest else open(path, "wb")  # noqa: SIM115 - closed below
    try:
        with src:
            remaining = member.size
            while remaining:
                chunk = src.read(min(1 << 20, remaining))
                if not chunk:
                    raise AdapterRejected(Reason.INVALID_ARCHIVE, "archive member {name} is truncated",
                                          name=member.name)
                out.write(chunk)
                remaining -= len(chunk)
    finally:
        out.close()
    return out.digest() if isinstance(out, WeightsSink) else None


def build_adapter_archive(src_dir: str, archive_path: str) -> None:
    """The serving artifact: a .tar.gz with exactly the two adapter files at its top level."""
    # mtime=0 in gzip and tar headers: the same files always give the same archive bytes.
    with open(archive_path, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w") as tar:
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            info = tar.gettarinfo(os.path.join(src_dir, name), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            with open(os.path.join(src_dir, name), "rb") as f:
                tar.addfile(info, f)
