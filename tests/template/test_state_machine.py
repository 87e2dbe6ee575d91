"""The ingest ASL: every task retries and is caught, every path ends, substitutions all defined."""
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ASL = json.loads((REPO / "statemachines" / "ingest.asl.json").read_text())


def successors(state: dict) -> set[str]:
    nxt = {state["Next"]} if "Next" in state else set()
    nxt |= {c["Next"] for c in state.get("Choices", [])} | ({state["Default"]} if "Default" in state else set())
    return nxt | {c["Next"] for c in state.get("Catch", [])}


def test_every_task_has_retry_and_catch_all():
    for name, state in ASL["States"].items():
        if state["Type"] == "Task":
            assert state.get("Retry"), name
            assert any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])), name
            assert state.get("TimeoutSeconds"), name


def test_all_states_reachable_and_terminal_paths_exist():
    seen, todo = set(), [ASL["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += successors(ASL["States"][name])
    assert seen == set(ASL["States"])
    assert {"Registered", "UploadRejected", "IngestFailed"} <= seen
    assert ASL["States"]["IngestFailed"]["Type"] == "Fail"


def test_failure_path_records_then_notifies():
    for name, state in ASL["States"].items():
        if state["Type"] == "Task" and name not in ("RecordFailure", "NotifyFailure"):
            assert state["Catch"][0]["Next"] == "RecordFailure", name
    assert ASL["States"]["RecordFailure"]["Next"] == "NotifyFailure"


def test_substitutions_are_all_defined_in_the_template(sam_template):
    placeholders = set(re.findall(r"\$\{(\w+)\}", json.dumps(ASL)))
    defined = set(sam_template["Resources"]["IngestStateMachine"]["Properties"]["DefinitionSubstitutions"])
    assert placeholders == defined


DEPLOY = json.loads((REPO / "statemachines" / "deploy.asl.json").read_text())


def test_deploy_tasks_retry_and_every_failure_releases_the_lock_and_is_recorded():
    for name, state in DEPLOY["States"].items():
        if state["Type"] != "Task":
            continue
        assert state.get("Retry") and state.get("TimeoutSeconds"), name
        catches = [c for c in state.get("Catch", []) if "States.ALL" in c["ErrorEquals"]]
        assert catches, name
        if name not in ("DetectTransition", "ReleaseLockAfterFailure", "RecordFailure"):
            # after a rollback where there is one, every failure releases the lock, then records
            assert catches[0]["Next"] in ("ReleaseLockAfterFailure", "RollBackAdapter", "RollBackBase"), name
    assert DEPLOY["States"]["ReleaseLockAfterFailure"]["Next"] == "RecordFailure"
    assert DEPLOY["States"]["RecordFailure"]["Next"] == "DeploymentFailed"


def test_deploy_waits_are_loops_through_a_task_that_enforces_a_deadline():
    for name, state in DEPLOY["States"].items():
        if state["Type"] == "Wait":
            nxt = DEPLOY["States"][state["Next"]]
            assert nxt["Type"] == "Task", name  # the lock wait / status checks raise LockTimeout / DeploymentTimedOut


def test_deploy_states_all_reachable_and_substitutions_defined(sam_template):
    seen, todo = set(), [DEPLOY["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += successors(DEPLOY["States"][name])
    assert seen == set(DEPLOY["States"])
    placeholders = set(re.findall(r"\$\{(\w+)\}", json.dumps(DEPLOY)))
    assert placeholders == set(sam_template["Resources"]["DeployStateMachine"]["Properties"]["DefinitionSubstitutions"])
