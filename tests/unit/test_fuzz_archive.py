"""Fuzzing adapter.tar.gz: archives built with tarfile (every member type, pax / GNU / ustar,
hostile names, chains of extended headers), then mutated block by block and byte by byte.
Every archive ends in accept or a named rejection, quickly; nothing is written outside `dest`."""
import gzip
import io
import os
import tarfile
import tempfile

from hypothesis import given
from hypothesis import strategies as st

from loraplane_core.adapters.archive import extract_adapter_archive
from loraplane_core.adapters.upload_layout import CONFIG_FILE, PICKLE_SUFFIXES, WEIGHTS_FILE

from .ingest_fuzz import FUZZ_SLOW, hostile_text, verdict

TYPES = [tarfile.REGTYPE, tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
         tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE, tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE, b"Z", b"\0"]
names = st.one_of(
    st.sampled_from([CONFIG_FILE, WEIGHTS_FILE, f"./{CONFIG_FILE}", "adapter_model.bin", "README.md", "sub/" + CONFIG_FILE,
                     "../" + WEIGHTS_FILE, "/etc/passwd", "a/../../x.bin", "..", ".", "", "x\\..\\y.pt", "dir/"]),
    hostile_text.map(lambda t: t[:300]),
    st.builds(lambda t, suffix: t[:100] + suffix, hostile_text, st.sampled_from(PICKLE_SUFFIXES)),
)
pax_values = st.one_of(hostile_text.map(lambda t: t[:2000]), st.sampled_from(["-1", "-1000000000", "9" * 5000, "x,y", "1,2,3"]))
pax_headers = st.dictionaries(
    st.sampled_from(["path", "linkpath", "size", "comment", "mtime", "uid", "GNU.sparse.map", "GNU.sparse.size",
                     "GNU.sparse.major", "hdrcharset", "uname"]), pax_values, max_size=3)


@st.composite
def members(draw) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(draw(names))
    info.type = draw(st.sampled_from(TYPES))
    info.linkname = draw(st.sampled_from(["", CONFIG_FILE, "/etc/passwd", "../x"]))
    info.pax_headers = draw(pax_headers)
    data = draw(st.one_of(st.just(b"{}"), st.binary(max_size=600)))
    info.size = len(data)
    return info, data


def build(entries, fmt) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in entries:
            try:
                tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
            except (ValueError, UnicodeError, OverflowError):  # not writable in this format: leave it out
                continue
    return buf.getvalue()


# Raw extended-header payloads, as tarfile would never write them: pax record lengths past int()'s
# digit limit, sparse maps that are not numbers, NUL in a path, a bad charset.
RAW_PAYLOADS = [b"20 comment=aaaaaaaa\n", b"9" * 5000 + b" comment=x\n", b"23 GNU.sparse.map=x,y\n", b"0 x=y\n",
                b"18 path=a\0b.bin\n", b"25 hdrcharset=\xff\xfe\xfdabc\n", b"15 size=-99999\n", CONFIG_FILE.encode() + b"\0"]


def extended_chain(kind: bytes, payload: bytes, count: int) -> bytes:
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = kind, len(payload)
    return (info.tobuf(tarfile.GNU_FORMAT) + payload + b"\0" * (-len(payload) % 512)) * count


@st.composite
def archives(draw) -> bytes:
    """Gzip bytes of a tar archive, mutated."""
    fmt = draw(st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT]))
    raw = bytearray(build(draw(st.lists(members(), max_size=6)), fmt))
    if draw(st.booleans()):  # a chain of extended headers in front of the first member
        kind = draw(st.sampled_from([tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK]))
        payload = draw(st.one_of(st.sampled_from(RAW_PAYLOADS), st.binary(max_size=100)))
        raw[0:0] = extended_chain(kind, payload, draw(st.one_of(st.integers(1, 12), st.just(3000))))
    blocks = len(raw) // 512
    for _ in range(draw(st.integers(0, 4))):
        mutation = draw(st.sampled_from(["flip", "duplicate", "drop", "cut", "size"]))
        block = draw(st.integers(0, max(0, blocks - 1))) * 512
        if mutation == "flip" and raw:
            at = draw(st.integers(0, len(raw) - 1))
            raw[at] = draw(st.integers(0, 255))
        elif mutation == "duplicate":
            raw[block:block] = raw[block:block + 512] * draw(st.integers(1, 20))
        elif mutation == "drop":
            del raw[block:block + 512]
        elif mutation == "cut":
            del raw[draw(st.integers(0, len(raw))):]
        elif mutation == "size" and len(raw) >= block + 136:  # a header's size field, base-256 or octal
            raw[block + 124:block + 136] = draw(st.sampled_from([b"\xff" * 12, b"\x80" + b"\xff" * 11, b"77777777777\0"]))
    packed = bytearray(gzip.compress(bytes(raw), mtime=0))
    if draw(st.integers(0, 5)) == 0 and len(packed) > 20:  # corrupt the deflate stream or its trailer
        at = draw(st.integers(10, len(packed) - 1))
        packed[at] ^= draw(st.integers(1, 255))
    return bytes(packed)


raw_archives = st.one_of(archives(), archives(), st.binary(max_size=300),
                         st.binary(max_size=300).map(lambda b: gzip.compress(b, mtime=0)))


@FUZZ_SLOW
@given(packed=raw_archives, max_bytes=st.sampled_from([0, 100, 10 ** 6]))
def test_adapter_archives(packed, max_bytes):
    with tempfile.TemporaryDirectory() as root:
        path, dest = os.path.join(root, "adapter.tar.gz"), os.path.join(root, "dest")
        os.mkdir(dest)
        with open(path, "wb") as f:
            f.write(packed)
        if verdict(extract_adapter_archive, path, dest, max_bytes) == "accepted":
            written = os.listdir(dest)
            assert all(n in (CONFIG_FILE, WEIGHTS_FILE) or n.endswith(PICKLE_SUFFIXES) for n in written)
            assert all(os.path.isfile(os.path.join(dest, n)) for n in written)
            assert sum(os.path.getsize(os.path.join(dest, n)) for n in written) <= max_bytes
        assert sorted(os.listdir(root)) == ["adapter.tar.gz", "dest"]  # nothing beside dest
