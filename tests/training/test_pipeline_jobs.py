"""The pipeline's job scripts, run as SageMaker runs them: environment, channels, /opt/ml layout."""
import json
import os
import shutil
import subprocess
import sys
import tarfile

from loraplane_core.adapters.validation import Policy, validate_adapter_dir

from .conftest import dataset

TRAINING = os.path.join(os.path.dirname(__file__), "..", "..", "training")


def run_job(script: str, args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, os.path.join(TRAINING, script), *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


def pack_model(model_dir, dest_dir) -> None:
    """What SageMaker does with SM_MODEL_DIR at the end of a training job."""
    os.makedirs(dest_dir, exist_ok=True)
    with tarfile.open(os.path.join(dest_dir, "model.tar.gz"), "w:gz") as tar:
        for name in os.listdir(model_dir):
            tar.add(os.path.join(model_dir, name), arcname=name)


def test_training_job_then_evaluation_job(tiny_base_dir, base_profile, tmp_path):
    train_channel, model_dir = tmp_path / "train", tmp_path / "model"
    train_channel.mkdir()
    shutil.copy(dataset("sql-helper"), train_channel / "part-0.jsonl")
    # As the SageMaker training toolkit passes them: SM_HPS, and every value a string.
    hps = {"rank": "4", "alpha": "8", "epochs": "30", "lr": "0.02", "target_modules": "q_proj,k_proj,v_proj,o_proj",
           "max_length": "128", "seed": "3", "base_name": "tiny-llama", "sagemaker_program": "train_job.py"}
    job = run_job("train_job.py", [], {"SM_HPS": json.dumps(hps), "SM_CHANNEL_TRAIN": str(train_channel),
                                       "SM_CHANNEL_BASE": tiny_base_dir, "SM_MODEL_DIR": str(model_dir)})
    assert job.returncode == 0, job.stderr[-2000:]
    assert "step 60 loss=" in job.stdout  # the line the pipeline's metric definition parses
    checked = validate_adapter_dir(str(model_dir), Policy(), base_profile)
    assert checked.rank == 4 and sorted(checked.target_modules) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert json.load(open(model_dir / "training_metrics.json"))["steps"] == 60

    root = tmp_path / "processing"
    pack_model(model_dir, root / "model")
    (root / "eval").mkdir()
    shutil.copy(dataset("sql-helper"), root / "eval" / "eval.jsonl")
    os.symlink(tiny_base_dir, root / "base")
    job = run_job("evaluate_job.py", ["--root", str(root), "--max-length", "128"], {})
    assert job.returncode == 0, job.stderr[-2000:]
    report = json.load(open(root / "evaluation" / "evaluation.json"))
    assert report["eval_examples"] == 8
    assert report["eval_loss"] < report["base_eval_loss"] / 2  # what the pipeline's quality gate compares
    assert abs(report["eval_perplexity"] - 2.718281828 ** report["eval_loss"]) < 1e-3 * report["eval_perplexity"]


def test_training_job_with_a_bad_dataset_fails_naming_the_line(tiny_base_dir, tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "data.jsonl").write_text('{"prompt": "Hi", "completion": "Hello"}\n{"prompt": 1}\n')
    job = run_job("train_job.py", [], {"SM_CHANNEL_TRAIN": str(tmp_path / "train"), "SM_CHANNEL_BASE": tiny_base_dir,
                                       "SM_MODEL_DIR": str(tmp_path / "model")})
    assert job.returncode != 0 and "line 2: field 'prompt' must be a string, got int" in job.stderr
