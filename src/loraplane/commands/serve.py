"""`loraplane serve`: the serving container's server (vLLM + adapters on demand), outside Docker."""
import os

from .. import cli_options as opt  # light: argparse, datetime, re
from ..cli_parsers import port, positive_int


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("serve",
                              help="the serving container's server (vLLM + adapters on demand), outside Docker")
    opt.option(p, "--base-model-dir", "--model", metavar="DIR",
               help=opt.BASE_MODEL_DIR_HELP + " (needed unless --sagemaker) (default: none)")
    p.add_argument("--adapter-source", metavar="SOURCE",
                   help="s3://bucket/prefix/ or a directory with one folder per adapter (default: none)")
    p.add_argument("--adapter-manifest", metavar="URI",
                   help="on-demand mode: s3://bucket/live/manifest.json or a file; only the adapters (and "
                        "versions) it names are served (re-read every $LORAPLANE_MANIFEST_TTL_SECONDS, default 5) "
                        "(default: every adapter of --adapter-source)")
    p.add_argument("--port", type=port, default=8080, help="the port to listen on")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    p.add_argument("--allow-remote-admin", action="store_true",
                   help="let non-loopback clients call the admin routes (POST/DELETE /adapters, vLLM's "
                        "operator routes); by default only loopback clients may")
    opt.option(p, "--base-model-name", "--base-name", metavar="ID",
               help="base model id adapters must name (default: the --base-model-dir folder's name)")
    p.add_argument("--dtype", default="auto", help="auto: bfloat16 on a GPU, float32 on the CPU")
    p.add_argument("--max-lora-rank", type=positive_int, default=64, metavar="N", help="the largest adapter rank")
    p.add_argument("--gpu-adapter-memory", type=byte_size, metavar="SIZE",
                   help="budget for GPU adapter slots, e.g. 2GiB (see docs/serving.md) (default: planned from the "
                        "GPU's memory)")
    p.add_argument("--cpu-adapter-memory", type=byte_size, metavar="SIZE",
                   help="budget for the CPU adapter tier (default: planned from the host's memory)")
    p.add_argument("--max-loras", type=positive_int, metavar="N",
                   help="GPU adapter slots (overrides --gpu-adapter-memory) (default: from the budget)")
    p.add_argument("--max-cpu-loras", type=positive_int, metavar="N",
                   help="CPU-tier adapters (overrides --cpu-adapter-memory) (default: from the budget)")
    p.add_argument("--disk-cache", type=byte_size, default="10GiB", metavar="SIZE",
                   help="bytes of adapters kept on local disk")
    p.add_argument("--pin", metavar="NAMES",
                   help="comma-separated adapters never evicted from the disk cache; loaded at start (default: none)")
    p.add_argument("--preload", metavar="NAMES",
                   help="comma-separated adapters fetched and loaded at start (default: none)")
    p.add_argument("--max-model-len", type=positive_int, metavar="N",
                   help="tokens of context (default: the model's)")
    p.add_argument("--adapter-rps", type=_limit("rps"), default=0.0, metavar="N",
                   help="every adapter's rate limit, requests per second (decimals allowed); 0: none. "
                        "Over it: 429 with Retry-After (docs/serving.md)")
    p.add_argument("--adapter-tpm", type=_limit("tpm"), default=0, metavar="N",
                   help="every adapter's limit of generated tokens per minute; 0: none")
    p.add_argument("--sagemaker", action="store_true", help="take everything from SageMaker's environment")
    p.set_defaults(handler=serve)


def byte_size(text: str) -> str:
    """A size as the server reads it (512MiB, 2GiB, 1000000), checked here: a typo is a usage error, not a traceback."""
    import argparse

    from loraplane_serving.budgets import parse_bytes

    try:
        value = parse_bytes(text)
    except (ValueError, OverflowError):
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (512MiB, 2GiB, 1000000)")
    return text


def _limit(kind: str):
    def parse(text: str):
        import argparse

        from loraplane_core.adapters.rate_limits import LimitRejected, parse_rps, parse_tpm

        try:
            return parse_rps(text) if kind == "rps" else parse_tpm(text)
        except LimitRejected as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parse


def serve(args) -> int:
    from loraplane_serving.launch import ServeOptions, run, sagemaker_options

    from ..cli_errors import Usage
    from ..cli_parsers import check_model_dir

    if args.sagemaker:
        run(sagemaker_options(dict(os.environ)))
    if not args.base_model_dir:
        raise Usage("--base-model-dir is required", "Pass the base model's directory, or --sagemaker in SageMaker")
    check_model_dir(args.base_model_dir)
    run(ServeOptions(
        model_dir=args.base_model_dir, adapter_source=args.adapter_source, adapter_manifest=args.adapter_manifest,
        port=args.port, host=args.host, remote_admin=args.allow_remote_admin,
        base_name=args.base_model_name, dtype=args.dtype, max_lora_rank=args.max_lora_rank,
        gpu_adapter_memory=args.gpu_adapter_memory, cpu_adapter_memory=args.cpu_adapter_memory,
        max_loras=args.max_loras, max_cpu_loras=args.max_cpu_loras, disk_cache=args.disk_cache,
        pinned=tuple(n for n in (args.pin or "").split(",") if n), max_model_len=args.max_model_len,
        preload=tuple(n for n in (args.preload or "").split(",") if n),
        adapter_rps=args.adapter_rps, adapter_tpm=args.adapter_tpm,
    ))
    return 0
