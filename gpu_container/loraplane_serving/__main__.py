"""The image's `serve` entrypoint (SageMaker runs `docker run <image> serve`): vLLM with LoRA Plane,
configured from SageMaker's environment only. Imports nothing outside loraplane_serving and
loraplane_core, so the image needs neither the control plane's CLI nor the emulator."""
import argparse
import os
import sys

from .launch import run, sagemaker_options

ENVIRONMENT = """environment (docs/serving.md, docs/configuration.md):
  SM_MODEL_DIR                  base model directory (default /opt/ml/model)
  SAGEMAKER_BIND_TO_PORT        port (default 8080)
  SM_NUM_GPUS                   tensor-parallel size
  LORAPLANE_ADAPTER_SOURCE      s3://bucket/prefix/ or a directory with one folder per adapter
  LORAPLANE_ADAPTER_MANIFEST    on-demand mode: s3://bucket/live/manifest.json
  LORAPLANE_PREFETCH_CONCURRENCY  on-demand mode: live adapters fetched at once before requests (default 2; 0: off)
  LORAPLANE_BASE_NAME           base model id adapters must name
  LORAPLANE_MAX_LORA_RANK       largest adapter rank served (default 64)
  LORAPLANE_GPU_ADAPTER_MEMORY  / LORAPLANE_CPU_ADAPTER_MEMORY   adapter slot budgets, e.g. 2GiB
  LORAPLANE_DISK_CACHE_BYTES    local adapter cache (default 10GiB)
  LORAPLANE_PINNED_ADAPTERS     / LORAPLANE_PRELOAD_ADAPTERS     comma-separated adapter names
  LORAPLANE_MAX_MODEL_LEN       vLLM's --max-model-len
  LORAPLANE_METRICS_FLUSH_SECONDS  per-adapter CloudWatch metrics (EMF on stdout) every N s (default 60; 0: off)
  LORAPLANE_ENDPOINT_NAME       the EndpointName dimension of those metrics (the control plane sets it)"""


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(
        prog="serve", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=ENVIRONMENT,
        description="LoRA Plane's serving container: vLLM's OpenAI server with adapters loaded from S3 on "
                    "first use. Takes no arguments; SageMaker configures it through the environment.",
    ).parse_args(argv)
    run(sagemaker_options(dict(os.environ)))  # replaces this process with vLLM


if __name__ == "__main__":
    main(sys.argv[1:])
