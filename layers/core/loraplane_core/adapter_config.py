"""The parts of PEFT's adapter_config.json that decide whether an adapter can be served."""
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .reasons import AdapterRejected, Reason

MAX_CONFIG_BYTES = 1 << 20
# PEFT reads a string target_modules as a regular expression over module paths. Short patterns
# only: a long one is more likely a mistake (or an attempt at catastrophic backtracking).
MAX_TARGET_REGEX = 256


class LoraAdapterConfig(BaseModel):
    # PEFT writes many more keys; unknown ones are kept but not interpreted.
    model_config = ConfigDict(extra="allow")

    peft_type: str
    r: int = Field(ge=1)
    lora_alpha: float = 8
    target_modules: list[str] | str
    base_model_name_or_path: str | None = None
    use_dora: bool = False
    use_rslora: bool = False
    fan_in_fan_out: bool = False
    bias: str = "none"
    modules_to_save: list[str] | None = None
    rank_pattern: dict[str, int] = Field(default_factory=dict)
    alpha_pattern: dict[str, float] = Field(default_factory=dict)
    layer_replication: list[Any] | None = None
    lora_bias: bool = False

    def targets(self, module_path: str) -> bool:
        """Whether PEFT would wrap the module at `module_path` (e.g. model.layers.0.self_attn.q_proj)."""
        if isinstance(self.target_modules, str):
            return re.fullmatch(self.target_modules, module_path) is not None
        return module_path.rsplit(".", 1)[-1] in self.target_modules


def unsupported_variants(cfg: LoraAdapterConfig) -> list[str]:
    """LoRA variants vLLM's LoRA kernels cannot serve."""
    found = []
    if cfg.use_dora:
        found.append("DoRA (use_dora)")
    if cfg.modules_to_save:
        found.append(f"modules_to_save {cfg.modules_to_save}")
    if cfg.bias != "none" or cfg.lora_bias:
        found.append(f"trained biases (bias={cfg.bias!r}, lora_bias={cfg.lora_bias})")
    if cfg.rank_pattern or cfg.alpha_pattern:
        found.append("per-module rank_pattern/alpha_pattern")
    if cfg.layer_replication:
        found.append("layer_replication")
    if cfg.fan_in_fan_out:
        found.append("fan_in_fan_out (Conv1D) weights")
    # Newer PEFT variants, present in the config only when used.
    extra = cfg.model_extra or {}
    for key, label in (("use_qalora", "QA-LoRA"), ("target_parameters", "LoRA on parameters (target_parameters)"),
                       ("trainable_token_indices", "trainable tokens"), ("alora_invocation_tokens", "activated LoRA (aLoRA)")):
        if extra.get(key):
            found.append(label)
    return found


def parse_adapter_config(raw: bytes) -> LoraAdapterConfig:
    if len(raw) > MAX_CONFIG_BYTES:
        raise AdapterRejected(Reason.CONFIG_INVALID, f"adapter_config.json is {len(raw)} bytes, above {MAX_CONFIG_BYTES}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # not UTF-8 / not JSON / absurd nesting or numbers
        raise AdapterRejected(Reason.CONFIG_NOT_JSON, f"adapter_config.json is not valid JSON: {str(e)[:200]}") from None
    if not isinstance(data, dict):
        raise AdapterRejected(Reason.CONFIG_NOT_JSON, "adapter_config.json must hold a JSON object")
    if data.get("peft_type") != "LORA":
        raise AdapterRejected(Reason.NOT_LORA, f"peft_type is {data.get('peft_type')!r}; only 'LORA' adapters can be served")
    try:
        cfg = LoraAdapterConfig.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise AdapterRejected(Reason.CONFIG_INVALID, f"adapter_config.json: {problems}") from None
    if isinstance(cfg.target_modules, str):
        if len(cfg.target_modules) > MAX_TARGET_REGEX:
            raise AdapterRejected(Reason.CONFIG_INVALID, f"target_modules regex is longer than {MAX_TARGET_REGEX} characters")
        try:
            re.compile(cfg.target_modules)
        except re.error as e:
            raise AdapterRejected(Reason.CONFIG_INVALID, f"target_modules is not a valid regex: {e}") from None
    return cfg
