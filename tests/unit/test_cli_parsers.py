"""The argument types and the offline parts of `adapters upload`, `invoke`, `logs` and `local up|down|env`:
--since, adapter names, progress lines, the SSE reader, error naming, log tailing, the local state file."""
import datetime
import io
import json
import os
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings, strategies as st

from loraplane import local_state
from loraplane.adapter_files import Progress, required_encryption
from loraplane.cli import main, parser
from loraplane.cli_errors import NotFound
from loraplane.cli_parsers import InvalidAdapterName, InvalidSince, adapter_name, parse_since
from loraplane.invoke import body_of, explain, sse_texts, text_of
from loraplane.logs import Tail, follow

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.timezone.utc)
NOW_MS = int(NOW.timestamp() * 1000)


# -- --since ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, back_s", [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1w", 604800),
                                          ("1h30m", 5400), (" 5M ", 300), ("0s", 0)])
def test_since_durations(text, back_s):
    assert parse_since(text, NOW) == NOW_MS - back_s * 1000


@pytest.mark.parametrize("text, when", [("2026-11-30T11:00:00Z", "2026-11-30T11:00:00+00:00"),
                                        ("2026-11-30 11:00", "2026-11-30T11:00:00+00:00"),
                                        ("2026-11-30T13:00:00+02:00", "2026-11-30T11:00:00+00:00"),
                                        ("2026-11-29", "2026-11-29T00:00:00+00:00")])
def test_since_times(text, when):
    assert parse_since(text, NOW) == int(datetime.datetime.fromisoformat(when).timestamp() * 1000)


@pytest.mark.parametrize("text", ["", "10", "m", "10x", "-5m", "10 m", "1.5h", "yesterday", "2026-13-01", "1m-",
                                  "99999999w", "1000-01-01", "10m10"])
def test_since_refuses_with_a_named_error(text):
    with pytest.raises(InvalidSince) as e:
        parse_since(text, NOW)
    assert "--since" in str(e.value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_since_never_fails_otherwise(text):
    try:
        start = parse_since(text, NOW)
    except InvalidSince:
        return
    assert isinstance(start, int) and start >= NOW_MS - 3650 * 86400 * 1000


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 99), st.sampled_from("smhdw")), min_size=1, max_size=4))  # < 10 years
def test_since_sums_its_parts(parts):
    text = "".join(f"{n}{u}" for n, u in parts)
    seconds = sum(n * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[u] for n, u in parts)
    assert parse_since(text, NOW) == NOW_MS - seconds * 1000


def test_bad_since_is_a_usage_error_naming_it(capsys):
    with pytest.raises(SystemExit) as e:
        parser().parse_args(["logs", "--since", "soon"])
    assert e.value.code == 2 and "--since 'soon' is neither a duration" in capsys.readouterr().err


# -- names ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["a", "support-bot", "x" * 30, "0day"])
def test_adapter_names_ingest_accepts(name):
    assert adapter_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", "a-", "A", "a_b", "x" * 31, "a/b", "a\n"])
def test_adapter_names_ingest_refuses(name):
    with pytest.raises(InvalidAdapterName) as e:
        adapter_name(name)
    assert "must be 1-30 characters of [a-z0-9-]" in str(e.value)


def test_upload_refuses_a_bad_name_before_any_call(capsys):
    with pytest.raises(SystemExit) as e:
        parser().parse_args(["adapters", "upload", ".", "--adapter", "Bad_Name"])
    assert e.value.code == 2 and "adapter name 'Bad_Name' must be" in capsys.readouterr().err


def test_new_commands_show_their_defaults():
    out = subprocess.run([sys.executable, "-m", "loraplane.cli", "logs", "--help"], capture_output=True, text=True)
    assert "(default: 10m)" in out.stdout
    out = subprocess.run([sys.executable, "-m", "loraplane.cli", "invoke", "--help"], capture_output=True, text=True)
    assert "(default: 64)" in out.stdout


def test_invoke_without_a_prompt_is_a_usage_error(capsys):
    assert main(["invoke", "my-adapter"]) == 2
    assert capsys.readouterr().err.startswith("error: no prompt.")


# -- upload ---------------------------------------------------------------------------------------------
def test_progress_lines_without_a_terminal():
    out = io.StringIO()
    progress = Progress("s3://b/adapters/x/adapter_model.safetensors", 1000, stream=out)
    for _ in range(40):
        progress(25)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("25 / 1000  (2%)") and lines[-1].endswith("1000 / 1000  (100%)")
    assert len(lines) == 11  # one per 10%


