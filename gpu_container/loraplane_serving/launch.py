"""How vLLM's OpenAI server is started with LoRA Plane's adapter cache, budgets and SageMaker shapes:
the image's `serve` (python -m loraplane_serving, from SageMaker's environment) and `loraplane serve`
(from its flags) both end here."""
import os
import sys
from dataclasses import dataclass

from loraplane_core.adapters.base_profile import BaseModelProfile
from loraplane_core.adapters.rate_limits import parse_rps, parse_tpm, rps_text

MIDDLEWARE = "loraplane_serving.middleware.LoraPlaneMiddleware"


@dataclass
class ServeOptions:
    model_dir: str
    adapter_source: str | None = None
    adapter_manifest: str | None = None  # on-demand mode: serve only what this manifest names
    port: int = 8080
    host: str = "127.0.0.1"  # loopback unless asked: the server has admin routes
    remote_admin: bool = False  # admin routes (POST/DELETE /adapters, ...) for non-loopback clients
    base_name: str | None = None
    dtype: str = "auto"
    max_lora_rank: int = 64
    gpu_adapter_memory: str | None = None
    cpu_adapter_memory: str | None = None
    max_loras: int | None = None
    max_cpu_loras: int | None = None
    disk_cache: str = "10GiB"
    cache_dir: str | None = None
    pinned: tuple[str, ...] = ()
    preload: tuple[str, ...] = ()
    max_model_len: int | None = None
    adapter_rps: float = 0.0  # every adapter's default rate limits (limits.py); 0: unlimited
    adapter_tpm: int = 0
    metrics_flush_seconds: str = "0"  # EMF metrics on stdout every N s (usage_metrics.py); 0: off
    extra: tuple[str, ...] = ()


def command(o: ServeOptions) -> tuple[list[str], dict[str, str]]:
    """The vLLM command line and environment for these options."""
    from loraplane_serving.budgets import parse_bytes, plan

    base_name = o.base_name or os.path.basename(os.path.normpath(o.model_dir))
    base = BaseModelProfile.from_config_file(base_name, os.path.join(o.model_dir, "config.json"))
    # Every tensor-parallel worker keeps its own CPU tier of whole adapters, and a slot is split over the GPUs.
    tp = _tensor_parallel(o.extra)
    gpu_memory, host_memory = _gpu_memory() * tp, _host_memory() // tp
    dtype = "float32" if o.dtype == "auto" and not gpu_memory else ("bfloat16" if o.dtype == "auto" else o.dtype)
    slots = plan(base, o.max_lora_rank, dtype,
                 gpu_bytes=parse_bytes(o.gpu_adapter_memory) if o.gpu_adapter_memory else None,
                 cpu_bytes=parse_bytes(o.cpu_adapter_memory) if o.cpu_adapter_memory else None,
                 gpu_slots=o.max_loras, cpu_slots=o.max_cpu_loras,
                 device_memory=gpu_memory or host_memory, host_memory=host_memory)  # CPU backend: slots in host memory
    argv = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", o.model_dir,
            "--served-model-name", base_name, "--host", o.host, "--port", str(o.port), "--dtype", dtype,
            "--enable-lora", "--max-lora-rank", str(o.max_lora_rank), "--max-loras", str(slots.gpu),
            "--max-cpu-loras", str(slots.cpu), "--middleware", MIDDLEWARE, "--disable-uvicorn-access-log"]
    if o.max_model_len:
        argv += ["--max-model-len", str(o.max_model_len)]
    argv += list(o.extra)
    env = {
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
        "LORAPLANE_MODEL_DIR": o.model_dir, "LORAPLANE_BASE_NAME": base_name,
        "LORAPLANE_ADAPTER_SOURCE": o.adapter_source or os.path.join(o.model_dir, "adapters"),
        "LORAPLANE_MAX_LORA_RANK": str(o.max_lora_rank), "LORAPLANE_DISK_CACHE_BYTES": o.disk_cache,
        "LORAPLANE_PINNED_ADAPTERS": ",".join(o.pinned), "LORAPLANE_PRELOAD_ADAPTERS": ",".join(o.preload),
        # Always set (empty = off), so a value left in the caller's environment cannot switch it on.
        "LORAPLANE_ADAPTER_MANIFEST": o.adapter_manifest or "",
        "LORAPLANE_REMOTE_ADMIN": "1" if o.remote_admin else "0",
        "LORAPLANE_METRICS_FLUSH_SECONDS": o.metrics_flush_seconds,
        "LORAPLANE_ADAPTER_RPS": rps_text(parse_rps(o.adapter_rps)),
        "LORAPLANE_ADAPTER_TPM": str(parse_tpm(o.adapter_tpm)),
        "LORAPLANE_MAX_MODEL_LEN": str(o.max_model_len or ""),  # bounds a request's token charge
        "VLLM_SERVER_DEV_MODE": "0",  # vLLM's dev routes (/sleep, /collective_rpc, ...) are never mounted
        "LORAPLANE_CACHE_DIR": o.cache_dir or os.path.join(os.environ.get("TMPDIR", "/tmp"), f"loraplane-adapters-{o.port}"),
    }
    if not gpu_memory:
        env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # halves start-up on the CPU
        # vLLM's CPU backend otherwise sizes its KV cache from the machine's memory (22 GB seen on a
        # 24 GB machine for the tiny model); local runs need little.
        env["VLLM_CPU_KVCACHE_SPACE"] = os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2")
    return argv, env


