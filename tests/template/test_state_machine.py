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
