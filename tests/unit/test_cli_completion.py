"""`loraplane completion bash|zsh`: a script generated from the parser tree that the shell accepts and that
completes commands, subcommands, options and choices; the hidden old spellings are not offered."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from loraplane.cli import main

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory) -> Path:
    out = subprocess.run([str(BIN / "loraplane"), "completion", "bash"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    path = tmp_path_factory.mktemp("completion") / "loraplane.bash"
    path.write_text(out.stdout)
    return path


def complete(script: Path, line: str) -> list[str]:
    """What bash offers for `line` (the cursor at its end), through the script's completion function."""
    probe = ('source "$1"; read -ra COMP_WORDS <<< "$2"; [[ "$2" == *" " ]] && COMP_WORDS+=(""); '
             'COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE="$2"; COMP_POINT=${#2}; '
             'fn=$(complete -p loraplane | sed -E "s/.* -F ([^ ]+) .*/\\1/"); "$fn"; printf "%s\\n" "${COMPREPLY[@]}"')
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", probe, "_", str(script), line], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return [w for w in out.stdout.splitlines() if w]


def test_bash_accepts_the_script(bash_script):
    check = subprocess.run(["bash", "-n", str(bash_script)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("line, offered", [
    ("loraplane ad", ["adapters"]),
    ("loraplane adapters up", ["upload"]),
    ("loraplane models r", ["register-base"]),
    ("loraplane adapters upload --ad", ["--adapter"]),
    ("loraplane adapters upload --na", []),  # --name: the old, hidden spelling of --adapter
    ("loraplane train --base-model-", ["--base-model-dir", "--base-model-name"]),
    ("loraplane logs --output ", ["text", "json"]),
    ("loraplane completion ", ["bash", "zsh"]),
])
def test_bash_completes_commands_options_and_choices(bash_script, line, offered):
    assert sorted(complete(bash_script, line)) == sorted(offered)


def test_every_command_is_offered(bash_script):
    from loraplane.cli import GROUPS

    names = set(complete(bash_script, "loraplane "))
    assert {"completion", "adapters", "local", "invoke"} <= names and len(names) == len(GROUPS) + 1


def test_zsh_script(capsys):
    assert main(["completion", "zsh"]) == 0
    script = capsys.readouterr().out
    assert script.startswith("#compdef loraplane") and "register-base" in script and "--base-model-dir" in script
    assert '"--s3-uri' not in script and '"--model-dir' not in script  # hidden spellings left out
    if shutil.which("zsh"):  # not on every machine; bash is
        check = subprocess.run(["zsh", "-n"], input=script, capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
