"""The safetensors header reader against files written by the safetensors library, and
hand-crafted malicious ones; the library itself must reject what we reject."""
import json
import struct

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from loraplane_core.adapters.reasons import AdapterRejected, Reason
from loraplane_core.adapters.safetensors_header import read_header_file


def write_raw(path, header: dict | bytes, data: bytes = b"", claimed_len: int | None = None):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw) if claimed_len is None else claimed_len) + raw + data)
    return str(path)


def library_rejects(path) -> bool:
    try:
        with safe_open(path, framework="pt") as f:
            for k in f.keys():
                f.get_tensor(k)
        return False
    except Exception:  # noqa: BLE001
        return True


def test_reads_library_written_file(tmp_path):
    path = str(tmp_path / "ok.safetensors")
    save_file({"a": torch.zeros(2, 3), "b": torch.ones(4, dtype=torch.float16)}, path, metadata={"format": "pt"})
    tensors = read_header_file(path)
    assert {n: (t.dtype, t.shape) for n, t in tensors.items()} == {"a": ("F32", (2, 3)), "b": ("F16", (4,))}


@pytest.mark.parametrize("case,reason", [
    ("header_bomb", Reason.SAFETENSORS_HEADER_TOO_LARGE),
    ("header_past_eof", Reason.SAFETENSORS_TRUNCATED),
    ("truncated_data", Reason.SAFETENSORS_TRUNCATED),
    ("not_json", Reason.SAFETENSORS_MALFORMED),
    ("overlap", Reason.SAFETENSORS_MALFORMED),
    ("wrong_size", Reason.SAFETENSORS_MALFORMED),
    ("bad_dtype", Reason.SAFETENSORS_MALFORMED),
    ("trailing_bytes", Reason.SAFETENSORS_MALFORMED),
])
def test_rejects_malicious_files(tmp_path, case, reason):
    entry = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    path = tmp_path / f"{case}.safetensors"
    if case == "header_bomb":
        path = write_raw(path, {"a": entry}, b"\0" * 8, claimed_len=2**62)
    elif case == "header_past_eof":
        path = write_raw(path, {"a": entry}, b"", claimed_len=10_000)
    elif case == "truncated_data":
        path = write_raw(path, {"a": entry}, b"\0" * 4)
    elif case == "not_json":
        path = write_raw(path, b"{not json at all", b"")
    elif case == "overlap":
        path = write_raw(path, {"a": entry, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12)
    elif case == "wrong_size":
        path = write_raw(path, {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8)
    elif case == "bad_dtype":
        path = write_raw(path, {"a": {"dtype": "PICKLE", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8)
    elif case == "trailing_bytes":
        path = write_raw(path, {"a": entry}, b"\0" * 16)
    with pytest.raises(AdapterRejected) as e:
        read_header_file(str(path))
    assert e.value.reason == reason
    if case != "trailing_bytes":  # the library tolerates trailing bytes; we do not
        assert library_rejects(str(path))


def test_file_shorter_than_length_prefix(tmp_path):
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(b"\x01\x02")
    with pytest.raises(AdapterRejected) as e:
        read_header_file(str(path))
    assert e.value.reason == Reason.SAFETENSORS_TRUNCATED


def test_absurd_json_is_a_rejection_not_a_crash(tmp_path):
    deep = b"{\"a\":" + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(AdapterRejected) as e:
        read_header_file(write_raw(tmp_path / "deep.safetensors", deep))
    assert e.value.reason == Reason.SAFETENSORS_MALFORMED
    huge_number = b"{\"a\": " + b"9" * 5000 + b"}"
    with pytest.raises(AdapterRejected) as e:
        read_header_file(write_raw(tmp_path / "num.safetensors", huge_number))
    assert e.value.reason == Reason.SAFETENSORS_MALFORMED
