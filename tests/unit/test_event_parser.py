"""The handlers' event parser (loraplane_core/event_parser.py) does what Powertools' parser decorator
did: a str event is parsed as JSON, anything else validated as is, and an event that does not fit is
pydantic's ValidationError (the errorType the state machines see), never another exception. The
EventBridge envelope of package events reads as Powertools' EventBridgeModel did."""
import json
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.parser import parse as powertools_parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from loraplane_core.deployment.payloads import AcquireLock, LockRequest, ReleaseLock
from loraplane_core.event_parser import event_parser
from loraplane_core.package_events import parse_event

EVENT = json.loads((Path(__file__).parents[1] / "events" / "sagemaker-model-package-state-change.json").read_text())


@event_parser(model=LockRequest)
def handler(request, context):
    return request, context


def test_a_dict_or_a_json_string_becomes_the_model():
    assert handler({"action": "acquire", "owner": "x"}, "ctx") == (AcquireLock(action="acquire", owner="x"), "ctx")
    assert handler('{"action": "release", "owner": "y"}', None)[0] == ReleaseLock(action="release", owner="y")


@pytest.mark.parametrize("event", [{}, {"action": "steal", "owner": "x"}, {"action": "acquire"}, "not json", "[]",
                                   None, 7, ["acquire"]])
def test_an_event_that_does_not_fit_is_a_validation_error(event):
    with pytest.raises(ValidationError):
        handler(event, None)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(event=st.one_of(JSON, JSON.map(json.dumps), st.text(max_size=20),
                       st.fixed_dictionaries({"action": st.sampled_from(["acquire", "release"])}, optional={
                           "owner": JSON, "started_at": JSON})))
def test_any_event_is_the_model_or_a_validation_error(event):
    try:
        request, _ = handler(event, None)
    except ValidationError:
        return
    assert isinstance(request, (AcquireLock, ReleaseLock))


def test_the_package_event_envelope_reads_as_powertools_eventbridge_model():
    ours, theirs = parse_event(EVENT), powertools_parse(event=EVENT, model=EventBridgeModel)
    for field in ("version", "id", "source", "account", "time", "region", "resources", "detail_type", "replay_name"):
        assert getattr(ours, field) == getattr(theirs, field), field
    assert ours.detail.ModelPackageArn == EVENT["detail"]["ModelPackageArn"]
    with pytest.raises(ValidationError):
        parse_event({k: v for k, v in EVENT.items() if k != "detail-type"})
