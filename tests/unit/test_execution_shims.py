"""The emulator's Step Functions shims that are pure rules (the wiring runs in every integration test)."""
from hypothesis import given
from hypothesis import strategies as st

from loraplane.emulator.shims.execution_reuse import reusable
from loraplane.emulator.shims.sfn_lambda_errors import error_name


def test_definitions_with_map_or_parallel_states_are_parsed_per_execution():
    assert reusable('{"StartAt": "A", "States": {"A": {"Type": "Task", "End": true}}}')
    assert not reusable('{"StartAt": "A", "States": {"A": {"Type": "Map", "End": true}}}')
    assert not reusable('{"StartAt": "A", "States": {"A": {"Type": "Parallel", "End": true}}}')


def test_the_stacks_state_machines_are_reusable():
    from pathlib import Path

    for path in (Path(__file__).parents[2] / "statemachines").glob("*.asl.json"):
        assert reusable(path.read_text()), path.name


def test_lambda_service_errors_get_awss_prefix_once():
    assert error_name("TooManyRequestsException") == "Lambda.TooManyRequestsException"
    assert error_name("Lambda.ServiceException") == "Lambda.ServiceException"


@given(st.text(min_size=1, max_size=60))
def test_every_code_maps_to_one_lambda_error(code):
    name = error_name(code)
    assert name.startswith("Lambda.") and error_name(name) == name


def test_a_shared_program_has_every_heap_key_drawn_before_any_execution_uses_it():
    """The retriers' attempt counts live under their component's heap key: drawn lazily, two executions
    sharing the program could draw two. The cached program has them all already."""
    from pathlib import Path

    from moto.stepfunctions.parser.asl.component.common.retry.max_attempts_decl import MaxAttemptsDecl
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    from loraplane.emulator.shims.execution_reuse import _parsed, components

    import re

    definition = re.sub(r"\$\{\w+\}", "arn:aws:lambda:us-east-1:123456789012:function:f",
                        (Path(__file__).parents[2] / "statemachines" / "ingest.asl.json").read_text())
    found = [c for c in components(_parsed(definition)) if isinstance(c, EvalComponent)]
    assert any(isinstance(c, MaxAttemptsDecl) for c in found)
    assert all(c._EvalComponent__heap_key is not None for c in found)
