"""Bringing an adapter's files into a local folder for validation, from any source: the archive
(extracted safely) or the two loose files, with the size limit checked before any download.
Shared by ingest (S3 uploads) and the serving container (its adapter source).

`stage_files` downloads whole files; `stage_streams` (the serving cache) takes each file's bytes as
they arrive: the two loose files at once, the weights hashed while written, an archive extracted
while it downloads. Both apply the same checks."""
import os
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Callable

from loraplane_core.adapters.archive import extract_adapter_archive, extract_adapter_stream
from loraplane_core.adapters.byte_pipe import BytePipe, PipeClosed
from loraplane_core.adapters.reasons import AdapterRejected, Reason
from loraplane_core.adapters.upload_layout import (
    ARCHIVE_FILE,
    CONFIG_FILE,
    PICKLE_SUFFIXES,
    WEIGHTS_FILE,
)
from loraplane_core.adapters.weights_sink import CappedFile, ShortRead, WeightsDigest, WeightsSink

# stream(filename, sink): write the file's bytes, in order, to sink.write
Stream = Callable[[str, object], None]


def stage_files(sizes: dict[str, int], download: Callable[[str, str], None], dest: str, max_bytes: int,
                from_archive: bool) -> None:
    """`sizes`: filename -> bytes of what the source holds; `download(filename, path)` copies one file."""
    if from_archive:
        check_archive_size(sizes, max_bytes)
        archive = dest.rstrip("/") + ".tar.gz"
        download(ARCHIVE_FILE, archive)
        try:
            extract_adapter_archive(archive, dest, max_bytes)
        finally:
            os.remove(archive)
        return
    for name in loose_files(sizes, max_bytes):
        download(name, os.path.join(dest, name))
    mark_pickles(sizes, dest)


def stage_streams(sizes: dict[str, int], stream: Stream, dest: str, max_bytes: int,
                  from_archive: bool) -> WeightsDigest | None:
    """stage_files from streams; returns the weights' digest (None if the source has no weights)."""
    if from_archive:
        check_archive_size(sizes, max_bytes)
        return _extract_while_downloading(stream, sizes[ARCHIVE_FILE], dest, max_bytes)
    wanted = loose_files(sizes, max_bytes)
    sinks = {name: (WeightsSink if name == WEIGHTS_FILE else CappedFile)(os.path.join(dest, name), sizes[name], name)
             for name in wanted}

    def fetch(name: str) -> None:
        try:
            stream(name, sinks[name])
            sinks[name].finish()
        finally:
            sinks[name].close()

    if len(wanted) == 1:
        fetch(wanted[0])
    elif wanted:  # the config and the weights at once: one round trip, not two
        with ThreadPoolExecutor(len(wanted), thread_name_prefix="adapter-file") as pool:
            futures = [pool.submit(fetch, name) for name in wanted]
            wait(futures)
        for future in futures:  # the first failure, in a fixed order
            future.result()
    mark_pickles(sizes, dest)
    weights = sinks.get(WEIGHTS_FILE)
    return weights.digest() if isinstance(weights, WeightsSink) else None


def check_archive_size(sizes: dict[str, int], max_bytes: int) -> None:
    if sizes[ARCHIVE_FILE] > max_bytes:
        raise AdapterRejected(Reason.TOO_LARGE, f"adapter.tar.gz is {sizes[ARCHIVE_FILE]} bytes, "
                                                f"above the limit of {max_bytes} (MaxAdapterBytes)")


def loose_files(sizes: dict[str, int], max_bytes: int) -> list[str]:
    """The files to fetch of a loose upload, after the size check."""
    wanted = [n for n in (CONFIG_FILE, WEIGHTS_FILE) if n in sizes]
    size = sum(sizes[n] for n in wanted)
    if size > max_bytes:
        raise AdapterRejected(Reason.TOO_LARGE, f"adapter is {size} bytes, above the limit of {max_bytes} "
                                                "(MaxAdapterBytes)")
    return wanted


def mark_pickles(sizes: dict[str, int], dest: str) -> None:
    # Pickle files are never downloaded: an empty marker lets validation name them.
    for name in sizes:
        if name.endswith(PICKLE_SUFFIXES):
            open(os.path.join(dest, name), "wb").close()


def _extract_while_downloading(stream: Stream, size: int, dest: str, max_bytes: int) -> WeightsDigest | None:
    """The archive's bytes go through a pipe to the extraction, in another thread. A download error
    wins over what it made the extraction see; an extraction error (the archive's fault) stops the
    download."""
    pipe = BytePipe(limit=size, label=ARCHIVE_FILE)
    with ThreadPoolExecutor(1, thread_name_prefix="adapter-archive") as pool:
        extraction = pool.submit(_extract_and_close, pipe, dest, max_bytes)
        failure: BaseException | None = None
        try:
            stream(ARCHIVE_FILE, pipe)
            if pipe.written != size:
                failure = ShortRead(f"{ARCHIVE_FILE}: read {pipe.written} of its {size} bytes")
        except PipeClosed:
            pass  # the extraction ended first: its outcome tells why
        except BaseException as e:  # noqa: BLE001 - handed to the reader, raised below
            failure = e
        pipe.end(failure)
        wait([extraction])
    if failure is not None:
        raise failure
    return extraction.result()[1]


def _extract_and_close(pipe: BytePipe, dest: str, max_bytes: int):
    try:
        return extract_adapter_stream(pipe, dest, max_bytes)
    finally:
        pipe.close()
