"""SageMaker training job entry point (and `python train_job.py` anywhere with the same layout).

Channels: `train` (one .jsonl file), `base` (the base model's Hugging Face directory).
Hyperparameters: rank, alpha, epochs, lr, max_length, target_modules (comma-joined), seed,
batch_size, base_name. The adapter and training_metrics.json go to SM_MODEL_DIR.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from loraplane_training.dataset import DatasetError  # noqa: E402
from loraplane_training.sagemaker_env import channel, hyperparameters, model_dir, single_jsonl  # noqa: E402
from loraplane_training.sft import TrainOptions, train  # noqa: E402


def options(argv: list[str]) -> TrainOptions:
    hp = hyperparameters()
    p = argparse.ArgumentParser()
    p.add_argument("--train-dir", default=channel("train"))
    p.add_argument("--base-dir", default=channel("base"))
    p.add_argument("--model-dir", default=model_dir())
    for name, kind in (("rank", int), ("alpha", int), ("epochs", int), ("lr", float), ("max_length", int),
                       ("seed", int), ("batch_size", int), ("base_name", str), ("target_modules", str)):
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=kind(hp[name]) if name in hp else None)
    a, _ = p.parse_known_args(argv)  # the training toolkit also passes every hyperparameter as --name value
    given = {k: v for k, v in vars(a).items() if v is not None and k not in ("train_dir", "base_dir", "model_dir")}
    if "target_modules" in given:
        given["target_modules"] = tuple(m.strip() for m in given["target_modules"].split(",") if m.strip())
    return TrainOptions(base_dir=a.base_dir, data=single_jsonl(a.train_dir), out_dir=a.model_dir, threads=0, **given)


if __name__ == "__main__":
    try:
        train(options(sys.argv[1:]), progress=lambda line: print(line, flush=True))
    except DatasetError as e:
        if os.path.isdir("/opt/ml"):  # SageMaker shows this file as the job's FailureReason
            os.makedirs("/opt/ml/output", exist_ok=True)
            with open("/opt/ml/output/failure", "w") as f:
                f.write(str(e))
        sys.exit(f"dataset error: {e}")
