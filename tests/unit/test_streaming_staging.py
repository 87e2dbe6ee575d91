"""Staging an adapter from streams (the serving cache's path): the weights hashed and their header
read while written, archives extracted while they arrive. Each is checked against the whole-file
functions ingest uses, on the fuzzers' inputs: same bytes, same digest, same verdict."""
import hashlib
import io
import os
import tempfile
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loraplane_core.adapters.archive import build_adapter_archive, extract_adapter_stream
from loraplane_core.adapters.byte_pipe import BytePipe, FeedFailed, PipeClosed
from loraplane_core.adapters.reasons import AdapterRejected, Reason
from loraplane_core.adapters.safetensors_header import read_header
from loraplane_core.adapters.staging import stage_files, stage_streams
from loraplane_core.adapters.upload_layout import ARCHIVE_FILE, CONFIG_FILE, WEIGHTS_FILE
from loraplane_core.adapters.validation import Policy, sha256_file, validate_adapter_dir
from loraplane_core.adapters.weights_sink import ShortRead, WeightsSink

from .ingest_fuzz import FUZZ, FUZZ_SLOW
from .test_fuzz_archive import raw_archives
from .test_fuzz_safetensors import raw_files

cut_points = st.lists(st.integers(0, 1 << 17), max_size=6)


def pieces(raw: bytes, cuts: list[int]) -> list[bytes]:
    bounds = sorted({0, len(raw), *(c % (len(raw) + 1) for c in cuts)})
    return [raw[a:b] for a, b in zip(bounds, bounds[1:])] or [b""]


def outcome(fn, *args):
    """The result, or (reason, message) of the rejection."""
    try:
        return fn(*args)
    except AdapterRejected as e:
        return (e.reason, str(e))


def streamer(files: dict[str, bytes], cuts: list[int] = ()):
    """A source's stream(filename, sink) over in-memory files, in the given pieces."""
    def stream(filename, sink):
        for piece in pieces(files[filename], list(cuts)):
            sink.write(piece)
    return stream


# -- the weights sink ----------------------------------------------------------------------------
@FUZZ
@given(raw=raw_files, cuts=cut_points)
def test_sink_digest_is_the_whole_file_reading(raw, cuts):
    with tempfile.TemporaryDirectory() as root:
        path = os.path.join(root, WEIGHTS_FILE)
        sink = WeightsSink(path, len(raw))
        for piece in pieces(raw, cuts):
            sink.write(piece)
        sink.finish()
        digest = sink.digest()
        with open(path, "rb") as f:
            assert f.read() == raw
    assert digest.sha256 == hashlib.sha256(raw).hexdigest() and digest.size == len(raw)
    expected = outcome(read_header, io.BytesIO(raw), len(raw))
    got = outcome(digest.header)
    assert got == expected


def test_sink_refuses_more_or_fewer_bytes_than_listed(tmp_path):
    sink = WeightsSink(str(tmp_path / "w"), 10)
    sink.write(b"x" * 6)
    with pytest.raises(AdapterRejected) as e:
        sink.write(b"x" * 5)
    assert e.value.reason == Reason.TOO_LARGE
    with pytest.raises(ShortRead):  # a source that ended early: a failed fetch, not a bad adapter
        sink.finish()


# -- the pipe ------------------------------------------------------------------------------------
@FUZZ
@given(raw=st.binary(max_size=5000), cuts=cut_points, capacity=st.integers(1, 3000),
       reads=st.lists(st.integers(1, 700) | st.just(-1), min_size=1, max_size=8))
def test_pipe_gives_the_reader_the_bytes_in_order(raw, cuts, reads, capacity):
    pipe = BytePipe(capacity=capacity)

    def feed():
        for piece in pieces(raw, cuts):
            pipe.write(piece)
        pipe.end()

    writer = threading.Thread(target=feed)
    writer.start()
    got, i = bytearray(), 0
    while chunk := pipe.read(reads[i % len(reads)]):
        got += chunk
        i += 1
    writer.join()
    assert bytes(got) == raw


def test_pipe_ends_both_ways():
    pipe = BytePipe(capacity=4)
    pipe.write(b"abcd")  # full now: the next write waits for room
    blocked = []

    def write_more():
        try:
            pipe.write(b"ef")
        except PipeClosed:
            blocked.append("closed")

    writer = threading.Thread(target=write_more)
    writer.start()
    pipe.close()  # the reader is done: a waiting writer is told so
    writer.join(timeout=30)
    assert blocked == ["closed"]
    failed = BytePipe()
    failed.write(b"ab")
    failed.end(ConnectionError("reset"))
    assert failed.read() == b"ab"  # what came before the failure
    with pytest.raises(FeedFailed):  # then the failure, not an end of data
        failed.read()
    with pytest.raises(AdapterRejected) as e:
        BytePipe(limit=3).write(b"abcd")
    assert e.value.reason == Reason.TOO_LARGE


