"""What a project's teardown may delete: its own names, never a neighbour's that starts the same."""
from hypothesis import given
from hypothesis import strategies as st
from loraplane_core.endpoint_names import base_model_name, components_config, owned_by


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
        assert not (owned_by(a, model) and owned_by(b, model) and len(model) < 63)
