"""Bytes written by one thread (a download) and read by another (archive extraction), with at most
`capacity` bytes waiting in between, so that an archive is extracted while it downloads and is never
stored whole, on disk or in memory.

Edge cases as io's streams have them: an empty write adds nothing (it neither waits for room nor
reads as an end of data), read(0) answers b"" at once, and only the end of data answers b"" to a
read of one byte or more."""
import collections
import threading

from loraplane_core.adapters.reasons import AdapterRejected, Reason


class PipeClosed(Exception):
    """The reader has stopped (extraction ended or failed): the rest of the download is not needed."""


class FeedFailed(Exception):
    """Raised to the reader when the writer failed: neither end-of-data nor a corrupt archive."""


class BytePipe:
    def __init__(self, capacity: int = 8 << 20, limit: int | None = None, label: str = "stream"):
        self.capacity, self.limit, self.label = capacity, limit, label
        self._chunks: collections.deque[memoryview] = collections.deque()
        self._buffered = self.written = 0
        self._cond = threading.Condition()
        self._ended = False  # the writer is done (or failed: _error)
        self._error: BaseException | None = None
        self._closed = False  # the reader is done

    # -- the writer's side ---------------------------------------------------------------------
    def write(self, data) -> int:
        n = len(data)
        if n == 0:  # nothing to queue: an empty chunk would read as the end of data
            with self._cond:
                if self._closed:
                    raise PipeClosed()
            return 0
        if self.limit is not None and self.written + n > self.limit:
            raise AdapterRejected(Reason.TOO_LARGE, "{file} grew beyond its listed {size} bytes while read",
                                  file=self.label, size=self.limit)
        with self._cond:
            while self._buffered >= self.capacity and not self._closed:
                self._cond.wait()
            if self._closed:
                raise PipeClosed()
            self._chunks.append(memoryview(bytes(data)))  # a copy: the writer may reuse its buffer
            self._buffered += n
            self.written += n
            self._cond.notify_all()
        return n

    def seekable(self) -> bool:
        return False

    def end(self, error: BaseException | None = None) -> None:
        """No more bytes; with `error`, the reader's next read raises FeedFailed instead of ending."""
        with self._cond:
            self._ended, self._error = True, error
            self._cond.notify_all()

    # -- the reader's side ---------------------------------------------------------------------
    def read(self, size: int | None = -1) -> bytes:
        if size is None:
            size = -1
        if size == 0:  # not an end of data, and nothing to wait for
            return b""
        with self._cond:
            # As a file's read(n): n bytes unless the data ends first (gzip reads its 2-byte magic with one
            # read(2)). At most `capacity` are awaited: the writer waits only when that much is buffered.
            want = min(size, self.capacity) if size > 0 else 1
            while self._buffered < want and not self._ended:
                self._cond.wait()
            if not self._chunks:
                if self._error is not None:
                    raise FeedFailed(str(self._error))
                return b""
            if size < 0:
                taken = [self._chunks.popleft()]
            else:
                taken, room = [], size
                while self._chunks and room > 0:
                    first = self._chunks[0]
                    if room < len(first):
                        self._chunks[0], first = first[room:], first[:room]
                    else:
                        self._chunks.popleft()
                    taken.append(first)
                    room -= len(first)
            data = b"".join(taken)
            self._buffered -= len(data)
            self._cond.notify_all()
            return data

    def close(self) -> None:
        """The reader is done: writes from now on (and a writer waiting for room) get PipeClosed."""
        with self._cond:
            self._closed = True
            self._chunks.clear()
            self._buffered = 0
            self._cond.notify_all()
