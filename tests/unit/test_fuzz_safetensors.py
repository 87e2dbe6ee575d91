"""Fuzzing safetensors files, and the tensor names and shapes in them, through the validator:
every input ends in accept or a named rejection with a bounded message, quickly."""
import io
import json
import os
import struct
import tempfile

from hypothesis import given
from hypothesis import strategies as st

from loraplane_core.adapters.config import LoraAdapterConfig
from loraplane_core.adapters.safetensors_header import DTYPE_BYTES, MAX_HEADER_BYTES, TensorInfo, read_header
from loraplane_core.adapters.validation import Policy, check_tensors, validate_adapter_dir

from .ingest_fuzz import (
    BASE, FUZZ, FUZZ_SLOW, MODULES, hostile_text, json_values, layer_numbers, module_paths, verdict,
)

dims = st.one_of(st.integers(0, 70), st.integers(0, 4000).map(lambda k: 10 ** k), st.just(-1), st.booleans())
tensor_names = st.one_of(
    st.builds(lambda path, kind: f"base_model.model.{path}.{kind}.weight", module_paths,
              st.sampled_from(["lora_A", "lora_B", "lora_embedding_A", "lora_magnitude_vector"])),
    st.builds(lambda name, tail: name + tail, st.just("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"),
              st.sampled_from(["", "\n", "\r\n", "\x00", " "])),
    hostile_text,
)


@st.composite
def headers(draw) -> tuple[dict, int]:
    """A header and its data size: mostly consistent offsets, sometimes anything."""
    header, cursor = {}, 0
    for name in draw(st.lists(tensor_names, max_size=6, unique=True)):
        dtype = draw(st.one_of(st.sampled_from(sorted(DTYPE_BYTES)), json_values))
        shape = draw(st.one_of(st.lists(st.integers(0, 70), max_size=3), st.lists(dims, max_size=4), json_values))
        size = _nbytes(dtype, shape)
        if size is None:  # not a proper dtype and shape: any size
            size = draw(st.integers(0, 64))
        offsets = draw(st.one_of(st.just([cursor, cursor + size]), st.just([cursor, cursor + size]), json_values))
        header[name] = draw(st.one_of(st.just({"dtype": dtype, "shape": shape, "data_offsets": offsets}), json_values))
        cursor += size
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.one_of(st.just({"format": "pt"}), json_values))
    data_size = draw(st.one_of(st.just(cursor), st.just(cursor), st.integers(0, cursor + 16)))
    return header, data_size


def _nbytes(dtype, shape) -> int | None:
    if not (isinstance(dtype, str) and dtype in DTYPE_BYTES and isinstance(shape, list)
            and all(type(d) is int and 0 <= d <= 70 for d in shape)):
        return None
    size = DTYPE_BYTES[dtype]
    for d in shape:
        size *= d
    return size


@st.composite
def safetensors_files(draw) -> bytes:
    header, data_size = draw(headers())
    raw = json.dumps(header).encode()
    claimed = draw(st.one_of(st.just(len(raw)), st.just(len(raw)), st.integers(0, 2 ** 64 - 1),
                             st.just(MAX_HEADER_BYTES + 1), st.integers(max(0, len(raw) - 4), len(raw) + 4)))
    body = bytearray(struct.pack("<Q", claimed) + raw + b"\0" * min(data_size, 1 << 16))
    for _ in range(draw(st.integers(0, 3))):  # byte flips and cuts
        at = draw(st.integers(0, len(body)))
        if draw(st.booleans()) and at < len(body):
            body[at] = draw(st.integers(0, 255))
        else:
            del body[at:]
    return bytes(body)


raw_files = st.one_of(safetensors_files(), st.binary(max_size=64),
                      st.integers(0, 50_000).map(lambda n: struct.pack("<Q", 2 * n + 2) + b"[" * n + b"]" * n + b"{}"))


@FUZZ
@given(raw=raw_files)
def test_safetensors_header_bytes(raw):
    verdict(read_header, io.BytesIO(raw), len(raw))


