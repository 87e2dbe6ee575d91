"""The parts of PEFT's adapter_config.json that decide whether an adapter can be served."""
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loraplane_core.adapters.reasons import AdapterRejected, Reason, quote
from loraplane_core.adapters.target_regex import (
    MAX_PATTERN_CHARS,
    UnsafePattern,
    compile_target_regex,
)

MAX_CONFIG_BYTES = 1 << 20
MAX_TARGET_REGEX = MAX_PATTERN_CHARS  # PEFT reads a string target_modules as a regex over module paths
MAX_LISTED_ERRORS = 5  # pydantic reports one error per bad entry: a huge rank_pattern gives thousands


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

    @field_validator("target_modules")
    @classmethod
    def _distinct(cls, v: list[str] | str) -> list[str] | str:
        # PEFT keeps a set; a million repeats of q_proj would otherwise be scanned per tensor.
        return list(dict.fromkeys(v)) if isinstance(v, list) else v

    def targets(self, module_path: str) -> bool:
        """Whether PEFT would wrap the module at `module_path` (e.g. model.layers.0.self_attn.q_proj):
        a string is a regex fullmatched against the path, a list names path suffixes."""
        if isinstance(self.target_modules, str):  # checked by parse_adapter_config
            return compile_target_regex(self.target_modules).fullmatch(module_path)
        return any(module_path == t or module_path.endswith(f".{t}") for t in self.target_modules)


def unsupported_variants(cfg: LoraAdapterConfig) -> list[str]:
    """LoRA variants vLLM's LoRA kernels cannot serve."""
    found = []
    if cfg.use_dora:
        found.append("DoRA (use_dora)")
    if cfg.modules_to_save:
        found.append(f"modules_to_save {quote(cfg.modules_to_save)}")
    if cfg.bias != "none" or cfg.lora_bias:
        found.append(f"trained biases (bias={quote(cfg.bias)}, lora_bias={cfg.lora_bias})")
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
        raise AdapterRejected(Reason.CONFIG_INVALID, "adapter_config.json is {size} bytes, above {limit}",
                              size=len(raw), limit=MAX_CONFIG_BYTES)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # not UTF-8 / not JSON / absurd nesting or numbers
        raise AdapterRejected(Reason.CONFIG_NOT_JSON, "adapter_config.json is not valid JSON: {error}", error=str(e)) from None
    if not isinstance(data, dict):
        raise AdapterRejected(Reason.CONFIG_NOT_JSON, "adapter_config.json must hold a JSON object")
    if data.get("peft_type") != "LORA":
        raise AdapterRejected(Reason.NOT_LORA, "peft_type is {peft_type}; only 'LORA' adapters can be served",
                              peft_type=data.get("peft_type"))
    try:
        cfg = LoraAdapterConfig.model_validate(data)
    except ValidationError as e:
        errors = e.errors(include_input=False, include_url=False)
        problems = [f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in errors[:MAX_LISTED_ERRORS]]
        more = f"; and {len(errors) - MAX_LISTED_ERRORS} more" if len(errors) > MAX_LISTED_ERRORS else ""
        raise AdapterRejected(Reason.CONFIG_INVALID, "adapter_config.json: {problems}" + more, problems=problems) from None
    if isinstance(cfg.target_modules, str):
        try:
            compile_target_regex(cfg.target_modules)
        except UnsafePattern as e:
            raise AdapterRejected(Reason.CONFIG_INVALID, "target_modules regex {pattern} is refused: {problem}",
                                  pattern=cfg.target_modules, problem=str(e)) from None
    return cfg
