"""The target_modules matcher against Python's `re`: for every pattern it accepts it decides
exactly what re.fullmatch (PEFT) decides; every other pattern is refused, never run."""
import re
import time

from hypothesis import event, given
from hypothesis import strategies as st

from loraplane_core.adapters.target_regex import UnsafePattern, compile_target_regex

from .ingest_fuzz import FUZZ, SECONDS_PER_CASE

ALPHABET = "aq_.1\n"  # short texts over a few characters make matches and near misses likely
atoms = st.sampled_from(["a", "q", "_", r"\.", ".", r"\d", r"\w", r"\W", r"\s", r"\D", "[aq]", "[^a]", "[a-q]",
                         "[^.\\d]", "[_\\w]", "1", r"\n", "\\\\"])
quantifiers = st.sampled_from(["", "", "*", "+", "?", "*?", "+?", "??", "{2}", "{0,3}", "{1,}", "{,2}", "{0}", "{3,1000}"])
anchors = st.sampled_from(["^", "$", r"\A", r"\Z", r"\b", r"\B"])


def patterns():
    """A grammar of the supported subset, with enough nesting to reach every code path."""
    piece = st.one_of(st.tuples(atoms, quantifiers).map("".join), anchors)
    return st.recursive(
        st.lists(piece, min_size=1, max_size=4).map("".join),
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map("|".join),
            st.tuples(st.sampled_from(["(", "(?:", "(?P<g>"]), inner, st.sampled_from([")", ")?", ")??", "){0}", "){1}", "){0,1}"])).map("".join),
            st.lists(inner, min_size=2, max_size=3).map("".join),
        ), max_leaves=6)


@FUZZ
@given(pattern=patterns(), texts=st.lists(st.text(alphabet=ALPHABET, max_size=10), min_size=1, max_size=8))
def test_supported_patterns_match_like_re(pattern, texts):
    try:
        matcher = compile_target_regex(pattern)
    except UnsafePattern:  # e.g. a named group used twice; never a crash
        event("refused")
        return
    event("compiled")
    for text in texts:
        assert matcher.fullmatch(text) == bool(re.fullmatch(pattern, text)), (pattern, text)


# Anything at all: metacharacters, backreferences, lookarounds, flags, absurd repeats.
ANY_PATTERN = st.one_of(
    st.text(alphabet="a.()[]{}|*+?^$\\-1,:=!<>Pbdwsiq_", max_size=24),
    st.text(max_size=12),
    st.lists(st.sampled_from(["(a|a)*", "(a+)+", r"(x)\1", "(?=a)", "(?<!a)", "(?i)", "(?>a)", "a*+", "(?(1)a|b)",
                              "{99999999999999999999}", "[[:alpha:]]", r"\p{L}", "a{3,2}", ".*" * 20]),
             min_size=1, max_size=4).map("".join),
)


@FUZZ
@given(pattern=ANY_PATTERN, text=st.text(alphabet=ALPHABET, max_size=40))
def test_any_pattern_is_refused_or_linear(pattern, text):
    started = time.perf_counter()
    try:
        matcher = compile_target_regex(pattern)
    except UnsafePattern as e:
        assert str(e)
        event("refused")
        return
    event("compiled")
    result = matcher.fullmatch(text * 10)  # long enough to hang any backtracking the check let through
    assert isinstance(result, bool)
    assert time.perf_counter() - started < SECONDS_PER_CASE
