"""Progress of the long steps (stderr, `[   3s] what` lines, a heartbeat, byte counts), the log lines `local up
--detach` forwards, and a stack whose outputs lack what a command reads (one line naming it, not a KeyError)."""
import io
import os
import time

import pytest

from loraplane.base_models import directory_digest, model_files
from loraplane.cli_errors import NOT_FOUND, explain
from loraplane import local_state
from loraplane.local_state import LogLines
from loraplane.progress import LINE, Progress, Steps
from loraplane.stack import StackValues, StaleStack


def test_steps_print_elapsed_lines_and_quiet_prints_nothing():
    out = io.StringIO()
    steps = Steps(stream=out)
    steps("Deploying template.yaml ...")
    assert LINE.match(out.getvalue()) and out.getvalue().endswith("] Deploying template.yaml ...\n")
    quiet = io.StringIO()
    Steps(stream=quiet, quiet=True)("x")
    assert quiet.getvalue() == ""


def test_heartbeat_while_a_long_call_runs_and_silence_after():
    out = io.StringIO()
    steps = Steps(stream=out)
    with steps.waiting("deploying", every=0.05):
        time.sleep(0.3)
    beats = out.getvalue().splitlines()
    assert len(beats) >= 2 and all(LINE.match(b) and b.endswith("... still deploying") for b in beats)
    time.sleep(0.15)
    assert out.getvalue().splitlines() == beats  # the thread stopped with the block


def test_heartbeat_stops_when_the_block_raises():
    out = io.StringIO()
    with pytest.raises(RuntimeError):
        with Steps(stream=out).waiting("tearing down", every=0.05):
            raise RuntimeError("boom")
    seen = out.getvalue()
    time.sleep(0.15)
    assert out.getvalue() == seen


def test_hashing_reports_every_byte_once(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "config.json").write_bytes(b"{}")
    (tmp_path / "sub" / "model.safetensors").write_bytes(os.urandom(3 * 2**20 + 5))
    (tmp_path / ".git" / "HEAD").write_bytes(b"ref")
    files = model_files(str(tmp_path))
    assert [os.path.relpath(f, tmp_path) for f in files] == ["config.json", os.path.join("sub", "model.safetensors")]
    out = io.StringIO()
    total = sum(os.path.getsize(f) for f in files)
    progress = Progress(str(tmp_path), total, stream=out, verb="Hashing")
    digest = directory_digest(str(tmp_path), progress)
    assert progress.done == total and out.getvalue().splitlines()[-1].endswith(f"{total} / {total}  (100%)")
    assert digest == directory_digest(str(tmp_path))  # progress changes nothing


def test_log_lines_are_whole_lines_from_the_offset(tmp_path):
    log = tmp_path / "local.log"
    log.write_text("before\n")
    lines = LogLines(str(log), offset=log.stat().st_size)
    assert lines.new() == []
    with open(log, "a") as f:
        f.write("[    1s] Starting the AWS emulator ...\n[    2s] Deploy")
    assert lines.new() == ["[    1s] Starting the AWS emulator ..."]
    with open(log, "a") as f:
        f.write("ing ...\nexport X=1\n")
    assert lines.new() == ["[    2s] Deploying ...", "export X=1"]
    assert [line for line in ["[    2s] Deploying ...", "export X=1"] if LINE.match(line)] == ["[    2s] Deploying ..."]
    assert LogLines(str(tmp_path / "missing.log")).new() == []


class LastWords:
    """A `local up` that writes its last lines and exits between two reads of its log: the race the wait for its
    state must survive (the lines that say why it stopped were lost)."""
    pid = 4242

    def __init__(self, log, text: str):
        self.log, self.text = log, text

    def poll(self):
        with open(self.log, "a") as f:
            f.write(self.text)
        return 1


def test_the_wait_for_local_up_reads_its_last_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("LORAPLANE_HOME", str(tmp_path))  # no state file: it never came up
    log = tmp_path / "local.log"
    log.write_text("[    0s] Starting the AWS emulator ...\n")
    seen = []
    child = LastWords(log, "[    9s] Deploying ...\nTraceback: port taken\n[   10s] Stopping")
    with pytest.raises(RuntimeError, match="exited with code 1") as e:
        local_state.await_state(child, str(log), 0, timeout=60, poll=0, on_progress=seen.append)
    assert seen == ["[    0s] Starting the AWS emulator ...", "[    9s] Deploying ...", "[   10s] Stopping"]
    assert "port taken" in str(e.value)


def test_the_lines_written_just_before_the_state_are_forwarded(tmp_path, monkeypatch):
    log = tmp_path / "local.log"
    log.write_text("")

    def state_after_a_last_line():
        with open(log, "a") as f:
            f.write("[    5s] Ready\n")
        return {"pid": LastWords.pid}

    monkeypatch.setattr(local_state, "read", state_after_a_last_line)
    seen = []
    state = local_state.await_state(LastWords(log, ""), str(log), 0, timeout=60, poll=0, on_progress=seen.append)
    assert state == {"pid": LastWords.pid, "log": str(log)} and seen == ["[    5s] Ready"]


def test_a_missing_output_names_itself_and_the_fix():
    outputs = StackValues({"EndpointName": "e"}, "old-stack", "output")
    assert outputs["EndpointName"] == "e" and outputs.get("CatalogTableName") is None and dict(outputs) == {
        "EndpointName": "e"}
    with pytest.raises(KeyError) as e:  # code that asks with try/except KeyError still works
        outputs["CatalogTableName"]
    assert isinstance(e.value, StaleStack)
    code, text = explain(e.value)
    assert code == NOT_FOUND and "\n" not in text
    assert text.startswith("error: stack old-stack has no output CatalogTableName (deployed from an older template).")
    assert "Update the stack: sam deploy" in text
