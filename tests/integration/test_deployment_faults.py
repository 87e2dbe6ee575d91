"""Deployments under injected faults (loraplane.emulator.shims.faults): AWS throttles, a Lambda
crashes, SageMaker refuses. Transient faults are ridden out by the SDK's and the state machine's
retries; a refusal ends in a rollback with the previous version still serving, a notification, and
the endpoint lock released - nothing lost, nothing stuck."""
import pytest

from loraplane.emulator.shims import faults
from loraplane.waiting import wait_until
from loraplane_core.catalog_keys import lock_key
from tests.integration.test_deployment import (  # noqa: F401
    answers, decide, endpoint, make_live, upload_version, version_state, wait_state,
)


@pytest.fixture(autouse=True)
def no_faults_left():
    yield
    faults.clear()


def lock_free(stack) -> bool:
    return "Item" not in stack.table.get_item(Key=lock_key(stack.outputs["EndpointName"]), ConsistentRead=True)


def test_throttling_and_a_crashed_lambda_do_not_stop_a_deployment(stack, endpoint, make_adapter):
    throttled = faults.fail_call("sagemaker", "DescribeModelPackage", "ThrottlingException", times=3)
    crashed = faults.fail_lambda("-adapter", "crash", times=1)  # the first DeployAdapter invocation
    make_live(stack, make_adapter(seed=41), "weathered")
    assert throttled.failed == 3 and crashed.failed == 1
    assert answers(stack, "weathered")
    wait_until(lambda: lock_free(stack), timeout=60, what="the endpoint lock to be released")


def test_a_refused_change_rolls_back_notifies_and_releases_the_lock(stack, endpoint, make_adapter, notifications):
    v1 = make_live(stack, make_adapter(seed=42), "refused")
    v2 = upload_version(stack, make_adapter(seed=43), "refused")
    refusal = faults.fail_call("sagemaker", "UpdateInferenceComponent", "AccessDeniedException", times=-1)
    decide(stack, v2, "Approved")
    note = wait_until(lambda: next((n for n in notifications() if n["message"].get("event") == "deployment.failed"
                                    and n["message"].get("package_arn") == v2["package_arn"]), None),
                      timeout=300, interval=2, what="the deployment.failed notification")
    faults.clear()
    assert refusal.failed >= 1 and "AccessDenied" in (note["message"]["cause"] or "") + note["message"]["error"]
    assert version_state(stack, "refused", v1["package_arn"]) == "live"  # v1 never stopped serving
    assert version_state(stack, "refused", v2["package_arn"]) == "registered"  # not the version's fault: may retry
    assert answers(stack, "refused")
    wait_until(lambda: lock_free(stack), timeout=60, what="the endpoint lock to be released")
    decide(stack, v2, "Rejected")  # leave no drift behind for other tests' reconciler runs
    wait_state(stack, "refused", v2, "rejected")
