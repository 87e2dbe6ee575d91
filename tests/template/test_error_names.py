"""Errors the state machines name are the classes of loraplane_core.errors, both ways: a name in an
ASL file that no class carries would never match (Step Functions matches the exception's class
name), and a class no state machine names is dead."""
import importlib
import inspect
import json
from pathlib import Path

from loraplane_core import errors

REPO = Path(__file__).resolve().parents[2]
MACHINES = sorted((REPO / "statemachines").glob("*.asl.json"))
BUILT_IN = ("States.", "Lambda.", "Sandbox.", "Runtime.")  # Step Functions' and Lambda's own names


def named_errors(states: dict) -> set[str]:
    names = set()
    for state in states.values():
        for rule in state.get("Retry", []) + state.get("Catch", []):
            names.update(rule["ErrorEquals"])
        if state["Type"] == "Fail":
            names.add(state["Error"])
        for branch in state.get("Branches", []):
            names |= named_errors(branch["States"])
        if "ItemProcessor" in state:
            names |= named_errors(state["ItemProcessor"]["States"])
    return {n for n in names if not n.startswith(BUILT_IN)}


def test_every_error_named_by_a_state_machine_is_a_class():
    named = set().union(*(named_errors(json.loads(m.read_text())["States"]) for m in MACHINES))
    defined = {name for name, obj in vars(errors).items() if inspect.isclass(obj) and issubclass(obj, Exception)}
    missing = named - defined - set(errors.THIRD_PARTY)
    assert not missing, f"named in statemachines/ but not defined in loraplane_core/errors.py: {missing}"
    unused = defined - named - {"StateMachineError"}
    assert not unused, f"defined in loraplane_core/errors.py but named by no state machine: {unused}"
    assert set(errors.THIRD_PARTY) <= named, "a THIRD_PARTY name no state machine names is dead"


def test_third_party_names_are_the_classes_their_library_raises():
    for name, module in errors.THIRD_PARTY.items():
        cls = getattr(importlib.import_module(module), name)
        assert inspect.isclass(cls) and issubclass(cls, Exception) and cls.__name__ == name


def test_every_task_retries_by_the_one_policy():
    """statemachines/retry-policy.json defines the Retry rules once; each Task uses them verbatim."""
    policy = json.loads((REPO / "statemachines" / "retry-policy.json").read_text())
    for machine in MACHINES:
        for name, state in json.loads(machine.read_text())["States"].items():
            if state["Type"] != "Task":
                continue
            own = policy["own_rules"].get(name, [])
            retried = [policy["throttled"], policy["transient"]]
            allowed = (own + retried + [policy["task_failed"]],
                       own + retried + [policy["deployment_failures"], policy["task_failed"]])
            assert state["Retry"] in allowed, f"{machine.name} {name}: Retry differs from statemachines/retry-policy.json"


def test_deployment_failures_are_never_retried():
    """A change that failed must not run again in the same execution (the policy says MaxAttempts 0)."""
    policy = json.loads((REPO / "statemachines" / "retry-policy.json").read_text())
    rule = policy["deployment_failures"]
    assert rule["MaxAttempts"] == 0
    assert set(rule["ErrorEquals"]) == errors.DEPLOYMENT_FAILURE_NAMES | {"LockTimeout", "LockLost"}