def at_once(fn, *args):
    """fn(*args), run where a hang fails the test instead of stopping it."""
    result: list = []
    worker = threading.Thread(target=lambda: result.append(fn(*args)), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert result, f"{fn.__name__}{args} did not return"
    return result[0]


def test_an_empty_write_and_a_zero_read_wait_for_nothing():
    pipe = BytePipe(capacity=1)
    assert at_once(pipe.read, 0) == b""  # an empty pipe whose writer has not ended: not an end, no wait
    assert pipe.write(b"a") == 1  # full now
    assert at_once(pipe.write, b"") == 0  # no room needed for nothing
    assert at_once(pipe.read, 0) == b"" and pipe.read(5) == b"a"
    pipe.end()
    assert pipe.read() == b"" and pipe.read(0) == b""
    pipe.close()
    with pytest.raises(PipeClosed):  # as any write after the reader is done
        pipe.write(b"")


@FUZZ
@given(written=st.lists(st.binary(max_size=40), max_size=12), capacity=st.integers(1, 100),
       reads=st.lists(st.integers(0, 64) | st.just(-1), min_size=1, max_size=8).filter(lambda r: any(r)))
def test_empty_writes_and_zero_reads_are_not_an_end_of_data(written, reads, capacity):
    """Only the writer's end() makes a read of one byte or more answer b\"\"; read(0) is always b\"\"."""
    pipe = BytePipe(capacity=capacity)

    def feed():
        for piece in written:
            assert pipe.write(piece) == len(piece)
        pipe.end()

    def drain() -> bytes:
        got, i = bytearray(), 0
        while True:
            size, i = reads[i % len(reads)], i + 1
            chunk = pipe.read(size)
            if size == 0:
                assert chunk == b""
            elif not chunk:
                return bytes(got)
            got += chunk

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    assert at_once(drain) == b"".join(written)
    writer.join(timeout=30)


# -- archives ------------------------------------------------------------------------------------
@FUZZ_SLOW
@given(packed=raw_archives, max_bytes=st.sampled_from([0, 100, 10 ** 6]), cuts=cut_points)
def test_streamed_archives_get_the_same_verdict_as_downloaded_ones(packed, max_bytes, cuts):
    with tempfile.TemporaryDirectory() as root:
        from_file, from_stream = os.path.join(root, "file"), os.path.join(root, "stream")
        os.mkdir(from_file), os.mkdir(from_stream)
        sizes = {ARCHIVE_FILE: len(packed)}
        expected = outcome(stage_files, sizes, lambda _, path: open(path, "wb").write(packed), from_file, max_bytes,
                           True)
        got = outcome(stage_streams, sizes, streamer({ARCHIVE_FILE: packed}, cuts), from_stream, max_bytes, True)
        if isinstance(expected, tuple):  # the same reason (tarfile words corrupt data by mode)
            assert isinstance(got, tuple) and got[0] == expected[0], (got, expected)
            return
        assert not isinstance(got, tuple), got
        assert sorted(os.listdir(from_stream)) == sorted(os.listdir(from_file))
        for name in os.listdir(from_file):
            with open(os.path.join(from_file, name), "rb") as a, open(os.path.join(from_stream, name), "rb") as b:
                assert a.read() == b.read(), name
        if WEIGHTS_FILE in os.listdir(from_file):
            assert got is not None and got.sha256 == sha256_file(os.path.join(from_file, WEIGHTS_FILE))
        else:
            assert got is None


def test_archive_stream_failures(tmp_path, adapter_cache):
    src = adapter_cache(seed=5)
    archive = tmp_path / "adapter.tar.gz"
    build_adapter_archive(src, str(archive))
    packed = archive.read_bytes()
    names, digest = extract_adapter_stream(io.BytesIO(packed), str(tmp_path), 10 ** 7)
    assert sorted(names) == [CONFIG_FILE, WEIGHTS_FILE]
    assert digest.sha256 == sha256_file(os.path.join(src, WEIGHTS_FILE))

    def broken(filename, sink):  # the download fails half-way: its error, not "corrupt archive"
        sink.write(packed[: len(packed) // 2])
        raise ConnectionError("connection reset")

    with pytest.raises(ConnectionError):
        stage_streams({ARCHIVE_FILE: len(packed)}, broken, str(tmp_path / "a"), 10 ** 7, True)
    with pytest.raises(ShortRead):  # a source that ends early
        stage_streams({ARCHIVE_FILE: len(packed) + 10}, streamer({ARCHIVE_FILE: packed}),
                      str(tmp_path / "b"), 10 ** 7, True)
    with pytest.raises(AdapterRejected) as e:  # more bytes than listed
        stage_streams({ARCHIVE_FILE: len(packed) - 10}, streamer({ARCHIVE_FILE: packed}),
                      str(tmp_path / "c"), 10 ** 7, True)
    assert e.value.reason == Reason.TOO_LARGE
    sent = []

    def garbage(filename, sink):  # not gzip: the extraction stops at once, and so does the download
        for _ in range(20):
            sink.write(b"\x1f\x8b" + b"\0" * (1 << 20))
            sent.append(1)

    with pytest.raises(AdapterRejected) as e:
        stage_streams({ARCHIVE_FILE: 20 * ((1 << 20) + 2)}, garbage, str(tmp_path / "d"), 10 ** 8, True)
    assert e.value.reason == Reason.INVALID_ARCHIVE and len(sent) < 20  # the pipe holds 8 MiB at most


# -- loose files ---------------------------------------------------------------------------------
def test_loose_files_stage_and_validate_as_ingest_does(tmp_path, adapter_cache, base_profile):
    src = adapter_cache(seed=6)
    files = {n: open(os.path.join(src, n), "rb").read() for n in (CONFIG_FILE, WEIGHTS_FILE)}
    sizes = {n: len(b) for n, b in files.items()} | {"adapter_model.bin": 3}
    streamed, copied = tmp_path / "streamed", tmp_path / "copied"
    streamed.mkdir(), copied.mkdir()
    digest = stage_streams(sizes, streamer(files, [100, 5000]), str(streamed), 10 ** 7, False)
    stage_files(sizes, lambda n, p: open(p, "wb").write(files[n]), str(copied), 10 ** 7, False)
    assert sorted(os.listdir(streamed)) == sorted(os.listdir(copied))
    policy = Policy(max_rank=16)
    assert validate_adapter_dir(str(streamed), policy, base_profile, digest) == \
        validate_adapter_dir(str(copied), policy, base_profile)
    with pytest.raises(AdapterRejected) as e:  # sizes from the listing, before anything is fetched
        stage_streams(sizes, None, str(tmp_path), 100, False)
    assert e.value.reason == Reason.TOO_LARGE


def test_a_bad_header_is_reported_after_the_config_as_before(tmp_path, adapter_cache, base_profile):
    src = adapter_cache(seed=7, rank=32)  # the rank is refused first, whatever the weights hold
    files = {CONFIG_FILE: open(os.path.join(src, CONFIG_FILE), "rb").read(), WEIGHTS_FILE: b"\xff" * 64}
    digest = stage_streams({n: len(b) for n, b in files.items()}, streamer(files), str(tmp_path), 10 ** 7, False)
    with pytest.raises(AdapterRejected) as e:
        validate_adapter_dir(str(tmp_path), Policy(max_rank=16), base_profile, digest)
    assert e.value.reason == Reason.RANK_TOO_HIGH
    with pytest.raises(AdapterRejected) as e:
        validate_adapter_dir(str(tmp_path), Policy(max_rank=64), base_profile, digest)
    assert e.value.reason == Reason.SAFETENSORS_HEADER_TOO_LARGE


def test_a_read_waits_for_all_it_asks_unless_the_data_ends():
    """gzip reads its 2-byte magic with one read(2): a download whose first chunk is 1 byte must not
    look like a file that is not gzip (found by the archive property test above)."""
    pipe = BytePipe(capacity=4)
    pipe.write(b"\x1f")
    reader = threading.Thread(target=lambda: got.append(pipe.read(2)), daemon=True)
    got: list[bytes] = []
    reader.start()
    pipe.write(b"\x8b\x08")
    reader.join(timeout=30)
    assert got == [b"\x1f\x8b"]
    pipe.write(b"xyz")  # 4 buffered: the capacity, all a read may wait for
    assert at_once(pipe.read, 10) == b"\x08xyz"
    pipe.write(b"z")
    pipe.end()
    assert pipe.read(10) == b"z" and pipe.read(10) == b""  # the end: what is left, then nothing
