"""The one definition of "the latest approved base", as a pure decision: no moto."""
from hypothesis import given
from hypothesis import strategies as st

from loraplane_core.approved_bases import BaseCandidate, pick_latest


def c(arn: str, version: int, at: str, failed: bool = False) -> BaseCandidate:
    return BaseCandidate(arn, version, at, failed)


def test_latest_approval_wins_over_a_higher_version():
    assert pick_latest([c("v2", 2, "2026-01-01T00:00:00+00:00"), c("v1", 1, "2026-02-01T00:00:00+00:00")]).package_arn == "v1"


def test_same_second_ties_go_to_the_higher_version():
    at = "2026-01-01T00:00:00+00:00"
    assert pick_latest([c("v1", 1, at), c("v3", 3, at), c("v2", 2, at)]).package_arn == "v3"


def test_failed_and_excluded_packages_never_win():
    later = "2026-03-01T00:00:00+00:00"
    cands = [c("old", 1, "2026-01-01T00:00:00+00:00"), c("broken", 2, later, failed=True), c("rejected", 3, later)]
    assert pick_latest(cands, excluding="rejected").package_arn == "old"
    assert pick_latest([c("broken", 2, later, failed=True)]) is None and pick_latest([]) is None


candidates = st.lists(st.builds(BaseCandidate, st.sampled_from(["a", "b", "c", "d"]), st.integers(1, 9),
                                st.sampled_from(["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"]),
                                st.booleans()), max_size=8)


@given(candidates, st.sampled_from(["", "a", "b"]))
def test_the_choice_is_eligible_and_no_eligible_one_beats_it(cands, excluding):
    chosen = pick_latest(cands, excluding)
    eligible = [x for x in cands if not x.deploy_failed and x.package_arn != excluding]
    if not eligible:
        assert chosen is None
        return
    assert chosen in eligible
    assert all((x.approved_at, x.version) <= (chosen.approved_at, chosen.version) for x in eligible)
    assert pick_latest(list(reversed(cands)), excluding).version == chosen.version  # order of listing is irrelevant
