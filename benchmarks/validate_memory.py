"""Peak memory of the Validate Lambda (1024 MB) on the worst inputs its limits still let through.

Each case runs validate_adapter_dir in a fresh process that first imports what the handler imports;
it reports the process's peak RSS (VmHWM) against that baseline, and tracemalloc's peak of the
validation alone (a second run: tracing costs memory of its own).

Usage: .venv/bin/python benchmarks/validate_memory.py
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAMBDA_MB = 1024
CHILD = """
import sys, time, tracemalloc
def hwm():  # VmHWM: this process's peak RSS (ru_maxrss would include the parent's, kept across exec)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
import boto3, aws_lambda_powertools  # what the handler imports, for a fair baseline
from loraplane_core.event_parser import event_parser
from loraplane_core.ingest import validate as ingest
from loraplane_core.adapters.base_profile import BaseModelProfile
from loraplane_core.adapters.reasons import AdapterRejected
from loraplane_core.adapters.validation import Policy, validate_adapter_dir
base = BaseModelProfile.from_hf_config("bench-base", {"model_type": "llama", "hidden_size": 64,
    "num_attention_heads": 4, "intermediate_size": 128, "num_hidden_layers": 126})
baseline = hwm()
trace = sys.argv[2] == "trace"
if trace:
    tracemalloc.start()
started = time.perf_counter()
try:
    validate_adapter_dir(sys.argv[1], Policy(max_rank=64, max_bytes=512 * 2**20), base)
    outcome = "accepted"
except AdapterRejected as e:
    outcome = str(e.reason)
seconds = time.perf_counter() - started
peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else hwm()
print(baseline, peak, seconds, outcome)
"""


def write_adapter(directory: Path, header: bytes, data: bytes = b"", config: bytes | None = None) -> None:
    directory.mkdir()
    cfg = {"peft_type": "LORA", "r": 8, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                             "up_proj", "down_proj"], "base_model_name_or_path": "bench-base"}
    (directory / "adapter_config.json").write_bytes(config if config is not None else json.dumps(cfg).encode())
    (directory / "adapter_model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + data)


def filled(prefix: bytes, item: bytes, suffix: bytes, size: int) -> bytes:
    """`prefix item,item,... suffix` of exactly `size` bytes (padded with JSON whitespace)."""
    count = (size - len(prefix) - len(suffix)) // (len(item) + 1)
    body = prefix + b",".join([item] * count) + suffix
    return body + b" " * (size - len(body))


def empty_tensors(size: int) -> bytes:
    """A header read_header accepts: as many zero-size tensors as fit (check_tensors rejects them)."""
    entry = '"t{}":{{"dtype":"F16","shape":[0],"data_offsets":[0,0]}}'
    parts, used, i = [], 2, 0
    while used + len(entry) + 8 < size:
        parts.append(entry.format(i))
        used += len(parts[-1]) + 1
        i += 1
    body = ("{" + ",".join(parts) + "}").encode()
    return body + b" " * (size - len(body))


def largest_real_adapter() -> tuple[bytes, bytes]:
    """Every linear module of every one of 126 layers, rank 8 (the largest adapter of that base)."""
    shapes = {"q_proj": (64, 64), "k_proj": (64, 64), "v_proj": (64, 64), "o_proj": (64, 64), "gate_proj": (64, 128),
              "up_proj": (64, 128), "down_proj": (128, 64)}
    header, cursor = {"__metadata__": {"format": "pt"}}, 0
    for layer in range(126):
        for module, (in_f, out_f) in shapes.items():
            block = "mlp" if module in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            for kind, shape in (("lora_A", [8, in_f]), ("lora_B", [out_f, 8])):
                size = shape[0] * shape[1] * 2
                header[f"base_model.model.model.layers.{layer}.{block}.{module}.{kind}.weight"] = {
                    "dtype": "F16", "shape": shape, "data_offsets": [cursor, cursor + size]}
                cursor += size
    return json.dumps(header).encode(), b"\0" * cursor


def main() -> None:
    sys.path.insert(0, str(REPO / "layers" / "core"))
    from loraplane_core.adapters.config import MAX_CONFIG_BYTES
    from loraplane_core.adapters.safetensors_header import MAX_HEADER_BYTES

    root = Path(tempfile.mkdtemp(prefix="validate-memory-"))
    real_header, real_data = largest_real_adapter()
    cases = {
        "header of empty objects, at the limit": (filled(b'{"a":[', b"{}", b"]}", MAX_HEADER_BYTES), b"", None),
        "header of empty lists, at the limit": (filled(b'{"a":[', b"[]", b"]}", MAX_HEADER_BYTES), b"", None),
        "header of empty tensors, at the limit": (empty_tensors(MAX_HEADER_BYTES), b"", None),
        f"largest real adapter ({len(real_header) // 1024} KB header)": (real_header, real_data, None),
        "config of empty objects, at the limit": (b"{}", b"", filled(b'{"peft_type":"LORA","x":[', b"{}", b"]}",
                                                                      MAX_CONFIG_BYTES)),
    }
    env = {**os.environ, "PYTHONPATH": str(REPO / "layers" / "core"), "AWS_DEFAULT_REGION": "us-east-1"}
    print(f"{'case':45s} {'outcome':30s} {'baseline':>9s} {'peak RSS':>9s} {'traced':>8s} {'time':>6s}")
    worst = 0.0
    for i, (name, (header, data, config)) in enumerate(cases.items()):
        directory = root / f"case{i}"
        write_adapter(directory, header, data, config)
        runs = {}
        for mode in ("rss", "trace"):
            out = subprocess.run([sys.executable, "-c", CHILD, str(directory), mode], env=env, capture_output=True,
                                 text=True, check=True).stdout.split()
            runs[mode] = (float(out[0]), float(out[1]), float(out[2]), out[3])
        baseline, rss, seconds, outcome = runs["rss"]
        worst = max(worst, rss)
        print(f"{name:45s} {outcome:30s} {baseline:7.0f}MB {rss:7.0f}MB {runs['trace'][1]:6.0f}MB {seconds:5.2f}s")
    print(f"worst peak RSS {worst:.0f} MB of the Lambda's {LAMBDA_MB} MB "
          f"(header limit {MAX_HEADER_BYTES / 2**20:.0f} MiB, config limit {MAX_CONFIG_BYTES / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
