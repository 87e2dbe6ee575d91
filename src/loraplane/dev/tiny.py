"""A tiny Llama-style base model and PEFT LoRA adapters for it, built offline (no Hub).

Sized for vLLM's CPU backend too: head_dim 32 (it refuses 16), float32 weights.
`initializer_range` is large so that LoRA fine-tuning of the tiny model can move its outputs.
"""
import json
import os
import warnings

CORPUS = [
    "LoRA Plane serves many fine-tuned LoRA adapters on one GPU endpoint.",
    "An adapter is uploaded to S3, validated, registered and approved before it goes live.",
    "The quick brown fox jumps over the lazy dog. The lazy dog sleeps in the sun.",
    "Hello world! How are you today? I am fine, thank you. What is your name?",
    "One two three four five six seven eight nine ten. Red green blue yellow.",
    "The answer is forty-two. Paris is the capital of France. Water boils at 100 degrees.",
]
DEFAULT_NAME = "tiny-llama"


def _quiet() -> None:
    """No progress bars, and no warnings about the Hub this machine cannot reach."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the Hub: build everything locally
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", module=r"peft\..*")


def build_tokenizer(out_dir: str, vocab_size: int = 384):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(out_dir)
    return fast


def build_tiny_model(out_dir: str, seed: int = 0) -> str:
    """Writes config.json, model.safetensors and a tokenizer to `out_dir`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    _quiet()
    os.makedirs(out_dir, exist_ok=True)
    tokenizer = build_tokenizer(out_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=32, max_position_embeddings=512,
        initializer_range=0.5, tie_word_embeddings=False, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, dtype="float32",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.float32)
    model.save_pretrained(out_dir, safe_serialization=True)
    return out_dir


def base_name_of(base_dir: str) -> str:
    """The name a base model directory is registered under by default: its folder name."""
    return os.path.basename(os.path.normpath(base_dir))


def build_tiny_adapter(base_dir: str, out_dir: str, seed: int = 0, rank: int = 8,
                       target_modules: tuple[str, ...] = ("q_proj", "v_proj"), base_name: str | None = None) -> str:
    """A PEFT LoRA adapter with random (non-zero) weights, so its outputs differ from the base."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    _quiet()
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    torch.manual_seed(seed)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=list(target_modules), lora_dropout=0.0,
                        init_lora_weights=False, task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config)
    peft_model.peft_config["default"].base_model_name_or_path = base_name or base_name_of(base_dir)
    peft_model.save_pretrained(out_dir, safe_serialization=True)
    return out_dir


def read_adapter_config(adapter_dir: str) -> dict:
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        return json.load(f)
