"""Hostile uploads found by review: each one used to crash, hang, or blow a limit of the ingest
Lambda; now each ends in a named rejection with a bounded message, quickly."""
import gzip
import io
import json
import os
import signal
import struct
import tarfile
import time
import tracemalloc
from contextlib import contextmanager

import pytest
import torch
from safetensors.torch import load_file, save_file

from loraplane_core.adapters.config import parse_adapter_config
from loraplane_core.adapters.archive import extract_adapter_archive
from loraplane_core.adapters.upload_layout import check_adapter_name
from loraplane_core.adapters.reasons import AdapterRejected, Reason
from loraplane_core.adapters.safetensors_header import MAX_HEADER_BYTES, read_header
from loraplane_core.adapters.validation import Policy, validate_adapter_dir

POLICY = Policy(max_rank=16, max_bytes=10 * 1024 * 1024)
MESSAGE_LIMIT = 1024


@contextmanager
def within(seconds: int):
    """Fail instead of hanging (re's matcher checks signals, so SIGALRM interrupts a ReDoS)."""
    def expire(*_):
        raise TimeoutError(f"took over {seconds} s")
    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def rejected(adapter_dir, base) -> AdapterRejected:
    with within(10), pytest.raises(AdapterRejected) as e:
        validate_adapter_dir(adapter_dir, POLICY, base)
    assert len(e.value.message) <= MESSAGE_LIMIT and "\n" not in e.value.message
    return e.value


def edit_config(adapter_dir: str, **changes) -> None:
    path = os.path.join(adapter_dir, "adapter_config.json")
    with open(path) as f:
        cfg = json.load(f)
    with open(path, "w") as f:
        json.dump({**cfg, **changes}, f)


def add_tensors(adapter_dir: str, extra: dict[str, torch.Tensor]) -> None:
    path = os.path.join(adapter_dir, "adapter_model.safetensors")
    save_file({**load_file(path), **extra}, path)


# 2. Rejection messages repeat user input: bounded, so Validate's output stays far below 256 KB.

@pytest.mark.parametrize("changes,reason", [
    ({"base_model_name_or_path": "x" * 300_000}, Reason.BASE_MODEL_MISMATCH),
    ({"target_modules": [f"module_{i}" for i in range(30_000)]}, Reason.UNKNOWN_TARGET_MODULES),
    ({"modules_to_save": ["m" * 1000] * 1000}, Reason.UNSUPPORTED_VARIANT),
    ({"bias": "b" * 300_000}, Reason.UNSUPPORTED_VARIANT),
    ({"peft_type": "P" * 300_000}, Reason.NOT_LORA),
    ({"r": 10 ** 4000}, Reason.RANK_TOO_HIGH),
    ({"rank_pattern": {f"k{i}" * 5: "x" for i in range(10_000)}}, Reason.CONFIG_INVALID),
])
def test_messages_that_repeat_user_input_are_bounded(make_adapter, base_profile, changes, reason):
    d = make_adapter()
    edit_config(d, **changes)
    err = rejected(d, base_profile)
    assert err.reason == reason
    assert "more" in err.message  # says that something was cut


def test_huge_tensor_name_is_bounded_in_the_message(make_adapter, base_profile):
    d = make_adapter()
    add_tensors(d, {"base_model.model." + "a" * 300_000 + ".q_proj.lora_A.weight": torch.zeros(8, 64)})
    assert rejected(d, base_profile).reason == Reason.TENSORS_MISMATCH_CONFIG


def test_control_characters_are_escaped():
    err = AdapterRejected(Reason.CONFIG_INVALID, "bad {value}", value="a\nb\x1b[31m")
    assert err.message == r"bad 'a\nb\x1b[31m'"
    assert "\n" not in AdapterRejected(Reason.CONFIG_INVALID, "plain\nmessage").message


# 3. ReDoS: target_modules is run without backtracking, or refused.

