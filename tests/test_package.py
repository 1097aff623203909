"""The bnn package imports without Streamlit (the core knows nothing of the UI), and installs
(``pip install .``) as the package ``bnn`` with a ``bnn`` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from conftest import fresh_python


@pytest.mark.slow  # a fresh process imports torch
def test_core_imports_without_streamlit():
    code = (
        "import bnn, bnn.training.loop, bnn.jobs.training_job, bnn.jobs.run_folders, bnn.config.presets; "
        "import bnn.cli, bnn.api, sys; "
        "assert 'streamlit' not in sys.modules, 'streamlit was imported'; print('ok')"
    )
    assert fresh_python(code) == "ok"


@pytest.mark.slow  # a fresh process imports torch
def test_training_from_the_command_line_imports_no_compiler():
    """`python -m bnn train` (every torchrun process too) loads neither numba nor LLVM: only an export or a
    pack does. (Each process that imports bnn.xnor also checks the kernel cache's sources.)"""
    code = "import bnn.cli, sys; print(sorted(m for m in ('numba', 'llvmlite', 'bnn.xnor') if m in sys.modules))"
    assert fresh_python(code) == "[]"


ROOT = Path(__file__).resolve().parents[1]


def pins(lines: list[str]) -> dict[str, str]:
    """``name==version`` lines by lower-case name (underscores as dashes)."""
    found = {}
    for line in lines:
        name, _, version = line.strip().partition("==")
        if version and not name.startswith("#"):
            found[name.lower().replace("_", "-")] = version
    return found


def test_the_package_pins_what_requirements_txt_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = pins((ROOT / "requirements.txt").read_text().splitlines())
    for name, version in pins(project["dependencies"] + project["optional-dependencies"]["notebook"]).items():
        assert required.get(name) == version, (
            f"pyproject.toml pins {name}=={version}, requirements.txt {required.get(name)}"
        )
    assert project["scripts"] == {"bnn": "bnn.cli:main"}


@pytest.mark.slow  # builds a wheel
def test_the_wheel_holds_every_module_of_bnn_and_the_bnn_command(tmp_path):
    source = tmp_path / "source"  # a copy: building leaves bnn_playground.egg-info/ and build/ beside the sources
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "__pycache__", "tests", "assets", "docs"))
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    subprocess.run([*build, str(source)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("bnn_playground-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {path.relative_to(source).as_posix() for path in (source / "bnn").rglob("*.py")}
    assert modules <= names and not any(name.startswith(("tests/", "ui/", "app_pages/")) for name in names)
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "bnn = bnn.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow  # a fresh process imports torch
def test_an_installed_bnn_imports_from_any_folder_and_has_its_command(tmp_path):
    elsewhere = {"cwd": tmp_path, "env": {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}}
    installed = [sys.executable, "-c", "import importlib.metadata as m; m.distribution('bnn-playground')"]
    if subprocess.run(installed, capture_output=True, **elsewhere).returncode:
        pytest.skip("bnn-playground is not installed in this environment (the README's commands install it)")
    code = "import bnn, bnn.api; print(bnn.api.__file__)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, **elsewhere)
    assert found.stdout.strip().endswith(os.path.join("bnn", "api", "__init__.py"))
    command = Path(sys.executable).with_name("bnn")
    shown = subprocess.run([str(command), "--help"], capture_output=True, text=True, check=True, **elsewhere)
    assert shown.stdout.startswith("usage: bnn") and "train" in shown.stdout and "study" in shown.stdout
