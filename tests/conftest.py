"""Shared fixtures: a tiny base model and real PEFT adapters, built once per test session."""
import os
import shutil

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no Hub here: everything is built from configs

from loraplane.dev.tiny import build_tiny_adapter, build_tiny_model
from loraplane_core.adapters.base_profile import BaseModelProfile

BASE_NAME = "tiny-llama"


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory) -> str:
    return build_tiny_model(str(tmp_path_factory.mktemp("models") / BASE_NAME))


@pytest.fixture(scope="session")
def base_profile(tiny_base_dir) -> BaseModelProfile:
    return BaseModelProfile.from_config_file(BASE_NAME, os.path.join(tiny_base_dir, "config.json"))


@pytest.fixture(scope="session")
def adapter_cache(tmp_path_factory, tiny_base_dir):
    """Adapters built by PEFT, cached per parameters; tests get their own copy to modify."""
    root = tmp_path_factory.mktemp("adapters-cache")
    built: dict[tuple, str] = {}

    def get(seed: int = 0, rank: int = 8, targets: tuple[str, ...] = ("q_proj", "v_proj")) -> str:
        key = (seed, rank, targets)
        if key not in built:
            built[key] = build_tiny_adapter(tiny_base_dir, str(root / f"a-{seed}-{rank}-{'-'.join(targets)}"),
                                            seed=seed, rank=rank, target_modules=targets)
        return built[key]

    return get


@pytest.fixture
def make_adapter(adapter_cache, tmp_path):
    counter = iter(range(1000))

    def make(**kwargs) -> str:
        dest = tmp_path / f"adapter-{next(counter)}"
        shutil.copytree(adapter_cache(**kwargs), dest)
        return str(dest)

    return make


@pytest.fixture(autouse=True, scope="module")
def serving_processes_end_with_their_module():
    """Every serving process a test module started is gone when the module ends, its whole process
    group included; only the session stack's endpoint serves on (its fixture is session-wide)."""
    import sys

    hosting = sys.modules.get("loraplane.emulator.hosting")
    before = set(hosting.manager().started) if hosting else set()
    yield
    hosting = sys.modules.get("loraplane.emulator.hosting")
    if hosting is None:
        return
    from tests.stack_fixture import SESSION_ENDPOINTS

    left = [c for c in hosting.manager().started if c not in before and c.group_alive()
            and not any(c.label.startswith(f"{e}-") for e in SESSION_ENDPOINTS)]
    assert not left, "serving processes outlived their test module: " + ", ".join(
        f"{c.label} (pid {c.proc.pid}, log {c.log_path})" for c in left)


# The emulated stack (started once per session, only by tests that ask for it).
from tests.stack_fixture import emulator, notifications, stack  # noqa: E402,F401
