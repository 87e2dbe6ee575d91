"""Safe extraction of an `adapter.tar.gz` upload: regular files at the top level only, bounded."""
import gzip
import os
import tarfile

from .names import CONFIG_FILE, PICKLE_SUFFIXES, WEIGHTS_FILE
from .reasons import AdapterRejected, Reason

MAX_MEMBERS = 64
MAX_HEADER_BYTES = 64 * 1024  # pax / GNU long-name headers are read into memory whole: bound them


class BoundedTarInfo(tarfile.TarInfo):
    """Refuses oversized pax and GNU long-name headers before tarfile reads them into memory."""

    def _check(self):
        if self.size > MAX_HEADER_BYTES:
            raise AdapterRejected(Reason.UNSAFE_ARCHIVE, f"archive has a {self.size}-byte extended header (limit {MAX_HEADER_BYTES})")

    def _proc_pax(self, tarfile_obj):
        self._check()
        return super()._proc_pax(tarfile_obj)

    def _proc_gnulong(self, tarfile_obj):
        self._check()
        return super()._proc_gnulong(tarfile_obj)


def extract_adapter_archive(archive_path: str, dest: str, max_bytes: int) -> list[str]:
    """Extract the adapter files of the archive into `dest`; returns the names written.

    Rejects links, devices, absolute paths, `..`, nested directories for the adapter files,
    too many members, and more than `max_bytes` of content (checked before writing).
    """
    try:
        tar = tarfile.open(archive_path, mode="r:gz", tarinfo=BoundedTarInfo)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise AdapterRejected(Reason.INVALID_ARCHIVE, f"adapter.tar.gz is not a readable gzip tar archive: {e}") from None
    written = []
    with tar:
        total = everything = 0
        try:
            for count, member in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise AdapterRejected(Reason.UNSAFE_ARCHIVE, f"archive has more than {MAX_MEMBERS} members")
                name = member.name
                if member.issym() or member.islnk():
                    raise AdapterRejected(Reason.UNSAFE_ARCHIVE, f"archive member {name!r} is a link")
                if name.startswith("/") or os.path.isabs(name):
                    raise AdapterRejected(Reason.UNSAFE_ARCHIVE, f"archive member {name!r} has an absolute path")
                if ".." in name.replace("\\", "/").split("/"):
                    raise AdapterRejected(Reason.UNSAFE_ARCHIVE, f"archive member {name!r} escapes with '..'")
                if not (member.isfile() or member.isdir()):
                    raise AdapterRejected(Reason.UNSAFE_ARCHIVE, f"archive member {name!r} is not a regular file")
                if member.isdir():
                    continue
                everything += member.size  # ignored members are decompressed too, to skip them
                if everything > 2 * max_bytes:
                    raise AdapterRejected(Reason.TOO_LARGE, f"archive content exceeds {2 * max_bytes} bytes")
                base = name[2:] if name.startswith("./") else name
                if "/" in base or not (base in (CONFIG_FILE, WEIGHTS_FILE) or base.endswith(PICKLE_SUFFIXES)):
                    continue  # other files are ignored, as for loose uploads
                total += member.size
                if total > max_bytes:
                    raise AdapterRejected(Reason.TOO_LARGE, f"archive content exceeds {max_bytes} bytes (MaxAdapterBytes)")
                src = tar.extractfile(member)
                assert src is not None
                with src, open(os.path.join(dest, base), "wb") as out:
                    remaining = member.size
                    while remaining:
                        chunk = src.read(min(1 << 20, remaining))
                        if not chunk:
                            raise AdapterRejected(Reason.INVALID_ARCHIVE, f"archive member {name!r} is truncated")
                        out.write(chunk)
                        remaining -= len(chunk)
                written.append(base)
        except (tarfile.TarError, EOFError, OSError) as e:
            raise AdapterRejected(Reason.INVALID_ARCHIVE, f"adapter.tar.gz is corrupt: {e}") from None
    return written


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
