import json
from pathlib import Path

from loraplane_core.ingest.payloads import RecordRequest, ValidationResult
from loraplane_core.ingest.notifications import message_for


def test_subjects_are_valid_for_sns_whatever_the_name():
    name = "evil\nname-" + "x" * 200
    event = json.loads((Path(__file__).parents[1] / "events" / "s3-object-created.json").read_text())
    req = RecordRequest(kind="rejected", event=event, validation=ValidationResult(
        outcome="rejected", adapter_name=name, reason="INVALID_ADAPTER_NAME", message="bad"))
    subject, body = message_for(req, name)
    assert len(subject) < 100 and all(32 <= ord(c) < 127 for c in subject)
    assert body["adapter_name"] == name and body["reason"] == "INVALID_ADAPTER_NAME"
