"""The Compare page (AppTest): overlays, the settings that differ, downloads, rename and delete."""

from __future__ import annotations

import copy
import json

import pandas  # noqa: F401  (before the app's warm-up thread imports it: Streamlit reads a half-imported pandas)
import pytest
import streamlit as st
import torch
from conftest import app_page
from streamlit.testing.v1 import AppTest

from bnn.config.presets import PRESETS
from bnn.jobs.run import Run, Status
from bnn.jobs.run_folders import rename_run, save_run
from bnn.jobs.run_listing import list_runs
from bnn.network.models import build_model
from bnn.training.loop import Trainer
from bnn.training.metrics import metrics_csv
from ui import keys, state
from ui.names import shown

SMALL = PRESETS["fast"].replace_model(layers=PRESETS["fast"].model.layers[-1:])  # 784-10


def _run(name: str, lr: float, accuracy: float, created: float) -> Run:
    config = SMALL.replace_train(lr=lr)
    records = [
        {
            "step": 20 * i,
            "epoch": i / 10,
            "loss": 1.0 / i,
            "batch_accuracy": 80.0,
            "lr": lr,
            "flip_rate": {"output": 0.01},
            "saturation": {},
        }
        for i in range(1, 6)
    ]
    evals = [
        {
            "step": 100,
            "epoch": 0.5,
            "split": "test",
            "accuracy": accuracy,
            "loss": 0.4,
            "prediction_histogram": [10] * 10,
            "count": 100,
        }
    ]
    torch.manual_seed(0)
    model = build_model(config.model)
    return Run(
        name=name,
        config=config,
        status=Status.FINISHED,
        records=records,
        evals=evals,
        summary={"test_accuracy": accuracy},
        weights=lambda: model,
        created=created,
    )


@pytest.fixture
def page(runs_dir):
    st.cache_resource.clear()
    save_run(_run("alpha", 1e-2, 91.0, created=1.0), runs_dir)
    save_run(_run("beta", 1e-3, 88.5, created=2.0), runs_dir)
    at = app_page("compare")
    at.run()
    assert not at.exception, at.exception[0].value
    return at


def test_overlay_and_settings_that_differ(page):
    assert page.multiselect(key="cmp_runs").value == ["beta", "alpha"]  # newest first
    assert len(page.get("plotly_chart")) == 4  # test accuracy, then loss, batch accuracy, flips per step
    table = page.dataframe[0].value
    assert list(table["run"]) == ["beta", "alpha"]
    assert "Learning rate" in table.columns and "Optimizer" not in table.columns  # only what differs
    assert list(table["test acc %"]) == [88.5, 91.0]


def _saved(runs_dir, name: str, created: float, config=None, checkpoint=None, **changes):
    run = _run(name, 1e-2, 90.0, created)
    save_run(run.but(config=config or run.config, **changes), runs_dir, checkpoint=checkpoint)


def _compare(runs_dir) -> AppTest:
    st.cache_resource.clear()
    at = app_page("compare")
    at.run()
    assert not at.exception, at.exception[0].value
    return at


def test_real_status_layers_in_words_and_only_settings_that_apply(runs_dir):
    _saved(runs_dir, "ended", 1.0)
    _saved(runs_dir, "nan", 2.0, status=Status.DIVERGED)
    _saved(runs_dir, "cut", 3.0, config=SMALL.replace_train(optimizer="sgd", momentum=0.5), status=Status.STOPPED)
    _saved(runs_dir, "crashed", 4.0, checkpoint={"step": 1})
    at = _compare(runs_dir)
    at.multiselect(key="cmp_runs").set_value(["ended", "nan", "cut", "crashed"]).run()
    table = at.dataframe[0].value
    assert list(table["status"]) == ["finished", "diverged", "stopped", "interrupted"]
    assert set(table["layers"]) == {"784-10 MLP · binary weights 1/1, binary activations 0/1, BatchNorm 1/1"}
    assert "Optimizer" in table.columns and "Momentum" not in table.columns  # momentum applies to one run only


def test_live_edits_are_listed_and_marked_on_the_overlays(runs_dir):
    edit = {"step": 60, "setting": "lr", "layer": None, "old": 1e-2, "new": 1e-3}
    _saved(runs_dir, "edited", 1.0, edits=[edit])
    at = _compare(runs_dir)
    assert list(at.dataframe[0].value["live edits"]) == ["step 60: lr 1e-02 → 1e-03"]
    for chart in at.get("plotly_chart"):
        figure = json.loads(chart.proto.spec)
        assert [shape["x0"] for shape in figure["layout"]["shapes"]] == [pytest.approx(0.3)]  # step 60 = epoch 0.3


