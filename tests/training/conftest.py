"""Adapters trained once per session on the shipped demo datasets (about a second each)."""
import os

import pytest

from loraplane_training.sft import TrainOptions, train

DATASETS = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "datasets")


def dataset(name: str) -> str:
    return os.path.join(DATASETS, f"{name}.jsonl")


@pytest.fixture(scope="session")
def trained(tiny_base_dir, tmp_path_factory):
    """name -> (adapter dir, TrainResult)."""
    root, done = tmp_path_factory.mktemp("trained"), {}

    def get(name: str):
        if name not in done:
            out = str(root / name)
            done[name] = (out, train(TrainOptions(base_dir=tiny_base_dir, data=dataset(name), out_dir=out),
                                     progress=lambda line: None))
        return done[name]

    return get


def greedy(base_dir: str, adapter_dir: str | None, prompts: list[str], max_new_tokens: int) -> list[str]:
    """The model's greedy continuations of the prompts, each tokenized as a server would."""
    import torch
    from peft import PeftModel

    from loraplane_training.sft import load_base

    tokenizer, model = load_base(base_dir)
    if adapter_dir:
        model = PeftModel.from_pretrained(model, adapter_dir)
    answers = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.eos_token_id)
        answers.append(tokenizer.decode(out[0][ids.shape[1]:], skip_special_tokens=True))
    return answers
