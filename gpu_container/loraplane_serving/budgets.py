"""How many adapters fit: GPU slots and CPU-tier entries from memory budgets.

vLLM preallocates, per GPU slot, LoRA A and B buffers at `max_lora_rank` for every LoRA-capable
linear module of every layer, so one slot costs

    slot_bytes = num_layers x sum over modules (in_features + out_features) x max_lora_rank x dtype_bytes

and `--max-loras = floor(gpu_adapter_memory / slot_bytes)`. The CPU tier (`--max-cpu-loras`) holds
adapters at their own rank, bounded by the same per-adapter maximum, so it uses the same formula.

Without a budget or a count, the budgets are shares of the memory there is: GPU_SHARE of the
accelerator's (the host's on the CPU backend, where the slots live in host memory) and HOST_SHARE of
the host's. GPU slots are also capped at MAX_DEFAULT_GPU_SLOTS: a batch rarely holds more distinct
adapters, and every slot is memory taken from the KV cache (and work for vLLM's GPU kernels, whose
grid spans the slots).
"""
from dataclasses import dataclass

from loraplane_core.adapters.base_profile import BaseModelProfile

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


def slot_bytes(base: BaseModelProfile, max_rank: int, dtype: str) -> int:
    per_layer = sum(i + o for i, o in base.linear_modules.values())
    return base.num_layers * per_layer * max_rank * DTYPE_BYTES[dtype]


GPU_SHARE = 0.05
HOST_SHARE = 0.10
MAX_DEFAULT_GPU_SLOTS = 32


@dataclass(frozen=True)
class Slots:
    gpu: int
    cpu: int
    slot_bytes: int


def plan(base: BaseModelProfile, max_rank: int, dtype: str, gpu_bytes: int | None = None, cpu_bytes: int | None = None,
         gpu_slots: int | None = None, cpu_slots: int | None = None, device_memory: int = 0,
         host_memory: int = 0) -> Slots:
    """Counts win over budgets, budgets over the default shares of `device_memory` / `host_memory`
    (bytes; 0: unknown, then 4 GPU slots and 4 CPU entries per slot). The CPU tier is never smaller
    than the GPU tier (vLLM requires it)."""
    size = slot_bytes(base, max_rank, dtype)
    if gpu_slots:
        gpu = gpu_slots
    elif gpu_bytes:
        gpu = max(1, gpu_bytes // size)
    else:
        gpu = min(MAX_DEFAULT_GPU_SLOTS, max(1, int(device_memory * GPU_SHARE) // size)) if device_memory else 4
    if cpu_slots:
        cpu = cpu_slots
    elif cpu_bytes:
        cpu = max(1, cpu_bytes // size)
    else:
        cpu = max(1, int(host_memory * HOST_SHARE) // size) if host_memory else 4 * gpu
    return Slots(gpu=gpu, cpu=max(cpu, gpu), slot_bytes=size)


def parse_bytes(text: str) -> int:
    """'512MiB', '2GiB', '1000000' -> bytes."""
    units = {"kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 10**3, "mb": 10**6, "gb": 10**9, "b": 1}
    t = text.strip().lower()
    for unit, factor in units.items():
        if t.endswith(unit):
            return int(float(t[: -len(unit)]) * factor)
    return int(t)
