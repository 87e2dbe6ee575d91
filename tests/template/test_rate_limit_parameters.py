"""The stack's default per-adapter rate limits reach the control plane's settings (and from there the
serving container's environment: tests/unit/test_limits.py), and every value the stack's parameters
accept is one the Lambdas' settings accept: a value CloudFormation lets through never stops a Lambda."""
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loraplane_core.adapters.rate_limits import LimitRejected, MAX_RPS, MAX_TPM, parse_rps, parse_tpm

PARSERS = {"AdapterRequestsPerSecond": parse_rps, "AdapterTokensPerMinute": parse_tpm}


def test_rate_limit_parameters_default_to_unlimited_and_reach_every_function(sam_template):
    for name, parse in PARSERS.items():
        p = sam_template["Parameters"][name]
        assert p["Type"] == "String" and parse(p["Default"]) == 0
    env = sam_template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["ADAPTER_RPS"] == {"Ref": "AdapterRequestsPerSecond"}
    assert env["ADAPTER_TPM"] == {"Ref": "AdapterTokensPerMinute"}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_value_the_stack_accepts_parses(sam_template, name):
    pattern = sam_template["Parameters"][name]["AllowedPattern"]

    @settings(max_examples=300, deadline=None)
    @given(st.from_regex(pattern, fullmatch=True))
    def accepted_values_parse(text):
        PARSERS[name](text)  # raises LimitRejected if the stack let through what the Lambdas refuse

    accepted_values_parse()


@pytest.mark.parametrize("name,refused", [
    ("AdapterRequestsPerSecond", ["1e3", "1.1234567", "-1", "100000.5", "100001", " 1", ""]),
    ("AdapterTokensPerMinute", ["6000.5", "1e3", "-1", "1000000001", "10000000000", ""]),
])
def test_the_stack_refuses_what_the_settings_would(sam_template, name, refused):
    pattern = re.compile(sam_template["Parameters"][name]["AllowedPattern"])
    for text in refused:
        assert not pattern.fullmatch(text), text
    assert MAX_RPS == 100_000 and MAX_TPM == 1_000_000_000  # the patterns spell these out
    with pytest.raises(LimitRejected):
        PARSERS[name]("1e3")