def test_a_fixed_run_is_chosen_with_the_run_it_fixes(runs_dir):
    _saved(runs_dir, "seed-run", 1.0)
    _saved(runs_dir, "best-run", 2.0)
    best = _run("best-run", 1e-2, 99.0, 2.0)
    save_run(best, runs_dir)
    _saved(runs_dir, "seed-fixed-run", 3.0, fixes="seed-run")
    at = _compare(runs_dir)
    assert at.multiselect(key="cmp_runs").value == ["seed-fixed-run", "seed-run"]


def test_default_is_the_newest_and_the_best(runs_dir):
    _saved(runs_dir, "old", 1.0)
    best = _run("best", 1e-2, 99.0, 2.0)
    save_run(best, runs_dir)
    _saved(runs_dir, "newest", 3.0)
    at = _compare(runs_dir)
    assert at.multiselect(key="cmp_runs").value == ["newest", "best"]


def test_downloads(page):
    buttons = page.get("download_button")
    labels = [button.proto.label for button in buttons]
    assert labels[:2] == ["Metrics (CSV)", "Weights (weights.pt)"]
    assert labels[2:] == ["Packed model (.bnnx)", "C for a microcontroller (.zip)", "ONNX (.onnx)"]
    # a one-layer model: its output layer sees the pixels (float arithmetic), so C and ONNX say why not
    assert [button.proto.disabled for button in buttons[2:]] == [False, True, True]
    assert "cannot be exported to ONNX: the output layer must be" in buttons[4].proto.help


def test_metrics_csv():
    run = _run("gamma", 1e-2, 90.0, 1.0)
    text = metrics_csv(run.records, run.evals)
    header = text.splitlines()[0].split(",")
    assert header[:2] == ["kind", "step"] and "flip_rate.output" in header and "accuracy" in header
    assert len(text.splitlines()) == 1 + len(run.records) + len(run.evals)


def test_rename_and_delete(page, runs_dir):
    page.selectbox(key="cmp_manage").select("alpha").run()
    (path,) = [r.path for r in list_runs(runs_dir) if r.name == "alpha"]
    page.text_input(key=f"cmp_new_name_{path.name}").input("alpha renamed")
    page.button[[b.label for b in page.button].index("Rename")].click().run()
    assert not page.exception
    assert sorted(r.name for r in list_runs(runs_dir)) == ["alpha renamed", "beta"]
    assert "alpha renamed" in page.multiselect(key="cmp_runs").options

    page.selectbox(key="cmp_manage").select("beta").run()
    delete = page.button(key="cmp_delete")
    assert delete.disabled  # needs the confirmation first
    page.checkbox(key="cmp_confirm").check().run()
    page.button(key="cmp_delete").click().run()
    assert not page.exception
    assert [r.name for r in list_runs(runs_dir)] == ["alpha renamed"]


def test_no_runs_yet(runs_dir):
    st.cache_resource.clear()
    at = app_page("compare")
    at.run()
    assert not at.exception
    assert any("No runs yet" in i.value for i in at.info)


def _hostile_runs(runs_dir, outside) -> None:
    """Run folders an attacker or a crash could leave: each must be named, none may break the page."""
    import json
    import os

    def corrupt(name: str, file: str, change) -> None:
        path = save_run(_run(name, 1e-2, 50.0, created=0.5), runs_dir).path
        data = json.loads((path / file).read_text())
        change(data)
        (path / file).write_text(json.dumps(data))

    corrupt("bad-created", "meta.json", lambda d: d.update(created="abc"))
    corrupt("bad-version", "meta.json", lambda d: d.update(version="x"))
    corrupt("bad-evals", "metrics.json", lambda d: d.update(evals=[1, 2]))
    corrupt("bad-records", "metrics.json", lambda d: d.update(records="abc"))
    corrupt("no-epoch", "metrics.json", lambda d: [r.pop("epoch") for r in d["records"]])
    corrupt("nan-momentum", "config.json", lambda d: d["model"].update(bn_momentum=5.0))
    fifo = save_run(_run("fifo", 1e-2, 50.0, created=0.5), runs_dir).path
    (fifo / "metrics.json").unlink()
    os.mkfifo(fifo / "metrics.json")
    linked = save_run(_run("outside", 1e-2, 50.0, created=0.5), outside).path
    (runs_dir / "linked").symlink_to(linked, target_is_directory=True)
    (runs_dir / "stray.txt").write_text("not a run")


def test_hostile_run_folders_are_named_and_the_others_still_work(runs_dir, tmp_path):
    _hostile_runs(runs_dir, tmp_path / "outside")
    st.cache_resource.clear()
    save_run(_run("good", 1e-2, 91.0, created=3.0), runs_dir)
    at = app_page("compare")
    at.run()
    assert not at.exception, at.exception[0].value
    assert at.multiselect(key="cmp_runs").options == ["good"]
    (expander,) = at.expander
    listed = " ".join(m.value for m in expander.markdown)
    for name, reason in [
        ("bad-created", "created must be a number"),
        ("bad-version", "version must be a whole number"),
        ("bad-evals", "evals[0]: a record is int"),
        ("bad-records", "records must be a list"),
        ("no-epoch", "records[0]: a record has no epoch"),
        ("nan-momentum", "BatchNorm momentum must be in [0, 1]"),
        ("fifo", "named pipe"),
        ("linked", "a symbolic link"),
        ("stray.txt", "not a folder"),
    ]:
        assert f"`{name}`: " in listed and shown(reason) in listed, (name, listed)
    assert (tmp_path / "outside" / "outside" / "meta.json").read_text().count("outside")  # untouched


