"""Building the `loraplane` parser, and `--help`, import nothing heavy or optional: the emulator, the
training code, torch, vLLM are imported by the handlers that use them, when they run."""
import subprocess
import sys
import textwrap
from pathlib import Path

BIN = Path(sys.executable).parent
HEAVY = ("loraplane.emulator", "loraplane_training", "torch", "vllm", "transformers", "peft")

CHECK = textwrap.dedent(f"""
    import contextlib, io, sys
    from loraplane.cli import parser

    p = parser()
    for argv in ([], ["serve"], ["local", "up"], ["train"], ["demo"], ["pipeline", "start"], ["dev", "tiny-model"]):
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                p.parse_args([*argv, "--help"])
            except SystemExit as e:
                assert e.code == 0, (argv, e.code)
    loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in {HEAVY!r}))
    assert not loaded, loaded
    print("ok")
""")


def test_building_the_parser_imports_nothing_heavy():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout + result.stderr


def test_help_exits_0():
    for argv in (["--help"], ["serve", "--help"]):
        result = subprocess.run([str(BIN / "loraplane"), *argv], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and result.stdout.startswith("usage: loraplane"), result.stdout + result.stderr
