"""The stack's default per-adapter rate limits reach the control plane's settings (and from there the
serving container's environment: tests/unit/test_limits.py)."""
from loraplane_core.adapters.rate_limits import MAX_RPS, MAX_TPM


def test_rate_limit_parameters_default_to_unlimited_and_reach_every_function(sam_template):
    params = sam_template["Parameters"]
    for name, top in (("AdapterRequestsPerSecond", MAX_RPS), ("AdapterTokensPerMinute", MAX_TPM)):
        p = params[name]
        assert p["Type"] == "Number" and int(p["Default"]) == 0 and int(p["MinValue"]) == 0
        assert int(p["MaxValue"]) == top  # the parser's range: a value the stack accepts never stops a Lambda
    env = sam_template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["ADAPTER_RPS"] == {"Ref": "AdapterRequestsPerSecond"}
    assert env["ADAPTER_TPM"] == {"Ref": "AdapterTokensPerMinute"}
