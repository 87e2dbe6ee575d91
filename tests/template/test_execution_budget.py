"""Bounds the state machines keep at the stack parameters' maxima: an execution's history stays
well under Step Functions' 25,000 events, and Register retries a concurrent duplicate for longer
than the first attempt's in-progress record can live."""
import json
import math

from loraplane_core.deployment import steps

from .conftest import REPO

HISTORY_LIMIT = 25_000  # Step Functions standard workflows: events per execution
EVENTS = {"Task": 5, "Choice": 2, "Wait": 2}  # entered, (scheduled, started,) succeeded, exited
DEPLOY = json.loads((REPO / "statemachines" / "deploy.asl.json").read_text())["States"]
MAX_ADAPTER_WAIT_S = 1800  # deployment.steps.MAX_ADAPTER_WAIT_SECONDS
ADAPTER_POLL_S = 20  # deployment.steps.ADAPTER_POLL_SECONDS
BASE_POLL_S = 40  # deployment.steps.BASE_POLL_SECONDS


def parameter(sam_template: dict, name: str, field: str = "MaxValue") -> int:
    return int(sam_template["Parameters"][name][field])


def loop_events(wait: str) -> int:
    """Events of one round of a polling loop: Wait -> Task -> Choice -> (Default) back to the Wait."""
    task = DEPLOY[DEPLOY[wait]["Next"]]
    choice = DEPLOY[task["Next"]]
    assert task["Type"] == "Task" and choice["Type"] == "Choice" and choice["Default"] == wait, wait
    return EVENTS["Wait"] + EVENTS["Task"] + EVENTS["Choice"]


def test_the_longest_deployment_stays_far_below_the_history_limit(sam_template):
    deadline = parameter(sam_template, "DeploymentTimeoutSeconds")
    lock_wait = int(sam_template["Resources"]["EndpointLockFunction"]["Properties"]["Environment"]["Variables"]
                    ["LOCK_WAIT_SECONDS"])
    rounds = {
        "WaitForEndpointLock": lock_wait / DEPLOY["WaitForEndpointLock"]["Seconds"],
        "WaitForAdapter": min(deadline, MAX_ADAPTER_WAIT_S) / (DEPLOY["WaitForAdapter"]["Seconds"] + ADAPTER_POLL_S),
        "WaitForBase": deadline / (DEPLOY["WaitForBase"]["Seconds"] + BASE_POLL_S),
        "WaitForBaseRollback": deadline / (DEPLOY["WaitForBaseRollback"]["Seconds"] + BASE_POLL_S),
    }
    assert set(rounds) == {n for n, s in DEPLOY.items() if s["Type"] == "Wait"}, "a new polling loop: bound it here"
    loops = sum(math.ceil(r) * loop_events(wait) for wait, r in rounds.items())
    straight = sum(EVENTS.get(s["Type"], 2) for s in DEPLOY.values())  # every other state once
    assert loops + straight < HISTORY_LIMIT / 2, f"{loops + straight} events at the parameters' maxima"
    assert (steps.ADAPTER_POLL_SECONDS, steps.BASE_POLL_SECONDS) == (ADAPTER_POLL_S, BASE_POLL_S)


def test_register_retries_a_duplicate_in_progress_for_longer_than_a_lambda_can_run(sam_template):
    """Powertools keeps the in-progress record until the first attempt's Lambda would time out;
    a concurrent duplicate that gives up earlier would be recorded as "ingest failed"."""
    function = sam_template["Resources"]["RegisterAdapterFunction"]["Properties"]
    timeout = int(function.get("Timeout", sam_template["Globals"]["Function"]["Timeout"]))
    policy = json.loads((REPO / "statemachines" / "retry-policy.json").read_text())
    [rule] = policy["own_rules"]["Register"]
    window = sum(rule["IntervalSeconds"] * rule["BackoffRate"] ** i for i in range(rule["MaxAttempts"]))
    assert window > 1.5 * timeout, f"retries span {window:.0f} s; the in-progress record lives {timeout} s"
