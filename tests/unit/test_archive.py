"""adapter.tar.gz: safe extraction limits, and the deterministic serving artifact."""
import io
import os
import tarfile

import pytest

from loraplane_core.adapters.archive import build_adapter_archive, extract_adapter_archive
from loraplane_core.adapters.reasons import AdapterRejected, Reason


def make_tar(path, members: list[tuple[tarfile.TarInfo, bytes | None]]):
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return str(path)


def file_info(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def test_round_trip_and_determinism(make_adapter, tmp_path):
    src = make_adapter()
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    build_adapter_archive(src, str(a))
    build_adapter_archive(src, str(b))
    assert a.read_bytes() == b.read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    assert sorted(extract_adapter_archive(str(a), str(out), 10**8)) == ["adapter_config.json", "adapter_model.safetensors"]
    for name in os.listdir(out):
        assert (out / name).read_bytes() == open(os.path.join(src, name), "rb").read()


def test_ignores_other_files_and_dot_slash(tmp_path):
    arc = make_tar(tmp_path / "x.tar.gz", [(file_info("./adapter_config.json"), b"{}"), (file_info("README.md"), b"hi"),
                                           (file_info("sub/adapter_config.json"), b"{}")])
    out = tmp_path / "out"
    out.mkdir()
    assert extract_adapter_archive(arc, str(out), 1000) == ["adapter_config.json"]


@pytest.mark.parametrize("kind,reason", [
    ("symlink", Reason.UNSAFE_ARCHIVE), ("hardlink", Reason.UNSAFE_ARCHIVE), ("absolute", Reason.UNSAFE_ARCHIVE),
    ("dotdot", Reason.UNSAFE_ARCHIVE), ("device", Reason.UNSAFE_ARCHIVE), ("too_big", Reason.TOO_LARGE),
    ("not_gzip", Reason.INVALID_ARCHIVE),
])
def test_rejects_unsafe_archives(tmp_path, kind, reason):
    path = tmp_path / "evil.tar.gz"
    if kind == "not_gzip":
        path.write_bytes(b"PK\x03\x04 not a tarball")
    else:
        info = file_info("adapter_model.safetensors")
        data: bytes | None = b"x" * 10
        if kind == "symlink":
            info.type, info.linkname, data = tarfile.SYMTYPE, "/etc/passwd", None
        elif kind == "hardlink":
            info.type, info.linkname, data = tarfile.LNKTYPE, "adapter_config.json", None
        elif kind == "absolute":
            info.name = "/tmp/adapter_model.safetensors"
        elif kind == "dotdot":
            info.name = "../../adapter_model.safetensors"
        elif kind == "device":
            info.type, data = tarfile.CHRTYPE, None
        elif kind == "too_big":
            data = b"x" * 5000
        make_tar(path, [(info, data)])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(AdapterRejected) as e:
        extract_adapter_archive(str(path), str(out), 1000)
    assert e.value.reason == reason
    assert not any(p.is_file() and p.stat().st_size for p in tmp_path.parent.rglob("passwd"))


def test_too_many_members(tmp_path):
    arc = make_tar(tmp_path / "many.tar.gz", [(file_info(f"f{i}.txt"), b"") for i in range(100)])
    with pytest.raises(AdapterRejected) as e:
        extract_adapter_archive(arc, str(tmp_path), 1000)
    assert e.value.reason == Reason.UNSAFE_ARCHIVE


def test_oversized_pax_header_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "pax.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("adapter_config.json")
        info.pax_headers = {"comment": "x" * 200_000}
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(AdapterRejected) as e:
        extract_adapter_archive(str(path), str(tmp_path), 10**6)
    assert e.value.reason == Reason.UNSAFE_ARCHIVE and "extended header" in e.value.message
