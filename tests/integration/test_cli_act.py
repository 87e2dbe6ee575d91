"""`loraplane adapters validate|upload`, `invoke` and `logs` against the session's stack: ingest's reasons offline,
an upload that ingest registers (and one refused before any byte is sent), the base model answering through the
endpoint (plain, streamed, JSON), an adapter that is not live named in a one-line error, and the stack's logs."""
import json
import time

import pytest

from loraplane.cli import main
from loraplane.waiting import wait_until
from loraplane_core.deployment import versions as deployments
from tests.stack_fixture import STACK

UPLOADED = "cli-uploaded"


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_validate_offline_with_ingest_reasons(adapter_cache, tiny_base_dir, capsys):
    ok = adapter_cache(seed=61)
    code, out, _ = cli(capsys, "adapters", "validate", ok, "--base-model-dir", tiny_base_dir, "--output", "json")
    result = json.loads(out)
    assert code == 0 and result["valid"] and result["base_model"] == "tiny-llama" and result["rank"] == 8
    assert result["target_modules"] == ["q_proj", "v_proj"] and len(result["sha256"]) == 64
    code, out, _ = cli(capsys, "adapters", "validate", ok, "--base-model-dir", tiny_base_dir)
    assert code == 0 and out.startswith("valid     base tiny-llama, rank 8")

    big = adapter_cache(seed=62, rank=32)
    code, out, _ = cli(capsys, "adapters", "validate", big, "--base-model-dir", tiny_base_dir, "--max-lora-rank", "16",
                       "--output", "json")
    assert code == 1 and json.loads(out)["reason"] == "RANK_TOO_HIGH"
    code, out, _ = cli(capsys, "adapters", "validate", ok, "--base-model-dir", tiny_base_dir,
                       "--base-model-name", "other-base")
    assert code == 1 and out.startswith("rejected  BASE_MODEL_MISMATCH: adapter was trained on 'tiny-llama'")
    code, _, err = cli(capsys, "adapters", "validate", ok, "--base-model-dir", ok)  # an adapter is no base model
    assert code == 2 and err.startswith("error: no config.json in")


def test_upload_is_registered_and_an_invalid_one_never_leaves(stack, adapter_cache, capsys):
    code, out, err = cli(capsys, "adapters", "upload", adapter_cache(seed=63), "--adapter", UPLOADED,
                         "--stack-name", STACK, "--output", "json")
    assert code == 0, err
    done = json.loads(out)
    assert done["source"] == f"s3://{stack.bucket}/adapters/{UPLOADED}/"
    assert sorted(f["key"].rsplit("/", 1)[1] for f in done["files"]) == ["adapter_config.json",
                                                                         "adapter_model.safetensors"]
    assert "(100%)" in err and "loraplane adapters list" in err and "valid     base tiny-llama" in err
    item = stack.wait_for_item(UPLOADED, "version#", timeout=90)
    assert item["source"] == done["source"]

    code, out, err = cli(capsys, "adapters", "upload", adapter_cache(seed=64, rank=32), "--adapter", "cli-too-big",
                         "--stack-name", STACK)
    assert code == 1 and out == "" and err.count("\n") == 1 and "RANK_TOO_HIGH" in err and "--no-validate" in err
    assert stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix="adapters/cli-too-big/")["KeyCount"] == 0


@pytest.fixture(scope="module")
def base_live(stack):
    """The session's base model deployed (the other endpoint tests may have waited for it already)."""
    wait_until(lambda: deployments.deployed_base(stack.table, stack.outputs["EndpointName"]), timeout=600, interval=2,
               what="the base model deployment")


def test_invoke_the_base_model_plain_streamed_and_json(stack, base_live, capsys):
    code, out, err = cli(capsys, "invoke", "base", "Hello, who are you?", "--max-tokens", "8", "--stack-name", STACK)
    assert code == 0 and out.strip() and "base via" in err, err
    code, streamed, _ = cli(capsys, "invoke", "--base", "Hello, who are you?", "--max-tokens", "8", "--stream",
                            "--stack-name", STACK)
    assert code == 0 and streamed.strip()
    code, out, _ = cli(capsys, "invoke", "base", "Hello", "--max-tokens", "4", "--output", "json",
                       "--stack-name", STACK)
    answer = json.loads(out)
    assert code == 0 and answer["adapter"] == "base" and isinstance(answer["text"], str)
    assert answer["invoke"]["EndpointName"] == stack.outputs["EndpointName"]
    assert answer["invoke"]["InferenceComponentName"].endswith("-base")


def test_invoke_with_a_body_of_ones_own(stack, base_live, capsys):
    body = json.dumps({"inputs": "Hello", "parameters": {"max_new_tokens": 4}})
    code, out, err = cli(capsys, "invoke", "base", "--body", body, "--output", "json", "--stack-name", STACK)
    assert code == 0, err
    answer = json.loads(out)  # stdout: the JSON alone
    assert answer["adapter"] == "base" and isinstance(answer["text"], str) and "response" in answer


def test_register_base_reports_progress_on_stderr_and_json_alone_on_stdout(stack, tiny_base_dir, capsys):
    name = f"cli-base-{int(time.time() * 1000) % 10**8}"  # not approved: the endpoint keeps its base model
    code, out, err = cli(capsys, "models", "register-base", "--base-model-dir", tiny_base_dir, "--base-model-name",
                         name, "--stack-name", STACK, "--output", "json")
    assert code == 0, err
    registered = json.loads(out)
    assert registered["base_model"] == name and registered["approved"] is False
    package = stack.sm.describe_model_package(ModelPackageName=registered["model_package_arn"])
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    lines = err.splitlines()
    assert any(" Hashing " in line for line in lines) and any(line.startswith("Hashing ") for line in lines)
    assert any(line.startswith(f"Uploading to s3://{stack.bucket}/base-models/{name}/") and line.endswith("(100%)")
               for line in lines), err
    assert any(f"Registering {name}" in line for line in lines)


def test_invoking_an_adapter_that_is_not_live_is_one_line_and_exit_3(stack, base_live, capsys):
    code, out, err = cli(capsys, "invoke", "no-such-adapter", "Hello", "--stack-name", STACK)
    assert code == 3 and out == "" and err.count("\n") == 1
    assert err.startswith(f"error: adapter no-such-adapter is not live on endpoint {stack.outputs['EndpointName']}.")


def test_logs_of_a_function_and_refusals(stack, capsys):
    logs = stack.emulator.client("logs")
    prefix = stack.outputs["EndpointName"].removesuffix("-endpoint")
    group = f"/aws/lambda/{prefix}-validate"
    logs.create_log_stream(logGroupName=group, logStreamName="cli-test")
    logs.put_log_events(logGroupName=group, logStreamName="cli-test",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "hello from validate"}])
    code, out, _ = cli(capsys, "logs", "--function", "validate", "--since", "5m", "--output", "json",
                       "--stack-name", STACK)
    events = [json.loads(line) for line in out.splitlines()]
    [ours] = [e for e in events if e["message"] == "hello from validate"]
    assert code == 0 and ours["group"] == group and ours["stream"] == "cli-test"
    code, out, _ = cli(capsys, "logs", "--since", "5m", "--stack-name", STACK)  # every function, and the endpoint
    assert code == 0 and any(line.split()[1:] == ["validate", "hello", "from", "validate"] for line in out.splitlines())
    code, _, err = cli(capsys, "logs", "--function", "nope", "--stack-name", STACK)
    assert code == 3 and "no function nope in the stack" in err and "validate" in err
