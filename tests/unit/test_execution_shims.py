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
