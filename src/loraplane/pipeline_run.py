"""`loraplane pipeline start`: uploads the job code and a team's dataset, then starts the stack's
fine-tuning pipeline (docs/training.md). Works against AWS and the embedded emulator alike."""
import gzip
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass

import loraplane_training
from loraplane_core.adapters.upload_layout import check_adapter_name
from loraplane_core.approved_bases import serving_base_package
from loraplane_core.ingest.registry import base_model_uri
from loraplane_training.dataset import read_jsonl

from .cli_errors import NotFound
from .progress import Steps

# training/: the jobs' entry points next to the loraplane_training package.
CODE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(loraplane_training.__file__)))
CODE_FILES = ("train_job.py", "evaluate_job.py", "handoff_job.py", "requirements.txt")


def code_bundle() -> bytes:
    """training/ as sourcedir.tar.gz, byte-for-byte reproducible (so its key is its hash)."""
    names = list(CODE_FILES) + sorted(
        f"loraplane_training/{n}" for n in os.listdir(os.path.join(CODE_DIR, "loraplane_training")) if n.endswith(".py"))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            with open(os.path.join(CODE_DIR, name), "rb") as f:
                data = f.read()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def split_holdout(lines: list[str], every: int = 5) -> tuple[list[str], list[str]]:
    """Every `every`-th example held out for evaluation (at least one; the rest trains)."""
    held = {i for i in range(len(lines)) if i % every == every - 1} or {len(lines) - 1}
    train = [line for i, line in enumerate(lines) if i not in held]
    return train or lines, [lines[i] for i in sorted(held)]


@dataclass
class RunRequest:
    adapter_name: str
    data: str
    eval_data: str | None = None
    base_model_uri: str | None = None
    base_model_name: str | None = None
    hyperparameters: dict | None = None  # pipeline parameter name -> value (Rank, Epochs, ...)


def put(s3, bucket: str, key: str, body: bytes) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def start(session, outputs: dict, req: RunRequest, steps: Steps | None = None) -> str:
    """Returns the pipeline execution ARN; `steps`: progress lines (stderr)."""
    steps = steps or Steps(quiet=True)
    check_adapter_name(req.adapter_name)
    steps(f"Checking {req.data}" + (f" and {req.eval_data}" if req.eval_data else "") + " ...")
    read_jsonl(req.data)  # fail here, not an hour later in a training job
    if req.eval_data:
        read_jsonl(req.eval_data)
    s3, sm, bucket = session.client("s3"), session.client("sagemaker"), outputs["AdapterBucketName"]
    base_uri, base_name = req.base_model_uri, req.base_model_name
    if not (base_uri and base_name):  # default: the base model the endpoint serves
        table = session.resource("dynamodb").Table(outputs["CatalogTableName"])  # where the served base is recorded
        package = serving_base_package(sm, table, outputs["BaseModelPackageGroupName"], outputs["EndpointName"])
        if package is None:
            raise NotFound(f"no approved base model serves on {outputs['EndpointName']}",
                           "Pass --base-model-uri and --base-model-name, or register and approve one "
                           "(loraplane models register-base --approve)")
        base_uri = base_uri or base_model_uri(package)
        base_name = base_name or package["CustomerMetadataProperties"]["base_model"]
    with open(req.data, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    if req.eval_data:
        with open(req.eval_data, encoding="utf-8") as f:
            train, held = lines, [line for line in f if line.strip()]
    else:
        train, held = split_holdout(lines)
    code = code_bundle()
    steps(f"Uploading the training code ({len(code) / 1024:.0f} KiB) and {len(train)} + {len(held)} examples "
          f"to s3://{bucket}/pipeline-inputs/ ...")
    digest = hashlib.sha256("".join(train + ["\0"] + held).encode()).hexdigest()[:16]
    prefix = f"pipeline-inputs/{req.adapter_name}/{digest}/"
    params = {
        "AdapterName": req.adapter_name, "BaseModelUri": base_uri, "BaseModelName": base_name,
        "CodeUri": put(s3, bucket, f"pipeline-inputs/code/{hashlib.sha256(code).hexdigest()[:16]}/sourcedir.tar.gz", code),
        "TrainDataUri": put(s3, bucket, prefix + "train/train.jsonl", "".join(train).encode()),
        "EvalDataUri": put(s3, bucket, prefix + "eval/eval.jsonl", "".join(held).encode()),
    } | {k: str(v) for k, v in (req.hyperparameters or {}).items() if v is not None}
    steps(f"Starting {outputs['TrainingPipelineName']} for {req.adapter_name} ...")
    resp = sm.start_pipeline_execution(
        PipelineName=outputs["TrainingPipelineName"], PipelineExecutionDisplayName=req.adapter_name,
        PipelineParameters=[{"Name": k, "Value": v} for k, v in params.items()])
    return resp["PipelineExecutionArn"]
