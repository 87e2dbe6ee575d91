"""Fuzzing adapter_config.json, S3 keys and adapter names: every input ends in accept or a named
rejection with a bounded message, quickly (ingest_fuzz.verdict)."""
import json
import re

from hypothesis import given
from hypothesis import strategies as st

from loraplane_core.adapters.config import parse_adapter_config
from loraplane_core.adapters.upload_layout import check_adapter_name, is_relevant_file, parse_upload_key
from loraplane_core.adapters.reasons import Reason
from loraplane_core.adapters.validation import Policy, check_config

from .ingest_fuzz import BASE, FUZZ, MODULES, hostile_text, json_values, module_paths, target_regexes, verdict

POLICY = Policy(max_rank=16, max_bytes=10 ** 6)


def maybe(strategy):
    """Mostly the key's proper kind of value, sometimes any JSON at all."""
    return st.one_of(strategy, strategy, strategy, json_values)


VALID = {"peft_type": "LORA", "r": 8, "target_modules": ["q_proj", "v_proj"], "base_model_name_or_path": "tiny-llama"}
FIELDS = {
    "peft_type": maybe(st.sampled_from(["LORA", "IA3", "lora"])),
    "r": maybe(st.one_of(st.integers(1, 32), st.integers(0, 4000).map(lambda k: 10 ** k))),
    "target_modules": maybe(st.one_of(st.lists(st.sampled_from([*MODULES, "lm_head"]), max_size=8),
                                      st.lists(hostile_text, max_size=3), target_regexes)),
    "base_model_name_or_path": maybe(st.sampled_from(["tiny-llama", "tiny-llama/", "meta-llama/Llama-3.1-8B"])),
    "lora_alpha": maybe(st.floats()),
    "use_dora": maybe(st.booleans()),
    "bias": maybe(st.sampled_from(["none", "all", "lora_only"])),
    "modules_to_save": maybe(st.lists(hostile_text, max_size=3)),
    "rank_pattern": maybe(st.dictionaries(hostile_text, st.integers(), max_size=3)),
    "layer_replication": json_values,
    "fan_in_fan_out": maybe(st.booleans()),
    "use_qalora": json_values,
    "target_parameters": json_values,
    "extra_key": json_values,
}


@st.composite
def configs(draw) -> dict:
    """A valid config with a few fields replaced or removed."""
    cfg = dict(VALID)
    for key in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=3, unique=True)):
        if draw(st.integers(0, 5)) == 0:
            cfg.pop(key, None)
        else:
            cfg[key] = draw(FIELDS[key])
    return cfg


def encode(cfg: dict) -> bytes:
    return json.dumps(cfg).encode()  # NaN and Infinity included, as Python's json reads them


@st.composite
def mutated(draw, base: st.SearchStrategy) -> bytes:
    raw = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert"]))
        at = draw(st.integers(0, len(raw)))
        if kind == "flip" and at < len(raw):
            raw[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del raw[at:]
        else:
            raw[at:at] = draw(st.binary(max_size=8))
    return bytes(raw)


raw_configs = st.one_of(configs().map(encode), configs().map(encode), mutated(configs().map(encode)), st.binary(max_size=200),
                        st.integers(0, 100_000).map(lambda n: b"[" * n + b"]" * n))


def ingest_config(raw: bytes, paths: list[str]) -> None:
    """What validate_adapter_dir does with a config: parse, check, then match tensor paths."""
    cfg = parse_adapter_config(raw)
    check_config(cfg, POLICY, BASE)
    for path in paths:
        assert isinstance(cfg.targets(path), bool)


@FUZZ
@given(raw=raw_configs, paths=st.lists(module_paths, max_size=4))
def test_adapter_config_json(raw, paths):
    verdict(ingest_config, raw, paths)


@FUZZ
@given(cfg=configs())
def test_parsed_config_is_what_was_checked(cfg):
    """An accepted config names only the base model's modules, a rank within the limit."""
    if verdict(ingest_config, encode(cfg), []) == "accepted":
        parsed = parse_adapter_config(encode(cfg))
        assert 1 <= parsed.r <= POLICY.max_rank
        assert isinstance(parsed.target_modules, str) or set(parsed.target_modules) <= set(MODULES)


adapter_names = st.one_of(
    st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,28}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"[a-z0-9-]{0,33}\n?", fullmatch=True),
    hostile_text,
)
keys = st.one_of(
    st.builds(lambda name, file: f"adapters/{name}/{file}", adapter_names,
              st.sampled_from(["adapter_config.json", "adapter_model.safetensors", "adapter.tar.gz", "x.bin", "README.md"])),
    st.builds(lambda a, b: f"adapters/{a}/{b}", hostile_text, hostile_text),
    hostile_text,
)


def ingest_key(key: str) -> None:
    upload = parse_upload_key(key)
    if upload is None:
        return
    assert "/" not in upload.adapter_name and upload.adapter_name and upload.filename
    assert isinstance(is_relevant_file(upload.filename), bool)
    check_adapter_name(upload.adapter_name)
    name = upload.adapter_name  # accepted: exactly the contract's names, nothing trailing
    assert re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,28}[a-z0-9])?", name) and name.isprintable()


@FUZZ
@given(key=keys)
def test_s3_keys_and_adapter_names(key):
    assert verdict(ingest_key, key) in ("accepted", Reason.INVALID_ADAPTER_NAME)
