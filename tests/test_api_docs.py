"""The public API reads well where a notebook user reads it: help() of every public name is plain
text (no Sphinx roles, no doctest flags) with its example, ``bnn?`` starts with a quick start,
``bnn.settings()`` is the table of settings, an unknown name gets the closest one, ``predict``
takes nested lists of ints, an edit is listed on the card it returns, and the Train page's figure
reaches the browser with uids a CSS selector can hold."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

import bnn
from bnn.api import RunHandle
from bnn.api.results import Comparison, Diagnosis, Packed, RunList
from bnn.config.schema import SETTINGS

SPHINX_OR_DOCTEST = re.compile(r":(class|meth|func|data|mod|attr):`|doctest:|^\s*>>>", re.M)


def public_docstrings():
    for name in bnn.PUBLIC:
        obj = getattr(bnn, name)
        yield name, inspect.getdoc(obj)
    for cls in (RunHandle, Comparison, Diagnosis, Packed, RunList):  # and what its methods return
        for name, member in inspect.getmembers(cls):
            if name in dir(list) or name.startswith("_"):
                continue
            if inspect.isfunction(member) or isinstance(member, property):
                yield f"{cls.__name__}.{name}", inspect.getdoc(member)
        yield cls.__name__, inspect.getdoc(cls)


@pytest.mark.parametrize("name,doc", list(public_docstrings()), ids=lambda value: str(value)[:30])
def test_help_of_every_public_name_is_plain_text(name, doc):
    assert doc, f"{name} has no docstring"
    assert not SPHINX_OR_DOCTEST.search(doc), f"{name}: {SPHINX_OR_DOCTEST.search(doc).group()!r}"


def test_the_functions_help_has_args_returns_and_an_example_and_says_where_the_settings_are():
    for function in (bnn.train, bnn.configure, bnn.load_run, bnn.runs, bnn.compare, bnn.mnist, RunHandle.edit):
        doc = inspect.getdoc(function)
        assert "Returns:" in doc and "Example:" in doc, function.__name__
    assert "bnn.settings()" in inspect.getdoc(bnn.train) and "bnn.settings()" in inspect.getdoc(bnn.configure)


def test_the_package_docstring_starts_with_a_quick_start_and_the_package_is_a_module():
    lines = bnn.__doc__.splitlines()
    assert lines[2].startswith("Quick start") and lines[4].strip() == "import bnn"
    code = [line.strip() for line in lines[4:15]]
    assert all(code[:10]) and not code[10] and code[1].startswith("seed = bnn.train(")  # ten lines of code
    assert type(bnn).__name__ == "module"  # IPython's `bnn?` says "Type: module"
    assert callable(bnn.train) and callable(bnn.runs) and callable(bnn.settings)


def test_settings_lists_every_setting_with_meaning_values_and_default():
    table = bnn.settings()
    rows = {row["name"]: row for row in table.rows}
    assert set(rows) >= {s.name for s in SETTINGS} | {"binarize_weights", "binarize_activations"}
    assert rows["lr"]["values"] == "a finite number in (0, 10]" and rows["lr"]["default"] == "0.01"
    assert rows["optimizer"]["values"] == "one of sgd, adam, adamax, bop"
    assert "Learning rate" in rows["lr"]["meaning"]
    assert table._repr_html_().startswith("<table") and "batch_size" in str(table)


def test_an_unknown_setting_name_gets_the_closest_one(tmp_path):
    with pytest.raises(ValueError, match=r"'learning_rate' \(did you mean 'lr'\?\)"):
        bnn.train("fast", runs_dir=tmp_path, learning_rate=0.1)
    with pytest.raises(ValueError, match=r"'batchsize' \(did you mean 'batch_size'\?\)"):
        bnn.configure("fast", batchsize=10)
    with pytest.raises(ValueError) as refused:
        bnn.configure("fast", zzz=1)
    assert "did you mean" not in str(refused.value) and "bnn.settings()" in str(refused.value)


def test_images_as_nested_lists_of_whole_numbers():
    from bnn.api.results import as_images

    digit = np.random.default_rng(0).integers(0, 256, size=(28, 28))
    assert np.array_equal(as_images(digit.tolist()), as_images(digit.astype(np.uint8)))
    assert as_images([digit.tolist()] * 3).shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match=r"0\.\.255"):
        as_images((digit + 300).tolist())


def valid_selector_class(uid: str) -> bool:
    """Whether ``.cb<uid>`` is a class selector that querySelector accepts without escapes."""
    return re.fullmatch(r"[A-Za-z0-9_-]+", uid) is not None


def test_the_figure_reaches_the_browser_with_uids_a_css_selector_holds(tiny_config, tiny_data, tmp_path):
    from bnn.jobs.training_job import TrainingJob

    job = TrainingJob(tiny_config, tiny_data, name="uids", runs_dir=tmp_path, record_every=2)
    job.start().join()
    figure = RunHandle(job).figure()
    assert {trace.uid for trace in figure.data} >= {"loss/train batches", "accuracy/test set"}  # as in Python
    for drawn in (figure.to_dict(), figure.to_plotly_json()):  # what show(), Jupyter and write_html draw
        uids = [trace["uid"] for trace in drawn["data"]]
        assert uids and all(valid_selector_class(uid) for uid in uids), uids
        assert len(set(uids)) == len(uids)
    assert "loss_2f_train_20_batches" in figure.to_html(include_plotlyjs=False)


@pytest.mark.slow  # trains on MNIST
def test_edit_returns_the_run_with_the_edit_listed(mnist_dir, tmp_path):
    run = bnn.train("fast", background=True, runs_dir=tmp_path, epochs=1, train_subset=3000, batch_size=50)
    edited = run.wait(step=5).edit(lr=2e-3)  # a running run takes it within a step
    assert edited is run and [edit["new"] for edit in edited.edits] == [2e-3]
    card = str(edited)
    assert "edit at step" in card and "lr 1e-02 → 2e-03" in card
    run.pause()
    card = str(run.edit(optimizer="sgd"))  # a paused run takes it when resumed
    assert "edit pending" in card and "optimizer → sgd" in card
    run.resume().wait()
    assert [edit["setting"] for edit in run.edits] == ["lr", "optimizer"] and "pending" not in str(run)
