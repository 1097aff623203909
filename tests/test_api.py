"""The public API as a notebook user holds it: only ``import bnn`` and its public names.

Training in the background with an edit while it trains, a saved run reloaded by name predicting
identically, bad settings refused with a message naming them, the HTML displays, and the README's
"In a notebook" example run as written. Runs are small (a subset of MNIST, one epoch) and saved
under ``tmp_path``; MNIST comes from ``$BNN_DATA_DIR`` (the tests skip without it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bnn

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"epochs": 1, "train_subset": 1000, "batch_size": 100}


@pytest.fixture(scope="module")
def trained(mnist_dir, tmp_path_factory):
    """One small finished ``fast`` run, saved in its own runs folder."""
    runs_dir = tmp_path_factory.mktemp("runs")
    return bnn.train("fast", runs_dir=runs_dir, **SMALL)


def images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(count, 28, 28), dtype=np.uint8)


@pytest.mark.slow  # trains on MNIST
def test_training_in_the_background_takes_an_edit_while_it_trains(mnist_dir, tmp_path):
    run = bnn.train("fast", background=True, runs_dir=tmp_path, epochs=2, train_subset=1000, batch_size=100)
    run.pause()  # returns once it waits between two steps: the edit lands while it trains
    assert run.status == "paused"
    run.edit(lr=1e-3, layer="dense2", binarize_activations=False)
    run.resume().wait()
    assert run.status == "finished"
    assert [(e["setting"], e["layer"], e["new"]) for e in run.edits] == [
        ("lr", None, 1e-3),
        ("binarize_activations", "dense2", False),
    ]
    assert run.config.train.lr == 1e-3 and not run.config.model.layers[1].binarize_activations
    reloaded = bnn.load_run(run.path)
    assert reloaded.edits == run.edits and reloaded.config == run.config
    with pytest.raises(ValueError, match="not training"):
        run.edit(lr=1e-4)


@pytest.mark.slow  # trains on MNIST
def test_a_saved_run_reloads_by_name_and_predicts_identically(trained):
    loaded = bnn.load_run(trained.name, runs_dir=trained.path.parent)
    x = images(64)
    np.testing.assert_array_equal(loaded.predict(x), trained.predict(x))
    np.testing.assert_array_equal(loaded.probabilities(x), trained.probabilities(x))
    assert loaded.predict(x).dtype == np.int64
    assert loaded.predict(x[0]).tolist() == [loaded.predict(x)[0]]  # one 28x28 image
    np.testing.assert_array_equal(loaded.predict(x / 255.0), loaded.predict(x))  # floats in [0, 1]
    assert [run.name for run in bnn.runs(trained.path.parent)] == [trained.name]


@pytest.mark.slow  # trains on MNIST
def test_images_that_are_not_digits_are_refused_with_the_reason(trained):
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        trained.predict(images(2).astype(np.float32))  # 0..255 as floats
    with pytest.raises(ValueError, match=r"\(3, 32, 32\)"):
        trained.predict(np.zeros((3, 32, 32), dtype=np.uint8))


def test_a_bad_setting_name_is_refused_naming_it(tmp_path):
    with pytest.raises(ValueError, match="unknown setting 'learning_rate'.*the settings are .*lr"):
        bnn.train("fast", runs_dir=tmp_path, learning_rate=1e-3)
    assert not any(tmp_path.iterdir())


def test_a_bad_setting_value_is_refused_naming_it(tmp_path):
    with pytest.raises(ValueError, match=r"lr=-0\.1: Learning rate must be in \(0, 10\]"):
        bnn.train("fast", runs_dir=tmp_path, lr=-0.1)
    with pytest.raises(ValueError, match="optimizer='rmsprop': Optimizer must be one of sgd, adam"):
        bnn.train("fast", runs_dir=tmp_path, optimizer="rmsprop")
    with pytest.raises(ValueError, match="unknown preset 'fastest'"):
        bnn.train("fastest", runs_dir=tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow  # trains on MNIST
def test_the_diagnosis_applies_its_fixes_to_the_settings(trained):
    diagnosis = trained.diagnose()
    assert len(diagnosis) >= 1  # 1,000 images for one epoch: behind the measured `fast`
    assert diagnosis.apply() != trained.config
    assert diagnosis.apply([]) == trained.config


@pytest.mark.slow  # trains on MNIST
def test_runs_diagnoses_and_summaries_show_as_html_tables_and_text(trained):
    listing = bnn.runs(trained.path.parent)
    for shown in (trained, listing, trained.diagnose(), trained.model_summary(), bnn.compare(trained, trained)):
        html = shown._repr_html_()
        assert html.startswith("<table") and "</table>" in html
    assert trained.name in listing._repr_html_() and "finished" in trained._repr_html_()
    assert "dense1" in trained.model_summary()._repr_html_()
    text = str(trained)
    assert trained.name in text and "test accuracy" in text and "<" not in text
    assert repr(trained).startswith(f"<Run {trained.name}: finished")


@pytest.mark.slow  # trains on MNIST
def test_the_figures_are_the_train_pages_and_the_compare_pages(trained):
    figure = trained.figure()
    assert {trace.uid for trace in figure.data} >= {"loss/train batches", "accuracy/test set"}
    comparison = bnn.compare(trained, trained.path).figure()  # a run, or its folder or name
    assert [trace.name for trace in comparison.data] == [trained.name, f"{trained.name} (2)"]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## In a notebook", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow  # trains on MNIST
def test_the_readme_example_runs_as_written(mnist_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("BNN_RUNS_DIR", str(tmp_path))
    namespace: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    assert namespace["fixed"].test_accuracy > namespace["seed"].test_accuracy
    assert {run.name for run in bnn.runs()} == {namespace[name].name for name in ("seed", "fixed", "run")}
    assert [edit["layer"] for edit in namespace["run"].edits] == [None, "dense2"]


def test_a_script_that_trains_and_exits_ends_cleanly(mnist_dir, tmp_path):
    # the run's thread lets its model go just after the run has ended: a script that left while it
    # still did died in the C++ runtime ("terminate called without an active exception", exit 134)
    script = f"import bnn\nbnn.train('fast', runs_dir={str(tmp_path)!r}, epochs=1, train_subset=300, batch_size=100)\n"
    env = {**os.environ, "BNN_DATA_DIR": str(mnist_dir), "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "terminate called" not in done.stderr
