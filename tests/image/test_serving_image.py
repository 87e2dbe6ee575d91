"""The serving image without Docker: its Dockerfile is hadolint-clean, and replaying its COPY lines
into an empty folder and its `pip install --no-deps .` into a fresh venv gives a package whose vLLM
plugin loads and whose `serve --help` runs, with neither the control plane's CLI, the emulator nor
training/ inside. The engine's libraries (what the base image has) come from the test venv."""
import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from loraplane.image.dockerfile import DOCKERFILE, REPO, context_files, copies, install_dir

BIN = Path(sys.executable).parent


def under(root: Path, path: PurePosixPath) -> Path:
    return root / str(path).lstrip("/")


def test_hadolint_clean():
    result = subprocess.run([str(BIN / "hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_build_context_is_the_serving_code_only():
    names = [str(p.relative_to(REPO)) for p in context_files()]
    assert "gpu_container/Dockerfile" in names and "gpu_container/pyproject.toml" in names
    assert not [n for n in names if n.startswith(("src/", "training/", "tests/", "functions/"))], names


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> tuple[Path, Path]:
    """(root, venv): the image's files replayed from its COPY lines, and the Python it installed into."""
    tmp = tmp_path_factory.mktemp("image")
    root, venv = tmp / "root", tmp / "venv"
    for copy in copies():
        for source, target in copy.targets():
            dest = under(root, target)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if (REPO / source).is_dir():
                shutil.copytree(REPO / source, dest, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(REPO / source, dest)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # The base image's libraries (vLLM, torch, pydantic, boto3, setuptools): the test venv's, as a
    # plain path entry, so its own .pth files (this repo's editable install among them) stay unread.
    packages = next((venv / "lib").glob("python3*/site-packages"))
    (packages / "base_image.pth").write_text(site.getsitepackages()[0] + "\n")
    result = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "."],
                            cwd=under(root, install_dir()), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return root, venv


def python(venv: Path, code: str) -> dict:
    """Runs code in the image's Python (isolated: no PYTHONPATH, no working-folder imports); its JSON."""
    result = subprocess.run([str(venv / "bin" / "python"), "-I", "-c", code], capture_output=True, text=True,
                            timeout=300, cwd=venv)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_plugin_entry_point_loads_from_the_installed_package(image):
    _, venv = image
    found = python(venv, """
import json, sys
from importlib.metadata import distribution
eps = [ep for ep in distribution("loraplane-serving").entry_points if ep.group == "vllm.general_plugins"]
register = eps[0].load()
print(json.dumps({"names": [ep.name for ep in eps], "module": sys.modules[register.__module__].__file__}))
""")
    assert found["names"] == ["loraplane"]
    assert found["module"].startswith(str(venv)), "the plugin must come from the image's install, not the repo"


def test_serving_imports_nothing_from_the_control_plane_or_training(image):
    _, venv = image
    loaded = python(venv, """
import json, pkgutil, importlib, sys
import loraplane_serving
for m in pkgutil.walk_packages(loraplane_serving.__path__, "loraplane_serving."):
    importlib.import_module(m.name)
print(json.dumps(sorted({n.split(".")[0] for n in sys.modules})))
""")
    assert {"loraplane_serving", "loraplane_core"} <= set(loaded)
    assert "loraplane" not in loaded and "loraplane_training" not in loaded


def test_image_holds_no_cli_emulator_or_training(image):
    root, venv = image
    packages = next((venv / "lib").glob("python3*/site-packages"))
    installed = {p.name for p in packages.iterdir()}
    assert {"loraplane_serving", "loraplane_core"} <= installed
    assert not installed & {"loraplane", "loraplane_training"}
    assert not list(root.rglob("emulator")) and not list(root.rglob("loraplane_training"))


def test_serve_help_runs(image):
    root, venv = image
    serve = next(under(root, t) for c in copies() for s, t in c.targets() if s == "gpu_container/serve")
    assert serve == under(root, PurePosixPath("/usr/local/bin/serve"))
    env = {"PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "HOME": str(root)}
    result = subprocess.run(["sh", str(serve), "--help"], capture_output=True, text=True, timeout=300,
                            env=env, cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "usage: serve" in result.stdout and "SAGEMAKER_BIND_TO_PORT" in result.stdout
