"""Supervised fine-tuning of a PEFT LoRA adapter: a plain PyTorch loop, float32, seeded.

Writes what `save_pretrained` writes (adapter_config.json + adapter_model.safetensors), with
`base_model_name_or_path` set to the base model's registered name, and training_metrics.json.
"""
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field

from .dataset import batches, read_jsonl, tokenize_all

METRICS_FILE = "training_metrics.json"
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class TrainOptions:
    base_dir: str
    data: str
    out_dir: str
    base_name: str = ""  # what adapters must name in base_model_name_or_path; default: base_dir's folder name
    rank: int = 8
    alpha: int = 16
    target_modules: tuple[str, ...] = ALL_LINEAR
    # Defaults for the tiny demo model (dev/tiny.py) on a CPU; real models want e.g. 3 and 2e-4.
    epochs: int = 50
    lr: float = 1e-2  # 1.5e-2 left one of 8 demo answers unlearnt on some CPUs (AMD EPYC)
    max_length: int = 256
    batch_size: int = 4
    seed: int = 0
    threads: int = 1  # tiny models train fastest on one CPU thread; 0 keeps torch's default
    log_every: int = 1

    def resolved_base_name(self) -> str:
        return self.base_name or os.path.basename(os.path.normpath(self.base_dir))

    def hyperparameters(self) -> dict:
        keys = ("rank", "alpha", "target_modules", "epochs", "lr", "max_length", "batch_size", "seed")
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if k in keys}


@dataclass
class TrainResult:
    out_dir: str
    steps: int
    epochs: int
    examples: int
    final_loss: float
    first_loss: float
    seconds: float
    loss_curve: list[float] = field(default_factory=list)  # mean loss per step


def quiet_hf() -> None:
    """No Hub (this code builds nothing from hub ids), no progress bars or advisory warnings."""
    import warnings

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", module=r"peft\..*")


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def load_base(base_dir: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    return tokenizer, model


def pad_id_of(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)


def train(opts: TrainOptions, progress=print) -> TrainResult:
    """Fine-tunes and saves the adapter; the dataset is checked before the model is loaded."""
    quiet_hf()
    examples = read_jsonl(opts.data)
    import torch
    from peft import LoraConfig, get_peft_model

    started, threads = time.perf_counter(), torch.get_num_threads()
    if opts.threads:
        torch.set_num_threads(opts.threads)  # process-wide: restored below
    try:
        seed_everything(opts.seed)
        tokenizer, model = load_base(opts.base_dir)
        items = tokenize_all(tokenizer, examples, opts.max_length, opts.data)
        config = LoraConfig(r=opts.rank, lora_alpha=opts.alpha, target_modules=list(opts.target_modules),
                            lora_dropout=0.0, task_type="CAUSAL_LM")
        peft_model = get_peft_model(model, config).to("cuda" if torch.cuda.is_available() else "cpu")
        curve = fit(peft_model, items, pad_id_of(tokenizer), opts, progress)
    finally:
        torch.set_num_threads(threads)
    peft_model.peft_config["default"].base_model_name_or_path = opts.resolved_base_name()
    peft_model.save_pretrained(opts.out_dir, safe_serialization=True)
    result = TrainResult(out_dir=opts.out_dir, steps=len(curve), epochs=opts.epochs, examples=len(items),
                         final_loss=curve[-1], first_loss=curve[0], seconds=round(time.perf_counter() - started, 3),
                         loss_curve=curve)
    write_metrics(opts, result)
    progress(f"saved adapter to {opts.out_dir}: {result.steps} steps, loss {result.first_loss:.4f} -> "
             f"{result.final_loss:.4f}, {result.seconds:.1f}s")
    return result


def fit(peft_model, items, pad_id: int, opts: TrainOptions, progress) -> list[float]:
    """The training loop (AdamW, linear decay, clipped gradients); returns the loss of every step."""
    import torch

    device = next(peft_model.parameters()).device
    peft_model.train()
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=opts.lr)
    total = math.ceil(len(items) / opts.batch_size) * opts.epochs
    # Linear decay to zero: high early rates move the adapter fast, low late ones keep it from diverging.
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / total)
    order_rng = random.Random(opts.seed)
    curve: list[float] = []
    progress(f"training {len(items)} examples x {opts.epochs} epochs = {total} steps "
             f"(rank {opts.rank}, alpha {opts.alpha}, lr {opts.lr}, modules {','.join(opts.target_modules)})")
    for epoch in range(1, opts.epochs + 1):
        order = list(range(len(items)))
        order_rng.shuffle(order)
        for ids, labels, mask in batches(items, opts.batch_size, pad_id, order):
            loss = peft_model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device)).loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            curve.append(round(loss.item(), 6))
            if len(curve) % opts.log_every == 0:
                # SageMaker's metric definition parses this line (pipelines/build_pipeline.py).
                progress(f"epoch {epoch}/{opts.epochs} step {len(curve)} loss={curve[-1]:.4f}")
    return curve


def write_metrics(opts: TrainOptions, result: TrainResult) -> None:
    body = {"steps": result.steps, "epochs": result.epochs, "examples": result.examples,
            "first_loss": result.first_loss, "final_loss": result.final_loss, "seconds": result.seconds,
            "loss_curve": result.loss_curve, "base_model": opts.resolved_base_name(),
            "hyperparameters": opts.hyperparameters()}
    with open(os.path.join(opts.out_dir, METRICS_FILE), "w") as f:
        json.dump(body, f, indent=2)
