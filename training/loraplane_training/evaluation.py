"""Held-out loss and perplexity of an adapter against its base model, on completion tokens only."""
import math

from .dataset import IGNORE, batches, read_jsonl, tokenize_all
from .sft import load_base, pad_id_of, quiet_hf


def completion_loss(model, items, pad_id: int, batch_size: int = 8) -> float:
    """Mean cross-entropy per completion token over the whole set (token-weighted, not per batch)."""
    import torch

    total, tokens = 0.0, 0
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        for ids, labels, mask in batches(items, batch_size, pad_id, list(range(len(items)))):
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits[:, :-1].cpu()
            target = labels[:, 1:]
            total += torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE, reduction="sum").item()
            tokens += int((target != IGNORE).sum())
    return total / tokens


def evaluate(base_dir: str, adapter_dir: str, data: str, max_length: int = 256) -> dict:
    """{eval_loss, eval_perplexity, base_eval_loss, base_eval_perplexity, eval_examples}."""
    quiet_hf()
    examples = read_jsonl(data)
    import torch
    from peft import PeftModel

    tokenizer, model = load_base(base_dir)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    items = tokenize_all(tokenizer, examples, max_length, data)
    pad = pad_id_of(tokenizer)
    base_loss = completion_loss(model, items, pad)
    adapted = PeftModel.from_pretrained(model, adapter_dir)
    loss = completion_loss(adapted, items, pad)
    return {"eval_loss": round(loss, 6), "eval_perplexity": round(math.exp(min(loss, 50)), 4),
            "base_eval_loss": round(base_loss, 6), "base_eval_perplexity": round(math.exp(min(base_loss, 50)), 4),
            "eval_examples": len(items)}
