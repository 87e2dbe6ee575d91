"""What a base model offers LoRA: its linear modules and their shapes, read from config.json."""
import json
from dataclasses import dataclass

# Decoder families whose projections follow the Llama layout (q/k/v/o + gate/up/down).
LLAMA_LIKE = {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "granite", "olmo", "olmo2"}


@dataclass(frozen=True)
class BaseModelProfile:
    name: str
    num_layers: int
    # module name -> (in_features, out_features)
    linear_modules: dict[str, tuple[int, int]]

    @classmethod
    def from_hf_config(cls, name: str, config: dict) -> "BaseModelProfile":
        model_type = config.get("model_type")
        if model_type not in LLAMA_LIKE:
            raise ValueError(f"base model type {model_type!r} is not supported (supported: {sorted(LLAMA_LIKE)})")
        hidden = config["hidden_size"]
        heads = config["num_attention_heads"]
        kv_heads = config.get("num_key_value_heads") or heads
        head_dim = config.get("head_dim") or hidden // heads
        inter = config["intermediate_size"]
        return cls(
            name=name,
            num_layers=config["num_hidden_layers"],
            linear_modules={
                "q_proj": (hidden, heads * head_dim),
                "k_proj": (hidden, kv_heads * head_dim),
                "v_proj": (hidden, kv_heads * head_dim),
                "o_proj": (heads * head_dim, hidden),
                "gate_proj": (hidden, inter),
                "up_proj": (hidden, inter),
                "down_proj": (inter, hidden),
            },
        )

    @classmethod
    def from_config_file(cls, name: str, path: str) -> "BaseModelProfile":
        with open(path, "rb") as f:
            return cls.from_hf_config(name, json.loads(f.read(1 << 20)))
