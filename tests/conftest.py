"""Shared fixtures for the core tests (bnn.settings ... bnn.cli).

* ``mnist``: the real MNIST, loaded once per session from ``$BNN_DATA_DIR`` (skips when absent).
* ``tiny_data``: a synthetic :class:`~bnn.training.data.MnistData` of random tensors (no files needed).
* ``runs_dir``: an empty runs directory under ``tmp_path`` (also exported as ``$BNN_RUNS_DIR``).
* ``tiny_config`` / ``shrink``: small versions of the presets so that training tests take
  fractions of a second.

Torch is limited to one thread: the test machine has 2 cores shared with other jobs, and two
OpenMP threads fighting for a busy core are ~50x slower than one (measured: a 10-step run of
``fast`` shrunk to 64 units took 10 s with 2 threads, 0.2 s with 1).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported; inherited by subprocesses
os.environ.setdefault("MKL_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]

import pytest
import torch

from bnn.config.model_settings import LayerConfig, ModelConfig
from bnn.config.schema import RunConfig
from bnn.config.train_settings import TrainConfig
from bnn.training.data import ENV_VAR, DataError, MnistData, load_mnist

torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A browser test is a slow test too: ``pytest -m "not slow"`` leaves both out."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)


def shrink(config: RunConfig, units: int = 64) -> RunConfig:
    """``config`` with every hidden dense layer ``units`` wide (conv layers and output kept)."""
    layers = config.model.layers
    new = tuple(
        replace(layer, units=units) if layer.kind == "dense" and i < len(layers) - 1 else layer
        for i, layer in enumerate(layers)
    )
    return config.replace_model(layers=new)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    path = os.environ.get(ENV_VAR)
    if not path or not (Path(path) / "MNIST" / "raw").is_dir():
        pytest.skip(f"MNIST not available (set {ENV_VAR} to a directory holding MNIST/raw/)")
    return Path(path)


@pytest.fixture(scope="session")
def mnist(mnist_dir: Path) -> MnistData:
    """The real MNIST (60,000 + 10,000 images), loaded once; never downloads."""
    try:
        return load_mnist(mnist_dir, download=False)
    except DataError as exc:
        pytest.skip(f"MNIST not loadable: {exc}")


def make_tiny_data(
    n_train: int = 256, n_test: int = 64, shape=(1, 28, 28), classes: int = 10, seed: int = 0
) -> MnistData:
    g = torch.Generator().manual_seed(seed)
    return MnistData(
        torch.rand(n_train, *shape, generator=g),
        torch.randint(0, classes, (n_train,), generator=g),
        torch.rand(n_test, *shape, generator=g),
        torch.randint(0, classes, (n_test,), generator=g),
    )


@pytest.fixture
def tiny_data() -> MnistData:
    """256 training and 64 test 'images' of uniform noise with random labels 0..9."""
    return make_tiny_data()


@pytest.fixture
def tiny_config() -> RunConfig:
    """A 784-32-10 binarized MLP trained by Adam for 1 epoch in batches of 32."""
    model = ModelConfig(layers=(LayerConfig(32), LayerConfig(10, binarize_activations=False)))
    return RunConfig(model, TrainConfig(batch_size=32, epochs=1, lr=1e-2, lr_end=1e-3))


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    monkeypatch.setenv("BNN_RUNS_DIR", str(path))
    return path


def fresh_python(code: str) -> str:
    """What ``code`` prints in a new Python process of this project (what it imports is its own)."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


APP = str(ROOT / "app.py")


def app_page(name: str, timeout: float = 60):
    """An AppTest of ``app_pages/<name>.py`` run inside the app's frame (``app.py``), as a browser gets it."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout).run()  # registers the pages' URL paths
    at.switch_page(f"app_pages/{name}.py")
    return at
