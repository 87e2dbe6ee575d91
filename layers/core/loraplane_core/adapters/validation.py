"""Validates an adapter directory (PEFT save_pretrained layout) against the serving rules.

Used by the ingest Lambda and by the serving container, so both accept exactly the same
adapters. Reads the config and the safetensors header only; weights are hashed, never loaded.
"""
import hashlib
import json
import os
import re
from dataclasses import dataclass

from loraplane_core.adapters.base_profile import BaseModelProfile
from loraplane_core.adapters.config import (
    LoraAdapterConfig,
    parse_adapter_config,
    unsupported_variants,
)
from loraplane_core.adapters.reasons import AdapterRejected, Reason
from loraplane_core.adapters.safetensors_header import TensorInfo, read_header_file
from loraplane_core.adapters.upload_layout import (
    CONFIG_FILE,
    PICKLE_SUFFIXES,
    WEIGHTS_FILE,
)
from loraplane_core.adapters.weights_sink import WeightsDigest

SERVABLE_DTYPES = {"F16", "BF16", "F32"}
# base_model.model.<module path>.lora_A.weight (PEFT drops the adapter name when saving);
# used with fullmatch, as `$` would also accept a trailing newline.
TENSOR_RE = re.compile(r"base_model\.model\.(?P<path>.+)\.(?P<kind>lora_A|lora_B)\.weight")
LAYER_RE = re.compile(r"\.layers\.(\d+)\.")
# Real names are under 100 characters (base_model.model.model.layers.125.mlp.gate_proj.lora_A.weight);
# the bound keeps every per-name check, the target_modules regex included, cheap.
MAX_TENSOR_NAME_CHARS = 256
MAX_LAYER_DIGITS = 6  # int() refuses numbers past 4300 digits with a ValueError


@dataclass(frozen=True)
class Policy:
    max_rank: int = 64
    max_bytes: int = 512 * 1024 * 1024


@dataclass(frozen=True)
class ValidatedAdapter:
    base_model: str
    rank: int
    target_modules: tuple[str, ...]
    sha256: str  # of the weights file: a version's identity (CONTRACTS.md)
    size_bytes: int
    dtype: str
    config_sha256: str = ""  # of adapter_config.json as uploaded: which config these weights came with


def config_digest(config_bytes: bytes) -> str:
    """sha256 of the config as JSON with sorted keys: the same config saved twice hashes the same."""
    canonical = json.dumps(json.loads(config_bytes), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_files(directory: str, policy: Policy, weights_size: int | None = None) -> int:
    """Presence, format and size checks that need no parsing; returns the adapter's size
    (`weights_size`: the weights' as written, when a WeightsSink wrote them)."""
    names = set(os.listdir(directory))
    has_weights = WEIGHTS_FILE in names
    pickles = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES))
    if not has_weights and pickles:
        raise AdapterRejected(
            Reason.PICKLE_WEIGHTS,
            "weights are only in pickle format ({pickles}); pickles are never loaded - "
            "save with safe_serialization=True to get {weights}",
            pickles=pickles, weights=WEIGHTS_FILE,
        )
    if CONFIG_FILE not in names:
        raise AdapterRejected(Reason.MISSING_CONFIG, f"{CONFIG_FILE} is missing")
    if not has_weights:
        raise AdapterRejected(Reason.MISSING_WEIGHTS, f"{WEIGHTS_FILE} is missing")
    size = os.path.getsize(os.path.join(directory, CONFIG_FILE))
    size += os.path.getsize(os.path.join(directory, WEIGHTS_FILE)) if weights_size is None else weights_size
    check_size(size, policy)
    return size


def check_size(size: int, policy: Policy) -> None:
    if size > policy.max_bytes:
        raise AdapterRejected(Reason.TOO_LARGE, "adapter is {size} bytes, above the limit of {limit} (MaxAdapterBytes)",
                              size=size, limit=policy.max_bytes)


def check_config(cfg: LoraAdapterConfig, policy: Policy, base: BaseModelProfile | None) -> None:
    variants = unsupported_variants(cfg)
    if variants:
        raise AdapterRejected(Reason.UNSUPPORTED_VARIANT, "the serving engine cannot serve: " + "; ".join(variants))
    if base is None:
        raise AdapterRejected(Reason.NO_BASE_MODEL, "no base model is deployed yet; register and approve one first (loraplane models register-base)")
    declared = (cfg.base_model_name_or_path or "").rstrip("/")
    if declared != base.name:
        raise AdapterRejected(Reason.BASE_MODEL_MISMATCH, "adapter was trained on {declared} but the deployed base model is {base}",
                              declared=declared or "(unset)", base=base.name)
    if cfg.r > policy.max_rank:
        raise AdapterRejected(Reason.RANK_TOO_HIGH, "rank r={r} is above the limit of {limit} (MaxLoraRank)",
                              r=cfg.r, limit=policy.max_rank)
    if isinstance(cfg.target_modules, list):
        unknown = sorted(set(cfg.target_modules) - set(base.linear_modules))
        if unknown:
            raise AdapterRejected(Reason.UNKNOWN_TARGET_MODULES, "target modules {unknown} do not exist in {base} (it has {known})",
                                  unknown=unknown, base=base.name, known=sorted(base.linear_modules))


