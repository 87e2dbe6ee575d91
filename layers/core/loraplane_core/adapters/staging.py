"""Bringing an adapter's files into a local folder for validation, from any source: the archive
(extracted safely) or the two loose files, with the size limit checked before any download.
Shared by ingest (S3 uploads) and the serving container (its adapter source)."""
import os
from typing import Callable

from loraplane_core.adapters.archive import extract_adapter_archive
from loraplane_core.adapters.reasons import AdapterRejected, Reason
from loraplane_core.adapters.upload_layout import (
    ARCHIVE_FILE,
    CONFIG_FILE,
    PICKLE_SUFFIXES,
    WEIGHTS_FILE,
)


def stage_files(sizes: dict[str, int], download: Callable[[str, str], None], dest: str, max_bytes: int,
                from_archive: bool) -> None:
    """`sizes`: filename -> bytes of what the source holds; `download(filename, path)` copies one file."""
    if from_archive:
        if sizes[ARCHIVE_FILE] > max_bytes:
            raise AdapterRejected(Reason.TOO_LARGE, f"adapter.tar.gz is {sizes[ARCHIVE_FILE]} bytes, "
                                                    f"above the limit of {max_bytes} (MaxAdapterBytes)")
        archive = dest.rstrip("/") + ".tar.gz"
        download(ARCHIVE_FILE, archive)
        try:
            extract_adapter_archive(archive, dest, max_bytes)
        finally:
            os.remove(archive)
        return
    wanted = [n for n in (CONFIG_FILE, WEIGHTS_FILE) if n in sizes]
    size = sum(sizes[n] for n in wanted)
    if size > max_bytes:
        raise AdapterRejected(Reason.TOO_LARGE, f"adapter is {size} bytes, above the limit of {max_bytes} (MaxAdapterBytes)")
    for name in wanted:
        download(name, os.path.join(dest, name))
    # Pickle files are never downloaded: an empty marker lets validation name them.
    for name in sizes:
        if name.endswith(PICKLE_SUFFIXES):
            open(os.path.join(dest, name), "wb").close()
