"""What every ingest parser owes any input, and the strategies the fuzz tests share.

An input ends in accept or in a named rejection (AdapterRejected with a Reason), with a short
printable message, within SECONDS_PER_CASE; any other exception, or a hang, fails the property.
`pytest --hypothesis-show-statistics` shows per test how many cases ran and how they ended.
"""
import os
import time
from datetime import timedelta

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

from loraplane_core.adapters.base_profile import BaseModelProfile
from loraplane_core.adapters.reasons import MAX_MESSAGE_CHARS, AdapterRejected, Reason

SECONDS_PER_CASE = 2.0  # generous on a loaded machine; a hang or a quadratic path blows it
EXAMPLES = int(os.environ.get("LORAPLANE_FUZZ_EXAMPLES", "300"))  # raise it for a longer campaign
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=SECONDS_PER_CASE),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ_SLOW = settings(FUZZ, max_examples=max(1, EXAMPLES // 2))  # cases that write files or gzip archives

BASE = BaseModelProfile.from_hf_config("tiny-llama", {
    "model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128,
    "num_hidden_layers": 2})
MODULES = sorted(BASE.linear_modules)


def verdict(fn, *args, **kwargs) -> str:
    """'accepted' or the rejection's reason; records it for the statistics."""
    started = time.perf_counter()
    try:
        fn(*args, **kwargs)
        outcome = "accepted"
    except AdapterRejected as e:
        assert isinstance(e.reason, Reason)
        assert 0 < len(e.message) <= MAX_MESSAGE_CHARS and e.message.isprintable(), e.message
        assert len(str(e)) <= MAX_MESSAGE_CHARS + 40
        outcome = str(e.reason)
    finally:
        assert time.perf_counter() - started < SECONDS_PER_CASE
    event(outcome)
    return outcome


# Text that reaches messages and regexes: control characters, escapes, astral characters, huge.
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("a._-/\\\n\r\t\x00\x1b\u202e{}[]()'\"%$"), max_size=40),
    st.integers(1, 300_000).map(lambda n: "x" * n),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=4), st.integers(1, 5000)),
)
big_ints = st.one_of(st.integers(), st.integers(0, 4000).map(lambda k: 10 ** k), st.just(-1), st.just(0))
json_scalars = st.one_of(st.none(), st.booleans(), big_ints, st.floats(allow_nan=True), hostile_text)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(hostile_text, inner, max_size=5)), max_leaves=20)

layer_numbers = st.one_of(st.integers(0, 3).map(str), st.sampled_from(["01", "-1", "9" * 5000, "1" * 7, "٣"]))
module_paths = st.one_of(
    st.builds(lambda layer, block, module: f"model.layers.{layer}.{block}.{module}", layer_numbers,
              st.sampled_from(["self_attn", "mlp", "x"]), st.sampled_from([*MODULES, "lm_head", "c_attn"])),
    st.builds(lambda prefix, module: f"{prefix}.{module}", hostile_text, st.sampled_from(MODULES)),
    hostile_text,
)
# PEFT-style target regexes, and fragments that need backtracking (refused, never run).
regex_fragments = st.sampled_from([
    ".*", ".+", r"\.", r"\d+", r"\w*", "[qkv]_proj", "[^.]+", "(q_proj|v_proj)", "(?:mlp|self_attn)", "?", "*?",
    "{1,3}", "^", "$", r"\Z", r"\b", "layers", "(a|a)*", r"(x)\1", "(?=q)", "(?i)", "(", ")", "[", "a++", "(?P<n>a)",
])
target_regexes = st.lists(regex_fragments, min_size=1, max_size=8).map("".join)