class FakeS3:
    def __init__(self, policy: dict | None):
        self.policy = policy

    def get_bucket_policy(self, Bucket):
        if self.policy is None:
            raise ClientError({"Error": {"Code": "NoSuchBucketPolicy"}}, "GetBucketPolicy")
        return {"Policy": json.dumps(self.policy)}

    def get_bucket_encryption(self, Bucket):
        return {"ServerSideEncryptionConfiguration": {"Rules": [{"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "arn:aws:kms:us-east-1:1:key/k"}}]}}


def test_sse_kms_only_when_the_bucket_policy_demands_it():
    tls_only = {"Statement": [{"Effect": "Deny", "Action": "s3:*",
                               "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    assert required_encryption(FakeS3(None), "b") == {} and required_encryption(FakeS3(tls_only), "b") == {}
    demanding = {"Statement": [{"Effect": "Deny", "Action": "s3:PutObject", "Condition": {
        "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}}]}
    assert required_encryption(FakeS3(demanding), "b") == {"ServerSideEncryption": "aws:kms",
                                                          "SSEKMSKeyId": "arn:aws:kms:us-east-1:1:key/k"}


# -- invoke ---------------------------------------------------------------------------------------------
def test_sse_text_across_and_within_parts():
    events = [b'data: {"choices": [{"text": "Hel"}]}\n\nda', b'ta: {"choices": [{"text": "lo"}]}\n\n',
              b'data: {"choices": [{"delta": {"content": "!"}}]}\n\ndata: [DONE]\n\n',
              b'data: {"choices": [{"text": "x"}]}\n']
    assert "".join(sse_texts(events)) == "Hello!"


def test_bodies_and_answers():
    assert body_of("hi", False, 8, False) == {"inputs": "hi", "parameters": {"max_new_tokens": 8}}
    assert body_of("hi", True, 8, True)["messages"] == [{"role": "user", "content": "hi"}]
    assert text_of([{"generated_text": "a"}]) == "a" and text_of({"choices": [{"message": {"content": "b"}}]}) == "b"


def test_invoke_errors_name_the_adapter():
    missing = ClientError({"Error": {"Code": "ValidationError", "Message": "Inference Component bot-1234 not found "
                                     "for endpoint e of account 1."}}, "InvokeEndpoint")
    err = explain(missing, "bot", "e")
    assert isinstance(err, NotFound) and "adapter bot is not live on endpoint e" in err.what
    gone = ClientError({"Error": {"Code": "ModelError", "Message": "..."}, "OriginalStatusCode": 404}, "InvokeEndpoint")
    assert isinstance(explain(gone, "bot", "e"), NotFound)
    other = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "InvokeEndpoint")
    assert explain(other, "bot", "e") is other


# -- logs -----------------------------------------------------------------------------------------------
class FakeLogs:
    class exceptions:
        class ResourceNotFoundException(Exception):
            pass

    def __init__(self, events: dict[str, list[dict]]):
        self.events = events

    def filter_log_events(self, logGroupName, startTime, limit, nextToken=None, filterPattern=None):
        if logGroupName not in self.events:
            raise self.exceptions.ResourceNotFoundException(logGroupName)
        found = [e for e in self.events[logGroupName] if e["timestamp"] >= startTime]
        begin = int(nextToken or 0)
        page = found[begin:begin + 2]  # small pages: the paging is exercised
        return {"events": page, **({"nextToken": str(begin + 2)} if begin + 2 < len(found) else {})}


def test_tail_merges_by_time_pages_and_reports_each_event_once():
    a = [{"eventId": f"a{i}", "timestamp": 10 + i * 2, "message": f"a{i}"} for i in range(5)]
    b = [{"eventId": f"b{i}", "timestamp": 11 + i * 2, "message": f"b{i}"} for i in range(3)]
    logs = FakeLogs({"/g/a": a, "/g/b": b})
    warned = []
    tail = Tail(logs, ["/g/a", "/g/b", "/g/missing"], 0, warn=warned.append)
    assert [e["message"] for e in tail.poll()] == ["a0", "b0", "a1", "b1", "a2", "b2", "a3", "a4"]
    assert tail.poll() == [] and warned == ["no log group /g/missing (yet)"]
    a.append({"eventId": "a5", "timestamp": 18, "message": "same ms as a4"})
    emitted = []
    assert follow(tail, emitted.append, interval=0, polls=2, sleep=lambda _: None) == 1
    assert [e["message"] for e in emitted] == ["same ms as a4"]


# -- local up state -------------------------------------------------------------------------------------
def test_local_state_file_round_trip_and_stale_pid(tmp_path, monkeypatch):
    monkeypatch.setenv("LORAPLANE_HOME", str(tmp_path))
    assert local_state.read() is None and local_state.running() is None
    proc = subprocess.Popen([sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(30)", "local",
                             "up"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"  # exec'd: its command line is `... local up`
        env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_DEFAULT_REGION": "us-east-1"}
        local_state.write({"pid": proc.pid, "port": 4566, "env": env})
        assert local_state.running()["env"] == env
        assert local_state.exports(env) == ("export AWS_ENDPOINT_URL=http://127.0.0.1:4566\n"
                                            "export AWS_DEFAULT_REGION=us-east-1")
        local_state.remove(pid=proc.pid + 1)  # not its file: stays
        assert local_state.read() is not None
        assert local_state.stop(proc.pid, wait=10) is True
        proc.wait(5)
        assert local_state.running() is None and not os.path.exists(local_state.state_path())  # stale: removed
    finally:
        proc.kill()
        proc.wait()


def test_local_state_refuses_a_reused_pid(tmp_path, monkeypatch):
    monkeypatch.setenv("LORAPLANE_HOME", str(tmp_path))
    local_state.write({"pid": os.getpid(), "env": {}})  # alive, but not `local up`
    assert local_state.running() is None


def test_local_env_and_down_without_a_stack(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LORAPLANE_HOME", str(tmp_path))
    assert main(["local", "env"]) == 3 and "no local stack is running" in capsys.readouterr().err
    assert main(["local", "down"]) == 0 and "No local stack is running" in capsys.readouterr().err