# check_tensors gets what read_header accepted: well-formed entries with hostile names and shapes.
tensor_infos = st.dictionaries(
    tensor_names,
    st.builds(lambda dtype, shape: (dtype, tuple(shape)), st.sampled_from(["F32", "F16", "BF16", "I8"]),
              st.one_of(st.sampled_from([[8, 64], [64, 8], [8, 128], [128, 8], [4, 64]]),
                        st.lists(st.integers(0, 200), max_size=3))),
    max_size=40)


PEFT_REGEXES = [r".*\.(q_proj|v_proj)", r"model\.layers\.\d+\.self_attn\.[qv]_proj", r".*_proj", r".*\.layers\.0\..*",
                r"^(?:model\.)?layers\.\d{1,2}\.(self_attn|mlp)\.\w+$", r".*.*.*.*.*.*\.q_proj", "q_proj"]
configs = st.builds(  # as parse_adapter_config accepts them: a checked regex, or module names
    lambda r, targets: LoraAdapterConfig(peft_type="LORA", r=r, target_modules=targets, base_model_name_or_path="tiny-llama"),
    st.sampled_from([4, 8]),
    st.one_of(st.lists(st.sampled_from(MODULES), min_size=1, max_size=7), st.sampled_from(PEFT_REGEXES)),
)


def real_adapter(r: int, modules: list[str], layers: int = 2) -> dict[str, tuple[str, tuple]]:
    out = {}
    for layer in range(layers):
        for module in modules:
            block = "self_attn" if module in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
            in_f, out_f = BASE.linear_modules[module]
            path = f"base_model.model.model.layers.{layer}.{block}.{module}"
            out[f"{path}.lora_A.weight"] = ("F32", (r, in_f))
            out[f"{path}.lora_B.weight"] = ("F32", (out_f, r))
    return out


@FUZZ
@given(cfg=configs, extra=st.one_of(st.just({}), tensor_infos), keep_real=st.booleans(), layer=st.none() | layer_numbers)
def test_tensor_names_shapes_and_layers(cfg, extra, keep_real, layer):
    modules = cfg.target_modules if isinstance(cfg.target_modules, list) else ["q_proj"]
    tensors = real_adapter(cfg.r, modules) if keep_real else {}
    if layer is not None:
        path = f"base_model.model.model.layers.{layer}.self_attn.q_proj"
        tensors.update({f"{path}.lora_A.weight": ("F32", (cfg.r, 64)), f"{path}.lora_B.weight": ("F32", (64, cfg.r))})
    tensors.update(extra)
    infos = {name: TensorInfo(name, dtype, shape) for name, (dtype, shape) in tensors.items()}
    verdict(check_tensors, infos, cfg, BASE)


def file_of(tensors: dict[str, tuple[str, tuple]]) -> bytes:
    header, cursor = {}, 0
    for name, (dtype, shape) in tensors.items():
        size = _nbytes(dtype, list(shape))
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [cursor, cursor + size]}
        cursor += size
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * cursor


@st.composite
def real_weights(draw) -> bytes:
    body = bytearray(file_of(real_adapter(8, ["q_proj", "v_proj"])))
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(body) - 1))
        body[at] = draw(st.integers(0, 255))
    return bytes(body)


VALID_CONFIG = {"peft_type": "LORA", "r": 8, "target_modules": ["q_proj", "v_proj"], "base_model_name_or_path": "tiny-llama"}


# The whole validator on a directory: config and weights files side by side.
@FUZZ_SLOW
@given(config=st.one_of(st.just(VALID_CONFIG), st.just(VALID_CONFIG), json_values),
       weights=st.one_of(real_weights(), raw_files), pickle=st.sampled_from([False, False, False, True]))
def test_adapter_directory(config, weights, pickle):
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "adapter_config.json"), "w") as f:
            json.dump(config, f)
        with open(os.path.join(d, "adapter_model.safetensors" if not pickle else "adapter_model.bin"), "wb") as f:
            f.write(weights)
        verdict(validate_adapter_dir, d, Policy(max_rank=16, max_bytes=1 << 20), BASE)
