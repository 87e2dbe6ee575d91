"""Reading one listed S3 object into a sink (anything with write()), in order, once.

Below RangedGets.threshold (16 MiB): one GET (If-Match the listed ETag), as the Lambdas read uploads.
From it on: parallel ranged GETs through s3transfer, the library behind boto3's download_file, given the listed
size and ETag so that it sends no HEAD first and every range is of the listed object. The sink is
not seekable, so s3transfer hands it the parts in order (at most max_in_memory_download_chunks parts
wait in memory): the sink hashes and parses as it writes, and nothing is read twice."""
from dataclasses import dataclass

from s3transfer.futures import TransferMeta
from s3transfer.manager import TransferConfig, TransferManager
from s3transfer.subscribers import BaseSubscriber

from loraplane_core.adapters.s3_upload import stream_listed

MiB = 1 << 20
# s3transfer sends If-Match with every range only since it takes the ETag (provide_object_etag); an
# older one (a base image's) could mix two versions of an object overwritten meanwhile: one GET then.
ETAG_PER_RANGE = hasattr(TransferMeta, "provide_object_etag")


@dataclass(frozen=True)
class RangedGets:
    threshold: int = 16 * MiB  # a smaller object costs one GET's round trip; ranges would add none
    part: int = 8 * MiB
    concurrency: int = 8
    parts_in_memory: int = 10  # parts fetched ahead of the one being written: <= 80 MiB of memory

    def config(self) -> TransferConfig:
        return TransferConfig(multipart_threshold=self.threshold, multipart_chunksize=self.part,
                              max_request_concurrency=self.concurrency,
                              max_in_memory_download_chunks=self.parts_in_memory, io_chunksize=MiB)


DEFAULT = RangedGets()


class _Listed(BaseSubscriber):
    """Tells s3transfer the size and ETag from the listing: no HEAD, and If-Match on every range."""

    def __init__(self, size: int, etag: str):
        self.size, self.etag = size, etag

    def on_queued(self, future, **kwargs):
        future.meta.provide_transfer_size(self.size)
        future.meta.provide_object_etag(self.etag)


def stream_object(s3, bucket: str, key: str, size: int, etag: str, sink, ranged: RangedGets | None = None) -> None:
    """Write the object's bytes to `sink` in order; raises what S3 or the sink raised. The client's
    timeouts and retries bound each request; s3transfer retries a broken body stream (5 attempts)."""
    ranged = ranged or DEFAULT
    if size < ranged.threshold or not ETAG_PER_RANGE:
        stream_listed(s3, bucket, key, size, etag, sink)
        return
    with TransferManager(s3, ranged.config()) as manager:
        manager.download(bucket, key, sink, subscribers=[_Listed(size, etag)]).result()
