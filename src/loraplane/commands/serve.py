"""`loraplane serve`: the serving container's server (vLLM + adapters on demand), outside Docker."""
import os
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("serve", help="the serving container's server (vLLM + adapters on demand), outside Docker")
    p.add_argument("--model", help="Hugging Face model directory of the base model")
    p.add_argument("--adapter-source", help="s3://bucket/prefix/ or a directory with one folder per adapter")
    p.add_argument("--adapter-manifest", metavar="URI",
                   help="on-demand mode: s3://bucket/live/manifest.json or a file; only the adapters (and "
                        "versions) it names are served (re-read every $LORAPLANE_MANIFEST_TTL_SECONDS, default 5)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--allow-remote-admin", action="store_true",
                   help="let non-loopback clients call the admin routes (POST/DELETE /adapters, vLLM's "
                        "operator routes); by default only loopback clients may")
    p.add_argument("--base-name", help="base model id adapters must name (default: the model folder's name)")
    p.add_argument("--dtype", default="auto", help="auto: bfloat16 on a GPU, float32 on the CPU")
    p.add_argument("--max-lora-rank", type=int, default=64)
    p.add_argument("--gpu-adapter-memory", help="budget for GPU adapter slots, e.g. 2GiB (see docs/serving.md)")
    p.add_argument("--cpu-adapter-memory", help="budget for the CPU adapter tier")
    p.add_argument("--max-loras", type=int, help="GPU adapter slots (overrides --gpu-adapter-memory)")
    p.add_argument("--max-cpu-loras", type=int, help="CPU-tier adapters (overrides --cpu-adapter-memory)")
    p.add_argument("--disk-cache", default="10GiB", help="bytes of adapters kept on local disk")
    p.add_argument("--pin", help="comma-separated adapters never evicted from the disk cache; loaded at start")
    p.add_argument("--preload", help="comma-separated adapters fetched and loaded at start")
    p.add_argument("--max-model-len", type=int)
    p.add_argument("--adapter-rps", type=_limit("rps"), default=0.0, metavar="N",
                   help="every adapter's rate limit, requests per second (decimals allowed); 0: none (default). "
                        "Over it: 429 with Retry-After (docs/serving.md)")
    p.add_argument("--adapter-tpm", type=_limit("tpm"), default=0, metavar="N",
                   help="every adapter's limit of generated tokens per minute; 0: none (default)")
    p.add_argument("--sagemaker", action="store_true", help="take everything from SageMaker's environment")
    p.set_defaults(handler=serve)


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

    if args.sagemaker:
        run(sagemaker_options(dict(os.environ)))
    if not args.model:
        print("error: --model is required", file=sys.stderr)
        return 2
    run(ServeOptions(
        model_dir=args.model, adapter_source=args.adapter_source, adapter_manifest=args.adapter_manifest,
        port=args.port, host=args.host, remote_admin=args.allow_remote_admin,
        base_name=args.base_name, dtype=args.dtype, max_lora_rank=args.max_lora_rank,
        gpu_adapter_memory=args.gpu_adapter_memory, cpu_adapter_memory=args.cpu_adapter_memory,
        max_loras=args.max_loras, max_cpu_loras=args.max_cpu_loras, disk_cache=args.disk_cache,
        pinned=tuple(n for n in (args.pin or "").split(",") if n), max_model_len=args.max_model_len,
        preload=tuple(n for n in (args.preload or "").split(",") if n),
        adapter_rps=args.adapter_rps, adapter_tpm=args.adapter_tpm,
    ))
    return 0