def check_tensors(tensors: dict[str, TensorInfo], cfg: LoraAdapterConfig, base: BaseModelProfile) -> tuple[tuple[str, ...], str]:
    """Every tensor is a lora_A/lora_B of a targeted base module, with the shapes rank r implies."""
    def mismatch(template: str, **values) -> AdapterRejected:
        return AdapterRejected(Reason.TENSORS_MISMATCH_CONFIG, template, **values)

    # A lora_A and a lora_B per linear module per layer at most: more cannot be this base's adapter.
    most = 2 * base.num_layers * len(base.linear_modules)
    if len(tensors) > most:
        raise mismatch("the safetensors file holds {count} tensors; an adapter of {base} has at most {most}",
                       count=len(tensors), base=base.name, most=most)
    pairs: dict[str, set[str]] = {}
    dtypes = set()
    for name, t in tensors.items():
        if len(name) > MAX_TENSOR_NAME_CHARS:
            raise mismatch("tensor name {name} is longer than {limit} characters", name=name, limit=MAX_TENSOR_NAME_CHARS)
        m = TENSOR_RE.fullmatch(name)
        if not m:
            raise mismatch("tensor {name} is not a LoRA weight (expected base_model.model.<module>.lora_A/lora_B.weight)", name=name)
        path, kind = m["path"], m["kind"]
        module = path.rsplit(".", 1)[-1]
        if module not in base.linear_modules:
            raise AdapterRejected(Reason.UNKNOWN_TARGET_MODULES, "tensor {name} targets {module}, which {base} does not have",
                                  name=name, module=module, base=base.name)
        layer = LAYER_RE.search(f".{path}.")
        if layer and (len(layer.group(1)) > MAX_LAYER_DIGITS or int(layer.group(1)) >= base.num_layers):
            raise mismatch("tensor {name} is for layer {layer} but {base} has {layers} layers",
                           name=name, layer=layer.group(1), base=base.name, layers=base.num_layers)
        if path not in pairs and not cfg.targets(path):  # lora_A and lora_B share the path: match once
            raise mismatch("tensor {name} is for module {path}, which target_modules {targets} does not select",
                           name=name, path=path, targets=cfg.target_modules)
        if t.dtype not in SERVABLE_DTYPES:
            raise mismatch("tensor {name} has dtype {dtype}; LoRA weights must be one of {allowed}",
                           name=name, dtype=t.dtype, allowed=sorted(SERVABLE_DTYPES))
        in_f, out_f = base.linear_modules[module]
        expected = (cfg.r, in_f) if kind == "lora_A" else (out_f, cfg.r)
        if t.shape != expected:
            raise mismatch("tensor {name} has shape {shape}, expected {expected} for r={r}",
                           name=name, shape=list(t.shape), expected=list(expected), r=cfg.r)
        pairs.setdefault(path, set()).add(kind)
        dtypes.add(t.dtype)
    if not pairs:
        raise mismatch("the safetensors file holds no LoRA tensors")
    unpaired = sorted(p for p, kinds in pairs.items() if kinds != {"lora_A", "lora_B"})
    if unpaired:
        raise mismatch("modules without both lora_A and lora_B: {unpaired}", unpaired=unpaired)
    if len(dtypes) > 1:
        raise mismatch("tensors mix dtypes {dtypes}", dtypes=sorted(dtypes))
    return tuple(sorted({p.rsplit('.', 1)[-1] for p in pairs})), dtypes.pop()


def validate_adapter_dir(directory: str, policy: Policy, base: BaseModelProfile | None,
                         weights: WeightsDigest | None = None) -> ValidatedAdapter:
    """`weights`: the digest of the weights file taken while it was written (weights_sink.py), so
    that the file is not read again; the checks and their order are the same either way."""
    size = check_files(directory, policy, weights.size if weights else None)
    with open(os.path.join(directory, CONFIG_FILE), "rb") as f:
        config_bytes = f.read((1 << 20) + 1)
    cfg = parse_adapter_config(config_bytes)
    check_config(cfg, policy, base)
    assert base is not None  # check_config rejects a missing base
    weights_path = os.path.join(directory, WEIGHTS_FILE)
    tensors = weights.header() if weights else read_header_file(weights_path)
    modules, dtype = check_tensors(tensors, cfg, base)
    return ValidatedAdapter(
        base_model=base.name,
        rank=cfg.r,
        target_modules=modules,
        sha256=weights.sha256 if weights else sha256_file(weights_path),
        size_bytes=size,
        dtype=dtype,
        config_sha256=config_digest(config_bytes),
    )
