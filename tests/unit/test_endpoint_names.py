"""What a project's teardown may delete: its own names, never a neighbour's that starts the same."""
import re

from hypothesis import given
from hypothesis import strategies as st
from loraplane_core.endpoint_names import async_config, base_model_name, components_config, owned_by


def test_a_project_owns_its_models_and_config_only():
    assert owned_by("ml-p-aaa", base_model_name("ml-p-aaa", 7)) and owned_by("ml-p-aaa", components_config("ml-p-aaa"))
    for neighbour in ("ml-p-aaa-p-bbb", "ml-p-aaa-base", "ml-p-aaa-x"):  # projects whose prefix starts with ours
        assert not owned_by("ml-p-aaa", base_model_name(neighbour, 7))
        assert not owned_by("ml-p-aaa", components_config(neighbour))
    assert not owned_by("ml-p-aaa", "ml-p-aaa-base-7-old") and not owned_by("ml-p-aaa", "ml-p-aaa-base-7\n")


name = st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True)


@given(name, name, st.integers(1, 99_999))
def test_no_two_prefixes_own_the_same_model(a, b, version):
    if a != b:
        model = base_model_name(b, version)
        assert not (owned_by(a, model) and owned_by(b, model))


# -- names that fit SageMaker's 63 characters ---------------------------------------------------------------
RULE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # models, endpoint configs (CreateModel, API reference)
project = st.from_regex(r"[a-zA-Z](-?[a-zA-Z0-9]){0,31}", fullmatch=True).filter(lambda n: len(n) <= 32)
project_id = st.from_regex(r"[a-z0-9](-?[a-z0-9]){0,19}", fullmatch=True).filter(lambda n: len(n) <= 20)
prefixes = st.builds(lambda n, i: f"{n}-{i}", project, project_id)
LONGEST = "p" + "-a" * 15 + "b" + "-p-" + "x" * 18  # 32 + 1 + 20 characters
versions = st.integers(1, 1_200_000)


def test_long_names_of_distinct_versions_stay_distinct():
    assert len(LONGEST) == 53
    # cut to 63 characters, versions 10000 and 1000 were one name
    names = {make(LONGEST, v) for make in (base_model_name, async_config) for v in (1000, 10000, 10001, 99999)}
    assert len(names) == 8 and all(len(n) <= 63 and RULE.match(n) for n in names)
    assert base_model_name(LONGEST, 9999).endswith("-base-9999")
    assert base_model_name(LONGEST, 10000).endswith("-base-a000")
    assert base_model_name("ml-p-aaa", 10000) == "ml-p-aaa-base-10000"  # short names are as they were


@given(st.tuples(prefixes, versions), st.tuples(prefixes, versions))
def test_names_match_sagemakers_rule_and_distinct_inputs_give_distinct_names(a, b):
    for make in (base_model_name, async_config):
        name_a, name_b = make(*a), make(*b)
        assert RULE.match(name_a) and len(name_a) <= 63
        assert (name_a == name_b) == (a == b)
        assert owned_by(a[0], name_a)  # teardown still finds it
    assert base_model_name(*a) != async_config(*b)
