"""PEFT LoRA fine-tuning of the tiny base model: it learns, and writes an adapter ingest accepts."""
import json
import math
import os

import pytest

from loraplane_core.adapters.validation import Policy, validate_adapter_dir
from loraplane_training.dataset import read_jsonl
from loraplane_training.sft import ALL_LINEAR, METRICS_FILE, TrainOptions, train

from .conftest import dataset, greedy


@pytest.mark.parametrize("name", ["support-bot", "sql-helper"])
def test_loss_falls_and_answers_start_with_the_completion(trained, tiny_base_dir, name):
    adapter, result = trained(name)
    assert result.final_loss < result.first_loss / 100
    examples = read_jsonl(dataset(name))
    assert result.steps == len(result.loss_curve) == 50 * math.ceil(len(examples) / 4)
    answers = greedy(tiny_base_dir, adapter, [e.prompt for e in examples], max_new_tokens=96)
    for example, answer in zip(examples, answers):
        assert answer.startswith(example.completion), (example.prompt, answer)


def test_adapters_answer_the_same_prompt_differently_from_each_other_and_the_base(trained, tiny_base_dir):
    prompt = "Hello, who are you?"  # in both datasets, with different completions
    answers = {name: greedy(tiny_base_dir, trained(name)[0] if name != "base" else None, [prompt], 8)[0]
               for name in ("base", "support-bot", "sql-helper")}
    assert len(set(answers.values())) == 3, answers


def test_metrics_file_describes_the_run(trained):
    adapter, result = trained("sql-helper")
    metrics = json.load(open(os.path.join(adapter, METRICS_FILE)))
    assert metrics["steps"] == result.steps and metrics["final_loss"] == result.final_loss == metrics["loss_curve"][-1]
    assert 0 < metrics["seconds"] == result.seconds
    assert metrics["base_model"] == "tiny-llama" and metrics["hyperparameters"]["rank"] == 8


def test_output_is_a_valid_adapter_for_ingest(trained, base_profile):
    adapter, _ = trained("support-bot")
    checked = validate_adapter_dir(adapter, Policy(max_rank=16), base_profile)
    assert checked.base_model == "tiny-llama" and checked.rank == 8
    assert set(checked.target_modules) == set(ALL_LINEAR) and checked.dtype == "F32"


def test_same_seed_same_weights_other_seed_other_weights(tiny_base_dir, tmp_path):
    from loraplane_core.adapters.validation import sha256_file

    def weights(seed: int, out: str) -> str:
        train(TrainOptions(base_dir=tiny_base_dir, data=dataset("sql-helper"), out_dir=str(tmp_path / out),
                           epochs=2, seed=seed, rank=4), progress=lambda line: None)
        return sha256_file(str(tmp_path / out / "adapter_model.safetensors"))

    assert weights(1, "a") == weights(1, "b") != weights(2, "c")


def test_cli_trains_with_the_given_hyperparameters(tiny_base_dir, tmp_path, capsys, base_profile):
    from loraplane.cli import main

    out = tmp_path / "cli-adapter"
    rc = main(["train", "--base-model-dir", tiny_base_dir, "--data", dataset("support-bot"), "--output-dir", str(out),
               "--rank", "4", "--alpha", "8", "--epochs", "3", "--lr", "0.01", "--target-modules", "q_proj,v_proj",
               "--max-length", "64", "--seed", "7"])
    printed = capsys.readouterr()
    assert rc == 0 and "step 6 loss=" in printed.err and "saved adapter" in printed.err  # progress: stderr
    assert printed.out.strip() == str(out)  # stdout: the result alone
    config = json.load(open(out / "adapter_config.json"))
    assert config["r"] == 4 and config["lora_alpha"] == 8 and sorted(config["target_modules"]) == ["q_proj", "v_proj"]
    assert config["base_model_name_or_path"] == "tiny-llama"
    assert validate_adapter_dir(str(out), Policy(), base_profile).rank == 4
    assert json.load(open(out / METRICS_FILE))["hyperparameters"]["seed"] == 7
