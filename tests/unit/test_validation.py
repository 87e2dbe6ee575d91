"""Adapter validation with real PEFT adapters, each rule of CONTRACTS §2 with its own reason."""
import hashlib
import json
import os

import pytest
import torch
from safetensors.torch import load_file, save_file

from loraplane_core.adapters.reasons import AdapterRejected, Reason
from loraplane_core.adapters.validation import Policy, validate_adapter_dir

POLICY = Policy(max_rank=16, max_bytes=10 * 1024 * 1024)


def edit_config(adapter_dir: str, **changes) -> None:
    path = os.path.join(adapter_dir, "adapter_config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg.update(changes)
    with open(path, "w") as f:
        json.dump(cfg, f)


def rejected(adapter_dir, base, policy=POLICY) -> AdapterRejected:
    with pytest.raises(AdapterRejected) as e:
        validate_adapter_dir(adapter_dir, policy, base)
    return e.value


def test_valid_peft_adapter(make_adapter, base_profile):
    d = make_adapter(seed=1)
    v = validate_adapter_dir(d, POLICY, base_profile)
    with open(os.path.join(d, "adapter_model.safetensors"), "rb") as f:
        assert v.sha256 == hashlib.sha256(f.read()).hexdigest()
    assert (v.base_model, v.rank, v.target_modules, v.dtype) == ("tiny-llama", 8, ("q_proj", "v_proj"), "F32")


def test_all_linear_modules_accepted(make_adapter, base_profile):
    d = make_adapter(targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))
    assert len(validate_adapter_dir(d, POLICY, base_profile).target_modules) == 7


def test_dora_is_rejected(tmp_path, tiny_base_dir, base_profile):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_base_dir),
                           LoraConfig(r=4, target_modules=["q_proj"], use_dora=True))
    model.peft_config["default"].base_model_name_or_path = "tiny-llama"
    model.save_pretrained(tmp_path / "dora")
    assert rejected(str(tmp_path / "dora"), base_profile).reason == Reason.UNSUPPORTED_VARIANT


@pytest.mark.parametrize("changes,reason", [
    ({"r": 8, "use_dora": True}, Reason.UNSUPPORTED_VARIANT),
    ({"modules_to_save": ["lm_head"]}, Reason.UNSUPPORTED_VARIANT),
    ({"base_model_name_or_path": "meta-llama/Llama-3.1-8B"}, Reason.BASE_MODEL_MISMATCH),
    ({"target_modules": ["q_proj", "c_attn"]}, Reason.UNKNOWN_TARGET_MODULES),
    ({"target_modules": ["q_proj"]}, Reason.TENSORS_MISMATCH_CONFIG),  # v_proj tensors not selected
    ({"r": 4}, Reason.TENSORS_MISMATCH_CONFIG),                        # tensors are rank 8
    ({"peft_type": "IA3"}, Reason.NOT_LORA),
    ({"r": "eight"}, Reason.CONFIG_INVALID),
])
def test_config_rules(make_adapter, base_profile, changes, reason):
    d = make_adapter()
    edit_config(d, **changes)
    assert rejected(d, base_profile).reason == reason


def test_rank_above_limit(make_adapter, base_profile):
    err = rejected(make_adapter(rank=32), base_profile)
    assert err.reason == Reason.RANK_TOO_HIGH and "32" in err.message and "16" in err.message


def test_no_deployed_base_model(make_adapter):
    assert rejected(make_adapter(), None).reason == Reason.NO_BASE_MODEL


def test_adapter_for_other_dimensions(make_adapter, base_profile):
    from loraplane_core.adapters.base_profile import BaseModelProfile

    other = BaseModelProfile.from_hf_config("tiny-llama", {
        "model_type": "llama", "hidden_size": 128, "num_attention_heads": 4, "intermediate_size": 256,
        "num_hidden_layers": 2})
    assert rejected(make_adapter(), other).reason == Reason.TENSORS_MISMATCH_CONFIG


@pytest.mark.parametrize("layout,reason", [
    ("no_config", Reason.MISSING_CONFIG),
    ("no_weights", Reason.MISSING_WEIGHTS),
    ("pickle_only", Reason.PICKLE_WEIGHTS),
    ("config_not_json", Reason.CONFIG_NOT_JSON),
])
def test_file_rules(make_adapter, base_profile, layout, reason):
    d = make_adapter()
    weights = os.path.join(d, "adapter_model.safetensors")
    if layout == "no_config":
        os.remove(os.path.join(d, "adapter_config.json"))
    elif layout == "no_weights":
        os.remove(weights)
    elif layout == "pickle_only":
        torch.save(load_file(weights), os.path.join(d, "adapter_model.bin"))  # a real torch pickle
        os.remove(weights)
    elif layout == "config_not_json":
        with open(os.path.join(d, "adapter_config.json"), "w") as f:
            f.write("peft_type: LORA\n")
    assert rejected(d, base_profile).reason == reason


def test_size_limit(make_adapter, base_profile):
    err = rejected(make_adapter(), base_profile, Policy(max_rank=16, max_bytes=1000))
    assert err.reason == Reason.TOO_LARGE and "MaxAdapterBytes" in err.message


def test_mixed_dtypes_and_foreign_tensors(make_adapter, base_profile):
    d = make_adapter()
    path = os.path.join(d, "adapter_model.safetensors")
    tensors = load_file(path)
    first = sorted(tensors)[0]
    save_file({**tensors, first: tensors[first].half()}, path)
    assert "mix dtypes" in rejected(d, base_profile).message
    save_file({**load_file(path), "base_model.model.lm_head.weight": torch.zeros(2, 2)}, path)
    assert rejected(d, base_profile).reason in (Reason.TENSORS_MISMATCH_CONFIG, Reason.UNKNOWN_TARGET_MODULES)


def test_missing_lora_b(make_adapter, base_profile):
    d = make_adapter()
    path = os.path.join(d, "adapter_model.safetensors")
    tensors = load_file(path)
    save_file({k: v for k, v in tensors.items() if not k.endswith("layers.0.self_attn.q_proj.lora_B.weight")}, path)
    assert "without both" in rejected(d, base_profile).message


@pytest.mark.parametrize("target_modules", ["(", ".*" * 200])
def test_target_module_regexes_are_checked(make_adapter, base_profile, target_modules):
    d = make_adapter()
    edit_config(d, target_modules=target_modules)
    assert rejected(d, base_profile).reason == Reason.CONFIG_INVALID


def test_target_module_regex_that_fits(make_adapter, base_profile):
    d = make_adapter()
    edit_config(d, target_modules=r".*\.(q_proj|v_proj)")
    assert validate_adapter_dir(d, POLICY, base_profile).target_modules == ("q_proj", "v_proj")


def test_absurd_config_json(make_adapter, base_profile):
    d = make_adapter()
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        f.write('{"peft_type": "LORA", "r": ' + "9" * 5000 + "}")
    assert rejected(d, base_profile).reason == Reason.CONFIG_NOT_JSON
