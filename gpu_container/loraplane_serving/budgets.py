"""How many adapters fit: GPU slots and CPU-tier entries from memory budgets.

vLLM preallocates, per GPU slot, LoRA A and B buffers at `max_lora_rank` for every LoRA-capable
linear module of every layer, so one slot costs

    slot_bytes = num_layers x sum over modules (in_features + out_features) x max_lora_rank x dtype_bytes

and `--max-loras = floor(gpu_adapter_memory / slot_bytes)`. The CPU tier (`--max-cpu-loras`) holds
adapters at their own rank, bounded by the same per-adapter maximum, so it uses the same formula.
"""
from dataclasses import dataclass

from loraplane_core.adapters.base_profile import BaseModelProfile

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


def slot_bytes(base: BaseModelProfile, max_rank: int, dtype: str) -> int:
    per_layer = sum(i + o for i, o in base.linear_modules.values())
    return base.num_layers * per_layer * max_rank * DTYPE_BYTES[dtype]


@dataclass(frozen=True)
class Slots:
    gpu: int
    cpu: int
    slot_bytes: int


def plan(base: BaseModelProfile, max_rank: int, dtype: str, gpu_bytes: int | None = None, cpu_bytes: int | None = None,
         gpu_slots: int | None = None, cpu_slots: int | None = None) -> Slots:
    """Counts win over budgets; the CPU tier is never smaller than the GPU tier (vLLM requires it)."""
    size = slot_bytes(base, max_rank, dtype)
    gpu = gpu_slots or (max(1, gpu_bytes // size) if gpu_bytes else 4)
    cpu = cpu_slots or (max(1, cpu_bytes // size) if cpu_bytes else 4 * gpu)
    return Slots(gpu=gpu, cpu=max(cpu, gpu), slot_bytes=size)


def parse_bytes(text: str) -> int:
    """'512MiB', '2GiB', '1000000' -> bytes."""
    units = {"kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 10**3, "mb": 10**6, "gb": 10**9, "b": 1}
    t = text.strip().lower()
    for unit, factor in units.items():
        if t.endswith(unit):
            return int(float(t[: -len(unit)]) * factor)
    return int(t)