def test_catastrophic_group_repeat_is_refused_fast(make_adapter, base_profile):
    d = make_adapter()
    edit_config(d, target_modules="(a|a)*\\.q_proj")
    add_tensors(d, {"base_model.model." + "a" * 60 + "!.q_proj.lora_A.weight": torch.zeros(8, 64)})
    started = time.monotonic()
    assert rejected(d, base_profile).reason == Reason.CONFIG_INVALID
    assert time.monotonic() - started < 5


def test_polynomial_backtracking_pattern_runs_fast(make_adapter, base_profile):
    # Allowed (single-character repeats only), but six `.*` are n^6 steps for a backtracking engine.
    d = make_adapter()
    edit_config(d, target_modules=".*.*.*.*.*.*\\.(q_proj|v_proj)")
    add_tensors(d, {"base_model.model." + "a" * 200 + ".k_proj.lora_A.weight": torch.zeros(8, 64)})
    started = time.monotonic()
    assert rejected(d, base_profile).reason == Reason.TENSORS_MISMATCH_CONFIG
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("pattern", [r"(q_proj)\1", r"(?=q).*", r"(?i)Q_PROJ", r"(?:.*_proj)+", r"q_proj++"])
def test_patterns_that_need_backtracking_are_refused(pattern):
    raw = json.dumps({"peft_type": "LORA", "r": 8, "target_modules": pattern}).encode()
    with pytest.raises(AdapterRejected) as e:
        parse_adapter_config(raw)
    assert e.value.reason == Reason.CONFIG_INVALID


# 7. Safetensors headers: a limit that fits the 1024 MB Lambda.

def safetensors_bytes(header: bytes, data: bytes = b"", claimed: int | None = None) -> tuple[io.BytesIO, int]:
    raw = struct.pack("<Q", len(header) if claimed is None else claimed) + header + data
    return io.BytesIO(raw), len(raw)


def test_header_over_the_memory_bound_is_too_large():
    f, size = safetensors_bytes(b"{" + b" " * (9 * 1024 * 1024) + b"}")  # 9 MiB: under the old 100 MB
    with pytest.raises(AdapterRejected) as e:
        read_header(f, size)
    assert e.value.reason == Reason.SAFETENSORS_HEADER_TOO_LARGE


def test_header_limit_fits_the_validate_lambda():
    """Parsed JSON of empty objects is the worst case (~25x its bytes): at the limit it must leave
    most of the 1024 MB Lambda free. benchmarks/validate_memory.py measures the whole process."""
    header = b'{"a":[' + b",".join([b"{}"] * (1 << 19)) + b"]}"  # 1.5 MiB
    f, size = safetensors_bytes(header)
    tracemalloc.start()
    try:
        with pytest.raises(AdapterRejected):
            read_header(f, size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    per_byte = peak / len(header)
    assert 10 < per_byte < 40
    assert MAX_HEADER_BYTES * per_byte < 400 * 2 ** 20, f"{MAX_HEADER_BYTES * per_byte / 2 ** 20:.0f} MB"


@pytest.mark.parametrize("entry", [
    {"dtype": [], "shape": [1], "data_offsets": [0, 4]},              # unhashable dtype
    {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]},        # a bool is no dimension
    {"dtype": "F32", "shape": [10 ** 18] * 100_000, "data_offsets": [0, 4]},  # math.prod: a minute
])
def test_odd_header_entries_are_malformed(entry):
    f, size = safetensors_bytes(json.dumps({"t": entry}).encode(), b"\0" * 4)
    with within(10), pytest.raises(AdapterRejected) as e:
        read_header(f, size)
    assert e.value.reason == Reason.SAFETENSORS_MALFORMED


# 10. Archives: header chains and tarfile's other exceptions end in a rejection.

def pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return str(n).encode() + body


def gz_file(tmp_path, raw_tar: bytes) -> str:
    path = tmp_path / "adapter.tar.gz"
    path.write_bytes(gzip.compress(raw_tar))
    return str(path)


