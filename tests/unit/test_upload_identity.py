"""Which config a version is registered with (issue: new weights registered with the old config):
a multi-file upload that is still landing is validated once it settled, and identical weights that
come with another config are a named rejection, not a silent duplicate."""
import datetime

from loraplane_core.adapters.s3_upload import SETTLE_SECONDS, settling
from loraplane_core.adapters.validation import config_digest
from loraplane_core.ingest.payloads import ValidationResult
from loraplane_core.ingest.validate import duplicate_or_conflict

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.timezone.utc)


def files(*ages: float) -> dict[str, dict]:
    return {f"f{i}": {"size": 1, "etag": "e", "modified": NOW - datetime.timedelta(seconds=a)} for i, a in enumerate(ages)}


def test_an_upload_with_a_file_changed_just_now_is_settling():
    assert settling(files(60, 1), ["f0", "f1"], NOW)  # the weights landed a second ago
    assert not settling(files(60, SETTLE_SECONDS + 1), ["f0", "f1"], NOW)
    assert not settling({"f0": {"size": 1, "etag": "e"}}, ["f0"], NOW)  # no time listed: nothing to wait for


def test_the_same_config_saved_twice_has_one_digest():
    assert config_digest(b'{"r": 8, "lora_alpha": 16}') == config_digest(b'{\n  "lora_alpha": 16,\n  "r": 8\n}')
    assert config_digest(b'{"r": 8, "lora_alpha": 16}') != config_digest(b'{"r": 8, "lora_alpha": 32}')


def test_identical_weights_with_another_config_are_a_named_rejection():
    valid = ValidationResult(outcome="valid", adapter_name="bot", sha256="a" * 64, config_sha256="c1")
    assert duplicate_or_conflict(valid, {"config_sha256": "c1"}).outcome == "duplicate"
    assert duplicate_or_conflict(valid, {}).outcome == "duplicate"  # registered before configs were hashed
    conflict = duplicate_or_conflict(valid, {"config_sha256": "c0", "package_version": 3})
    assert conflict.outcome == "rejected" and conflict.reason == "CONFIG_CONFLICT" and "version 3" in conflict.message