@pytest.mark.slow  # resumes a run on MNIST
def test_an_interrupted_run_is_listed_and_resumes(runs_dir, mnist):
    st.cache_resource.clear()
    run = _interrupted(runs_dir, mnist, "cut")
    at = app_page("compare")
    at.run()
    table = at.dataframe[0].value
    assert list(table["status"]) == ["interrupted"]
    at.button(key="cmp_resume").click().run()
    assert at.session_state[keys.TRAIN_RUN] == "cut"  # the Train page then shows the resumed run
    (job,) = state.app_state().jobs.values()
    assert job.join(120) and job.snapshot().status == Status.FINISHED
    assert job.snapshot().step == 20 and job.snapshot().records[0] == run.records[0]


def _interrupted(runs_dir, mnist, name: str) -> Run:
    """A run saved with a checkpoint after its first epoch (of two, on 1,000 images), as a server
    that died would leave it."""
    run = _run(name, 1e-2, 60.0, created=1.0)
    run = run.but(config=run.config.replace_train(train_subset=1000, epochs=2, batch_size=100))
    trainer = Trainer(run.config, mnist, "cpu")
    saved = []

    def checkpoint(trainer: Trainer) -> None:  # what the app's job saves at an epoch's end
        records, evals = list(trainer.records), list(trainer.evals)
        model = copy.deepcopy(trainer.model)
        saved.append(
            save_run(run.but(records=records, evals=evals), runs_dir, model=model, checkpoint=trainer.state_dict())
        )

    for step in trainer.steps(on_epoch_end=checkpoint):
        if step == 11:  # one epoch of 1,000 images, then the server dies
            break
    return saved[0]


def test_resume_never_replaces_a_live_job_and_rename_refuses_a_name_in_use(runs_dir, mnist):
    st.cache_resource.clear()
    _interrupted(runs_dir, mnist, "cut")
    long_run = SMALL.replace_train(train_subset=60_000, epochs=1, batch_size=50)
    victim_key = state.start_job(long_run, "victim", mnist)  # another tab's run, training
    victim = state.app_state().jobs[victim_key]
    victim.pause()
    try:
        at = app_page("compare")
        at.run()
        at.multiselect(key="cmp_runs").set_value(["cut"]).run()
        at.text_input(key="cmp_new_name_cut").input("victim")
        at.button[[b.label for b in at.button].index("Rename")].click().run()
        assert any("another run is called victim" in error.value for error in at.error)
        assert [run.name for run in list_runs(runs_dir)] == ["cut"]

        rename_run(runs_dir / "cut", "victim")  # the same name anyway (an older version, a crafted folder)
        at.run()
        at.multiselect(key="cmp_runs").set_value(["victim"]).run()
        at.button(key="cmp_resume").click().run()
        assert not at.exception
        jobs = state.app_state().jobs
        assert set(jobs) == {victim_key, "cut"} and jobs[victim_key] is victim  # side by side, by folder
        assert not victim.status.ended and at.session_state[keys.TRAIN_RUN] == "cut"
        assert jobs["cut"].snapshot().path == runs_dir / "cut"  # it continues in its own folder
    finally:
        for job in state.app_state().jobs.values():
            job.stop()
            assert job.join(60)


def test_a_run_name_is_shown_as_text_and_a_rename_refuses_control_characters(runs_dir):
    st.cache_resource.clear()
    name = "![b](http://127.0.0.1:9/beacon.png) [phish](http://127.0.0.1:9/) :red[x] $x$"
    save_run(_run(name, 1e-2, 91.0, created=1.0), runs_dir)
    at = app_page("compare")
    at.run()
    assert not at.exception
    shown_text = [e.value for e in (*at.markdown, *at.caption, *at.info, *at.warning, *at.error)]
    shown_text += [c.label for c in at.checkbox]
    assert not any("![b](" in text or "[phish](" in text for text in shown_text)
    assert any(shown(name) in label for label in (c.label for c in at.checkbox))  # the delete confirmation
    (path,) = [run.path for run in list_runs(runs_dir)]
    for bad, why in [("two\nlines", "control characters"), ("x" * 500, "at most 120 characters")]:
        at.text_input(key=f"cmp_new_name_{path.name}").input(bad)
        at.button[[b.label for b in at.button].index("Rename")].click().run()
        assert any(why in error.value for error in at.error), [e.value for e in at.error]
    assert [run.name for run in list_runs(runs_dir)] == [name]
