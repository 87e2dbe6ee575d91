"""The CLI's error lines and exit codes (no traceback for what the user can fix), `--version`, the
emulator's port check, and the status table's rendering of sections it could not read."""
import socket
from importlib.metadata import version

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from loraplane import cli_errors, status
from loraplane.cli import main
from loraplane.cli_errors import CREDENTIALS, FAILURE, NETWORK, NOT_FOUND, NotFound, explain
from loraplane.emulator.local_aws import PortInUse, ensure_port_free
from loraplane.emulator.server import Emulator


def client_error(code: str, message: str, op: str = "DescribeStacks") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, op)


@pytest.mark.parametrize("exc, code, words", [
    (NoCredentialsError(), CREDENTIALS, ["credentials", "aws configure"]),
    (NoRegionError(), CREDENTIALS, ["region", "AWS_DEFAULT_REGION"]),
    (client_error("ExpiredToken", "The security token included in the request is expired"), CREDENTIALS, ["expired"]),
    (EndpointConnectionError(endpoint_url="http://127.0.0.1:4566/"), NETWORK,
     ["http://127.0.0.1:4566", "loraplane local up"]),
    (EndpointConnectionError(endpoint_url="https://sagemaker.us-east-1.amazonaws.com/"), NETWORK,
     ["cannot reach https://sagemaker.us-east-1.amazonaws.com", "network"]),
    (client_error("ValidationError", "Stack with id my-stack does not exist"), NOT_FOUND,
     ["no stack my-stack", "--stack-name"]),
    (client_error("AccessDeniedException", "not authorized: sagemaker:ListModelPackages", "ListModelPackages"),
     FAILURE, ["ListModelPackages", "permission"]),
    (client_error("ThrottlingException", "Rate exceeded"), FAILURE, ["DescribeStacks failed", "Rate exceeded"]),
    (NotFound("no adapter x in stack s", "See `loraplane adapters list`"), NOT_FOUND,
     ["no adapter x", "adapters list"]),
    (PortInUse("127.0.0.1", 4566), NETWORK, ["port 4566", "--port", "LocalStack"]),
])
def test_errors_the_user_can_fix_become_one_line(exc, code, words):
    got, text = explain(exc)
    assert got == code and text.startswith("error: ") and "\n" not in text and text.endswith(".")
    for w in words:
        assert w in text, text


def test_bugs_keep_their_traceback(capsys):
    assert explain(RuntimeError("boom")) is None and explain(KeyError("x")) is None

    def broken(_):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cli_errors.run(broken, None)
    assert cli_errors.run(lambda _: 2, None) == 2  # a handler's own exit code is kept


def test_main_without_region_prints_one_line(monkeypatch, capsys, tmp_path):
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    assert main(["status", "--stack-name", "s"]) == CREDENTIALS
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: no AWS region configured.")


def test_main_with_a_missing_stack_exits_3(in_process_aws, monkeypatch, capsys):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for argv in (["status"], ["adapters", "approve", "bot"], ["adapters", "reject", "bot", "--reason", "bad"]):
        assert main([*argv, "--stack-name", f"missing-{in_process_aws}"]) == NOT_FOUND
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"no stack missing-{in_process_aws}" in err and "Traceback" not in err


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"loraplane {version('loraplane')}"


def test_a_taken_port_is_named_at_once():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse) as e:
            ensure_port_free("127.0.0.1", port)
        assert str(e.value) == f"port {port} on 127.0.0.1 is in use"
        with pytest.raises(PortInUse):  # before moto or any shim is started
            Emulator(port=port).start()
        code, text = explain(e.value)
        assert code == NETWORK and f"port {port}" in text and "--port" in text
    ensure_port_free("127.0.0.1", port)  # free again once closed


def test_status_table_shows_unreadable_sections_as_one_line():
    report = {"stack": {"name": "s", "status": "CREATE_COMPLETE", "reason": None}, "serving_mode": "on-demand",
              "endpoint": {"unavailable": "no endpoint s-endpoint yet (approving a base model package creates it)"},
              "base_model": {"unavailable": "DescribeModelPackage: AccessDenied: no"},
              "adapters": {"mode": "on-demand", "live": []}, "lock": {"held": False},
              "executions": {"ingest": [], "deploy": [{"name": "e1", "started": "t", "age_seconds": 75}]},
              "dead_letters": {"ingest": {"messages": 0, "in_flight": 0}, "deploy": {"messages": 2, "in_flight": 1}},
              "failures": {"recent": [{"machine": "deploy", "name": "e0", "status": "FAILED", "stopped": "t",
                                       "subject": "arn:pkg", "error": "States.TaskFailed", "cause": "it broke"}]}}
    table = status.render(report, "table").splitlines()
    assert table[0].split() == ["stack", "s:", "CREATE_COMPLETE"]
    assert any(line.startswith("endpoint") and "unavailable: no endpoint s-endpoint yet" in line for line in table)
    assert any(line.startswith("base model") and "unavailable: DescribeModelPackage" in line for line in table)
    assert any("deploy: 1 running: e1 (1m15s)" in line for line in table)
    assert any("deploy 2 (+1 in flight)" in line and "loraplane redrive" in line for line in table)
    assert any("States.TaskFailed: it broke" in line for line in table)
