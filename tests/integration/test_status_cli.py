"""`loraplane status` and `loraplane adapters approve|reject` against the session's stack: a decision by
adapter name reaches the registry and the endpoint, and status shows the result; unknown names and
versions are one line and exit 3; failures and dead letters show up in status."""
import json
import uuid

import pytest

from loraplane.cli import main
from loraplane.waiting import wait_until
from loraplane_core.deployment import versions as deployments
from tests.stack_fixture import STACK

ADAPTER = "cli-decided"


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--stack-name", STACK])
    out = capsys.readouterr()
    return code, out.out, out.err


def status_json(capsys) -> dict:
    code, out, _ = cli(capsys, "status", "--output", "json")
    assert code == 0
    return json.loads(out)


@pytest.fixture(scope="module")
def registered(stack, adapter_cache) -> dict:
    """A version of ADAPTER, registered (PendingManualApproval)."""
    stack.upload(adapter_cache(seed=51), ADAPTER)
    item = stack.wait_for_item(ADAPTER, "version#", timeout=90)
    stack.wait_idle()
    return item


def wait_state(stack, item: dict, state: str, timeout: float = 400) -> None:
    wait_until(lambda: (deployments.find_item(stack.table, ADAPTER, item["package_arn"]) or {}).get("state") == state,
               timeout=timeout, interval=1, what=f"{ADAPTER} to be {state}")


def test_unknown_adapter_or_version_is_one_line_and_exit_3(stack, registered, capsys):
    code, out, err = cli(capsys, "adapters", "approve", "no-such-adapter")
    assert code == 3 and out == "" and err.count("\n") == 1
    assert err.startswith("error: no adapter no-such-adapter in stack loraplane-test.") and "adapters list" in err
    code, _, err = cli(capsys, "adapters", "reject", ADAPTER, "--version", "9999")
    version = int(registered["package_version"])
    assert code == 3 and err.count("\n") == 1 and f"has no version 9999 (its versions: {version})" in err


def test_approve_then_reject_by_name_and_status_follows(stack, registered, capsys):
    arn, version = registered["package_arn"], int(registered["package_version"])
    code, out, _ = cli(capsys, "adapters", "approve", ADAPTER, "--output", "json")
    assert code == 0 and json.loads(out) == {"adapter": ADAPTER, "version": version, "package_arn": arn,
                                             "previous_status": "PendingManualApproval",
                                             "approval_status": "Approved", "changed": True}
    assert stack.sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Approved"
    code, out, _ = cli(capsys, "adapters", "approve", ADAPTER, "--version", str(version))
    assert code == 0 and "already Approved" in out and arn in out

    wait_state(stack, registered, "live")
    report = status_json(capsys)
    assert report["stack"]["name"] == STACK and report["stack"]["status"].endswith("_COMPLETE")
    assert report["serving_mode"] == "inference-components"
    endpoint = report["endpoint"]
    assert endpoint["status"] in ("InService", "Updating") and endpoint["variants"], endpoint
    assert report["base_model"]["name"] == "tiny-llama" and report["base_model"]["deployed"] is True
    [live] = [a for a in report["adapters"]["live"] if a["name"] == ADAPTER]
    assert live["version"] == version and live["sha256"] == registered["sha256"]
    assert live["invoke"]["EndpointName"] == stack.outputs["EndpointName"] and live["invoke"]["InferenceComponentName"]
    assert isinstance(report["lock"]["held"], bool) and isinstance(report["lock"]["queued"], int)
    assert set(report["executions"]) >= {"ingest", "deploy"}
    assert {"ingest", "deploy"} == set(report["dead_letters"])
    assert isinstance(report["failures"]["recent"], list)
    code, table, _ = cli(capsys, "status")
    assert code == 0 and "unavailable" not in table
    assert any(line.startswith("endpoint") and stack.outputs["EndpointName"] in line for line in table.splitlines())
    assert f"{ADAPTER}  v{version}" in table and "tiny-llama: version" in table

    code, out, _ = cli(capsys, "adapters", "reject", ADAPTER, "--reason", "answers badly")
    assert code == 0 and out.startswith(f"Rejected adapter {ADAPTER} version {version} (was Approved).") and arn in out
    described = stack.sm.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Rejected" and described["ApprovalDescription"] == "answers badly"
    wait_state(stack, registered, "retired", timeout=240)
    assert ADAPTER not in [a["name"] for a in status_json(capsys)["adapters"]["live"]]
    code, out, _ = cli(capsys, "adapters", "reject", ADAPTER, "--output", "json")
    assert code == 0 and json.loads(out)["changed"] is False


def test_status_shows_dead_letters_and_failures_with_their_reason(stack, capsys):
    url = stack.outputs["DeployDeadLetterQueueUrl"]
    message_id = stack.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"detail": {}}))["MessageId"]
    name = f"status-{uuid.uuid4().hex[:8]}"
    arn = stack.sfn.start_execution(stateMachineArn=stack.machine, name=name, input=json.dumps({"nonsense": 1}))
    try:
        wait_until(lambda: stack.sfn.describe_execution(executionArn=arn["executionArn"])["status"] != "RUNNING",
                   timeout=120, interval=1, what="the nonsense ingest to end")
        report = status_json(capsys)
        assert report["dead_letters"]["deploy"]["messages"] + report["dead_letters"]["deploy"]["in_flight"] >= 1
        [failure] = [f for f in report["failures"]["recent"] if f["name"] == name]
        assert failure["machine"] == "ingest" and failure["status"] == "FAILED"
        # The failed task's error, not the Fail state's generic one.
        assert failure["error"] and failure["error"] != "IngestFailed", failure
        code, table, _ = cli(capsys, "status", "--failures", "3")
        assert code == 0 and name in table and "loraplane redrive" in table
    finally:
        def drained() -> bool:
            for m in stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                if m["MessageId"] == message_id:
                    stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                    return True
            return False

        wait_until(drained, timeout=30, interval=0.5, what="the test's dead letter to be deleted")


@pytest.fixture
def older_stack(emulator):
    """A stack deployed from an 'older template': one resource, one output, none of what the commands read."""
    cfn = emulator.client("cloudformation")
    name = f"older-{uuid.uuid4().hex[:8]}"
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {"EndpointName": {"Value": "older-endpoint"}}}
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    wait_until(lambda: cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE",
               timeout=60, what=f"{name} to be created")
    yield name
    cfn.delete_stack(StackName=name)


@pytest.mark.parametrize("argv, missing", [
    (["adapters", "list"], "output CatalogTableName"),
    (["reconcile", "--output", "json"], "output ReconcileFunctionName"),
    (["redrive"], "output IngestDeadLetterQueueUrl"),
    (["project", "delete"], "parameter SageMakerProjectName"),
])
def test_a_stack_from_an_older_template_is_one_line_naming_the_output(older_stack, argv, missing, capsys):
    code = main([*argv, "--stack-name", older_stack])
    out, err = capsys.readouterr()
    assert code == 3 and out == "" and err.count("\n") == 1, err
    assert err.startswith(f"error: stack {older_stack} has no {missing} (deployed from an older template).")
    assert "Update the stack: sam deploy" in err