def extended(kind: bytes, payload: bytes) -> bytes:
    info = tarfile.TarInfo("././@LongLink" if kind == tarfile.GNUTYPE_LONGNAME else "././@PaxHeader")
    info.type, info.size = kind, len(payload)
    return info.tobuf(tarfile.GNU_FORMAT if kind == tarfile.GNUTYPE_LONGNAME else tarfile.USTAR_FORMAT) \
        + payload + b"\0" * (-len(payload) % 512)


def member(name: str = "adapter_config.json", data: bytes = b"{}") -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info.tobuf(tarfile.USTAR_FORMAT) + data + b"\0" * (-len(data) % 512)


def extract(path: str, tmp_path) -> AdapterRejected:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    with within(10), pytest.raises(AdapterRejected) as e:
        extract_adapter_archive(path, str(out), 10 ** 6)
    return e.value


@pytest.mark.parametrize("kind,payload", [(tarfile.XHDTYPE, pax_record(b"comment", b"aaaaaaaa")),
                                          (tarfile.GNUTYPE_LONGNAME, b"adapter_config.json\0")])
def test_thousands_of_chained_headers_are_unsafe(tmp_path, kind, payload):
    raw = extended(kind, payload) * 3000 + member() + b"\0" * 1024
    path = gz_file(tmp_path, raw)
    assert os.path.getsize(path) < 20_000
    assert extract(path, tmp_path).reason == Reason.UNSAFE_ARCHIVE


@pytest.mark.parametrize("case,reason", [
    ("pax_length_digits", Reason.INVALID_ARCHIVE),  # int() of a 5,000-digit record length
    ("sparse_map", Reason.UNSAFE_ARCHIVE),          # int() of 'x' in GNU.sparse.map
    ("nul_in_name", Reason.UNSAFE_ARCHIVE),         # open() refuses an embedded NUL
    ("negative_size", Reason.INVALID_ARCHIVE),      # pax size=-1000000000 was taken as is
])
def test_tarfile_exceptions_become_rejections(tmp_path, case, reason):
    if case == "pax_length_digits":
        raw = extended(tarfile.XHDTYPE, b"9" * 5000 + b" comment=x\n") + member()
    elif case == "sparse_map":
        raw = extended(tarfile.XHDTYPE, pax_record(b"GNU.sparse.map", b"x,y")) + member()
    elif case == "nul_in_name":
        raw = extended(tarfile.XHDTYPE, pax_record(b"path", b"a\0b.bin")) + member("x.bin")
    else:  # an ignored member that lowers the running total: the 2 x MaxAdapterBytes bound is gone
        raw = extended(tarfile.XHDTYPE, pax_record(b"size", b"-1000000000")) + member("README.md", b"") + member()
    assert extract(gz_file(tmp_path, raw + b"\0" * 1024), tmp_path).reason == reason


# 11. Layer numbers past int()'s 4,300-digit limit.

def test_five_thousand_digit_layer_number(make_adapter, base_profile):
    d = make_adapter()
    add_tensors(d, {f"base_model.model.model.layers.{'9' * 5000}.self_attn.q_proj.lora_A.weight": torch.zeros(8, 64)})
    assert rejected(d, base_profile).reason == Reason.TENSORS_MISMATCH_CONFIG


# 13. Names with a trailing newline (`$` matches before it).

@pytest.mark.parametrize("name", ["abc\n", "a\n", "support-bot\n"])
def test_adapter_name_with_trailing_newline(name):
    with pytest.raises(AdapterRejected) as e:
        check_adapter_name(name)
    assert e.value.reason == Reason.INVALID_ADAPTER_NAME and "\n" not in e.value.message


def test_tensor_name_with_trailing_newline(make_adapter, base_profile):
    d = make_adapter()
    path = os.path.join(d, "adapter_model.safetensors")
    tensors = load_file(path)
    first = min(tensors)
    add_tensors(d, {first + "\n": tensors[first]})
    assert rejected(d, base_profile).reason == Reason.TENSORS_MISMATCH_CONFIG