def _tensor_parallel(extra: tuple[str, ...]) -> int:
    """vLLM's --tensor-parallel-size (or -tp) among the extra flags; 1 if absent or not a positive number."""
    for i, flag in enumerate(extra):
        value = flag.split("=", 1)[1] if flag.startswith("--tensor-parallel-size=") else \
            (extra[i + 1] if flag in ("--tensor-parallel-size", "-tp") and i + 1 < len(extra) else None)
        if value is not None:
            return int(value) if value.isdigit() and int(value) > 0 else 1
    return 1


def _gpu_memory() -> int:
    """Bytes of the first GPU's memory; 0 without a GPU (vLLM's CPU backend)."""
    try:
        import torch

        return torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else 0
    except (ImportError, RuntimeError):
        return 0


# cgroup v2's limit ("max" when unlimited), then v1's (a huge number when unlimited): SageMaker's older
# hosts (Amazon Linux 2) run containers under cgroup v1
CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def _host_memory(limits: tuple[str, ...] = CGROUP_LIMITS) -> int:
    """Bytes of memory this process may use: the cgroup's limit (a container's) or the machine's."""
    try:
        machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        machine = 0
    for path in limits:
        try:
            with open(path) as f:
                limit = f.read().strip()
        except OSError:
            continue
        return min(int(limit), machine) if limit.isdigit() and machine else machine
    return machine


def sagemaker_options(environ: dict[str, str]) -> ServeOptions:
    """SageMaker hosting: model in /opt/ml/model, port from SAGEMAKER_BIND_TO_PORT, tuning from LORAPLANE_*."""
    return ServeOptions(
        model_dir=environ.get("SM_MODEL_DIR", "/opt/ml/model"),
        port=int(environ.get("SAGEMAKER_BIND_TO_PORT", "8080")),
        host=environ.get("LORAPLANE_BIND_HOST", "0.0.0.0"),  # local hosting binds loopback only
        remote_admin=True,  # SageMaker's platform calls POST /adapters from outside the container
        adapter_source=environ.get("LORAPLANE_ADAPTER_SOURCE"),
        adapter_manifest=environ.get("LORAPLANE_ADAPTER_MANIFEST") or None,
        base_name=environ.get("LORAPLANE_BASE_NAME"),
        max_lora_rank=int(environ.get("LORAPLANE_MAX_LORA_RANK", "64")),
        gpu_adapter_memory=environ.get("LORAPLANE_GPU_ADAPTER_MEMORY"),
        cpu_adapter_memory=environ.get("LORAPLANE_CPU_ADAPTER_MEMORY"),
        disk_cache=environ.get("LORAPLANE_DISK_CACHE_BYTES", "10GiB"),
        pinned=tuple(n for n in environ.get("LORAPLANE_PINNED_ADAPTERS", "").split(",") if n),
        preload=tuple(n for n in environ.get("LORAPLANE_PRELOAD_ADAPTERS", "").split(",") if n),
        max_model_len=int(environ["LORAPLANE_MAX_MODEL_LEN"]) if environ.get("LORAPLANE_MAX_MODEL_LEN") else None,
        adapter_rps=parse_rps(environ.get("LORAPLANE_ADAPTER_RPS", ""), "LORAPLANE_ADAPTER_RPS"),
        adapter_tpm=parse_tpm(environ.get("LORAPLANE_ADAPTER_TPM", ""), "LORAPLANE_ADAPTER_TPM"),
        # SageMaker ships stdout to CloudWatch Logs, where EMF lines become metrics
        metrics_flush_seconds=environ.get("LORAPLANE_METRICS_FLUSH_SECONDS", "60"),
        extra=("--tensor-parallel-size", environ["SM_NUM_GPUS"]) if environ.get("SM_NUM_GPUS") else (),
    )


def run(o: ServeOptions) -> None:
    """Replace this process with vLLM (so SIGTERM reaches it directly)."""
    argv, env = command(o)
    gpu, cpu = argv[argv.index("--max-loras") + 1], argv[argv.index("--max-cpu-loras") + 1]
    print(f"loraplane: {gpu} GPU adapter slots, {cpu} CPU-tier adapters (see docs/serving.md, Budgets)",
          file=sys.stderr, flush=True)
    os.execve(argv[0], argv, {**os.environ, **env})
