"""training_metadata.json comes from the upload: a file that would blow up Validate's output (it
travels in the state machine, 256 KB at most) is left out, never passed on."""
import json

from loraplane_core.ingest.training_metadata import MAX_METRIC_NAME, TrainingMetadata
from pydantic import ValidationError

SHA = "a" * 64


def parses(doc: dict) -> bool:
    try:
        TrainingMetadata.model_validate(json.loads(json.dumps(doc)))
        return True
    except ValidationError:
        return False


def test_metric_names_and_counts_are_bounded():
    assert parses({"sha256": SHA, "metrics": {"training_loss": 0.5}})
    assert not parses({"sha256": SHA, "metrics": {"x" * 250_000: 0.5}})  # was accepted: 250 KB into the payload
    assert not parses({"sha256": SHA, "metrics": {"x" * (MAX_METRIC_NAME + 1): 0.5}})
    assert not parses({"sha256": SHA, "metrics": {f"m{i}": 1.0 for i in range(257)}})
    assert not parses({"sha256": SHA + "\n"})
