import pytest

from loraplane_core.adapters.upload_layout import check_adapter_name, is_relevant_file, parse_upload_key
from loraplane_core.adapters.reasons import AdapterRejected, Reason


@pytest.mark.parametrize("name", ["a", "support-bot", "x" * 30, "a1-b2", "0day"])
def test_valid_names(name):
    check_adapter_name(name)


@pytest.mark.parametrize("name", ["", "-a", "a-", "A", "a_b", "x" * 31, "a.b", "é"])
def test_invalid_names(name):
    with pytest.raises(AdapterRejected) as e:
        check_adapter_name(name)
    assert e.value.reason == Reason.INVALID_ADAPTER_NAME


def test_upload_keys():
    assert parse_upload_key("adapters/bot/adapter_config.json").adapter_name == "bot"
    assert parse_upload_key("adapters/bot/sub/adapter_config.json") is None
    assert parse_upload_key("artifacts/bot/x") is None
    assert parse_upload_key("adapters/bot/") is None
    assert is_relevant_file("adapter.tar.gz") and is_relevant_file("model.ckpt") and not is_relevant_file("README.md")
