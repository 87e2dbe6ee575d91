"""The user's path: the real `aws` CLI and the `loraplane` command against the local stack."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from loraplane.emulator.local_aws import free_port
from loraplane.waiting import wait_until

BIN = Path(sys.executable).parent


def cli(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})
    if check:
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def test_aws_cli_upload_then_list_model_packages(stack, make_adapter):
    env = {"LORAPLANE_STACK": "loraplane-test"}
    cli(str(BIN / "aws"), "s3", "cp", "--recursive", make_adapter(seed=41), f"s3://{stack.bucket}/adapters/cli-bot/")
    group = stack.outputs["AdapterModelPackageGroupName"]

    def listed():
        out = json.loads(cli(str(BIN / "aws"), "sagemaker", "list-model-packages", "--model-package-group-name", group).stdout)
        return [p for p in out["ModelPackageSummaryList"]
                if json.loads(cli(str(BIN / "aws"), "sagemaker", "describe-model-package", "--model-package-name",
                                  p["ModelPackageArn"]).stdout)["CustomerMetadataProperties"]["adapter_name"] == "cli-bot"]

    assert len(wait_until(listed, timeout=60, interval=1, what="cli-bot's model package")) == 1
    stack.wait_idle()
    adapters = json.loads(cli(str(BIN / "loraplane"), "adapters", "list", "--output", "json",
                              env=env).stdout)["adapters"]
    [bot] = [a for a in adapters if a["name"] == "cli-bot"]
    assert [v["approval_status"] for v in bot["versions"]] == ["PendingManualApproval"]
    table = cli(str(BIN / "loraplane"), "adapters", "list", env=env).stdout
    assert "cli-bot" in table and "registered" in table


def test_adapters_list_shows_rejection_reasons(stack, make_adapter):
    stack.upload(make_adapter(rank=32), "cli-rejected")
    stack.wait_for_item("cli-rejected", "rejection#")
    out = json.loads(cli(str(BIN / "loraplane"), "adapters", "list", "--output", "json",
                         env={"LORAPLANE_STACK": "loraplane-test"}).stdout)
    [entry] = [a for a in out["adapters"] if a["name"] == "cli-rejected"]
    assert entry["versions"] == [] and entry["rejections"][0]["reason"] == "RANK_TOO_HIGH"


def test_local_up_serves_the_stack_to_the_aws_cli(tmp_path, make_adapter):
    """`loraplane local up` in the foreground: prints the environment; the aws CLI uploads an
    adapter, approves it and invokes the endpoint, answered by the real serving process; boto3
    streams; SIGTERM stops everything, serving processes included."""
    port = free_port()
    proc = subprocess.Popen([str(BIN / "loraplane"), "local", "up", "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "LORAPLANE_HOME": str(tmp_path)})
    aws = str(BIN / "aws")
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "".join(lines)
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        printed = "".join(lines)
        env = dict(line.removeprefix("export ").strip().split("=", 1) for line in lines if line.startswith("export "))
        assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}" and env["AWS_DEFAULT_REGION"]
        stacks = json.loads(cli(aws, "cloudformation", "describe-stacks", env=env).stdout)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0]["Outputs"]}
        cli(aws, "s3", "cp", "--recursive", make_adapter(seed=42),
            f"s3://{outputs['AdapterBucketName']}/adapters/my-adapter/", env=env)

        def packages():
            return json.loads(cli(aws, "sagemaker", "list-model-packages", "--model-package-group-name",
                                  outputs["AdapterModelPackageGroupName"], env=env).stdout)["ModelPackageSummaryList"]

        [package] = wait_until(packages, timeout=60, interval=1, what="the model package")
        endpoint = outputs["EndpointName"]

        def in_service():
            out = cli(aws, "sagemaker", "describe-endpoint", "--endpoint-name", endpoint, env=env, check=False)
            return out.returncode == 0 and json.loads(out.stdout)["EndpointStatus"] == "InService"

        wait_until(in_service, timeout=300, interval=2, what="the endpoint")
        cli(aws, "sagemaker", "update-model-package", "--model-package-arn", package["ModelPackageArn"],
            "--model-approval-status", "Approved", env=env)

        def live():
            listed = json.loads(cli(str(BIN / "loraplane"), "adapters", "list", "--output", "json",
                                    env=env).stdout)["adapters"]
            return next((a["invoke"] for a in listed if a["name"] == "my-adapter" and "invoke" in a), None)

        invoke = wait_until(live, timeout=300, interval=2, what="my-adapter to be live")
        assert invoke["EndpointName"] == endpoint and invoke["InferenceComponentName"].startswith("my-adapter-")
        body = json.dumps({"inputs": "Hello", "parameters": {"max_new_tokens": 8}})
        cli(aws, "sagemaker-runtime", "invoke-endpoint", "--endpoint-name", endpoint, "--inference-component-name",
            invoke["InferenceComponentName"], "--content-type", "application/json", "--body", body,
            str(tmp_path / "answer.json"), env=env)  # AWS CLI v1 sends a text --body as is
        answer = json.loads((tmp_path / "answer.json").read_text())
        assert isinstance(answer[0]["generated_text"], str)

        import boto3

        runtime = boto3.client("sagemaker-runtime", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"],
                               aws_access_key_id="testing", aws_secret_access_key="testing")
        stream = runtime.invoke_endpoint_with_response_stream(
            EndpointName=endpoint, InferenceComponentName=invoke["InferenceComponentName"], ContentType="application/json",
            Body=json.dumps({"prompt": "Hello", "max_tokens": 8, "temperature": 0, "stream": True}))
        chunks = b"".join(e["PayloadPart"]["Bytes"] for e in stream["Body"] if "PayloadPart" in e)
        assert b"data:" in chunks and b"[DONE]" in chunks, printed
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    # The serving processes went with it.
    assert serving_processes_under(str(tmp_path)) == []


def serving_processes_under(home: str) -> list[int]:
    """Pids of `loraplane serve --sagemaker` processes whose model lies under `home`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--sagemaker" in cmdline and any(e.startswith(b"SM_MODEL_DIR=" + home.encode()) for e in environ):
            found.append(int(pid))
    return found


