"""What a SageMaker training job hands its container: hyperparameters, channels, the model dir."""
import glob
import json
import os

HYPERPARAMETERS_FILE = "/opt/ml/input/config/hyperparameters.json"


def hyperparameters(path: str = HYPERPARAMETERS_FILE) -> dict[str, str]:
    """The job's hyperparameters: SM_HPS (set by the SageMaker training toolkit), else the file
    SageMaker writes; SageMaker's own `sagemaker_*` entries left out. Empty outside a job."""
    if "SM_HPS" in os.environ:
        values = json.loads(os.environ["SM_HPS"])
    elif os.path.exists(path):
        with open(path) as f:
            values = json.load(f)
    else:
        return {}
    return {k.replace("-", "_"): str(v) for k, v in values.items() if not k.startswith("sagemaker_")}


def channel(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"SM_CHANNEL_{name.upper()}", default)


def model_dir(default: str | None = None) -> str | None:
    return os.environ.get("SM_MODEL_DIR", default)


def single_jsonl(directory: str) -> str:
    """The dataset file of a channel: the one .jsonl file in it."""
    found = sorted(glob.glob(os.path.join(directory, "**", "*.jsonl"), recursive=True))
    if len(found) != 1:
        raise SystemExit(f"expected exactly one .jsonl file in {directory}, found {len(found)}: {found[:5]}")
    return found[0]