def test_local_up_detached_then_env_and_down(tmp_path):
    """`local up --detach` returns once the stack is deployed, with eval-able exports; `local env` prints the
    same; `local down` stops it and removes its state file. No base model: no serving process to wait for."""
    port, home = free_port(), {"LORAPLANE_HOME": str(tmp_path)}
    loraplane = str(BIN / "loraplane")
    started = cli(loraplane, "local", "up", "--detach", "--port", str(port), "--no-base-model", env=home)
    state = json.loads((tmp_path / "local.json").read_text())
    try:
        exports = [line for line in started.stdout.splitlines() if line]
        assert all(line.startswith("export ") for line in exports), started.stdout
        env = dict(line.removeprefix("export ").split("=", 1) for line in exports)
        assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}" and env["LORAPLANE_STACK"] == "loraplane-local"
        assert "local down" in started.stderr
        # the background process's progress, forwarded from its log: stdout keeps the exports alone
        assert "] Deploying template.yaml as stack loraplane-local" in started.stderr, started.stderr
        assert cli(loraplane, "local", "env", env=home).stdout.splitlines() == exports
        status = json.loads(cli(loraplane, "status", "--output", "json", env=env).stdout)
        assert status["stack"]["status"].endswith("_COMPLETE")
        again = cli(loraplane, "local", "up", "--detach", "--port", str(free_port()), env=home, check=False)
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        down = cli(loraplane, "local", "down", env=home, check=False)
    assert down.returncode == 0 and "Stopped the local stack" in down.stderr, down.stderr
    from loraplane.local_state import alive

    assert not (tmp_path / "local.json").exists() and not alive(state["pid"])  # a zombie counts as gone
    assert cli(loraplane, "local", "env", env=home, check=False).returncode == 3
