"""The Train page (AppTest): presets fill the controls, the URL round-trips, bad input is refused,
a tiny run produces metrics, and the seed run's diagnosis fixes the settings."""

from __future__ import annotations

import pytest
import streamlit as st
from conftest import app_page
from streamlit.testing.v1 import AppTest

from bnn.config.presets import PRESETS
from bnn.jobs.run import Status
from bnn.jobs.run_folders import load_run
from ui import frame, keys, settings_form, state
from ui.train_panels.live_knobs import knob_key

TINY = {"layers": "d32-wab-0_d10-wb-0", "sub": "1000", "ep": "1", "bs": "50"}  # 20 steps


@pytest.fixture
def page(runs_dir, mnist_dir):
    st.cache_resource.clear()  # a fresh process-wide AppState: no jobs from other tests
    yield app_page("train")
    for job in state.app_state().jobs.values():
        job.stop()
        job.join(30)
    st.cache_resource.clear()


def _open(at: AppTest, **params) -> AppTest:
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception[0].value
    return at


def _control(at: AppTest, name: str, layer: int | None = None):
    return at.session_state[settings_form.control_key(name, layer)]


def _start(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == "Start").click().run()
    assert not at.exception, at.exception[0].value
    return at


def _finish(at: AppTest) -> AppTest:
    for job in state.app_state().jobs.values():
        assert job.join(120), "the run did not end"
    at.run()
    assert not at.exception, at.exception[0].value
    return at


def test_preset_fills_every_control(page):
    at = _open(page)
    assert _control(at, "lr") == PRESETS["fast"].train.lr
    at.selectbox(key=keys.TRAIN_PRESET).select("seed").run()
    seed = PRESETS["seed"]
    assert (_control(at, "optimizer"), _control(at, "lr"), _control(at, "loss")) == ("sgd", 1e-6, "keras_ce")
    assert [_control(at, "units", i) for i in range(3)] == [256, 128, 64]
    assert (
        _control(at, "binarize_activations", 3) is True
        and _control(at, "batch_norm", 0) is False
        and _control(at, "scale") == "01"
    )
    assert any("output layer's activations are binarized" in w.value for w in at.warning)
    assert settings_form.config_from_controls(at.session_state, seed) == seed
    assert at.query_params["loss"] == ["keras_ce"] or at.query_params["loss"] == "keras_ce"
    # every control stays editable after a preset
    at.number_input(key=settings_form.control_key("units", 0)).set_value(300).run()
    at.select_slider(key=settings_form.control_key("lr")).set_value(3e-3).run()
    assert _control(at, "units", 0) == 300 and _control(at, "lr") == 3e-3
    at.selectbox(key=keys.TRAIN_PRESET).select("best").run()
    assert at.radio(key=keys.TRAIN_ARCHITECTURE).value == "small CNN"
    assert any("conv1" in m.value for m in at.markdown)


def test_layers_can_be_added_removed_and_switched(page):
    at = _open(page)
    next(b for b in at.button if b.label == "Add a hidden layer").click().run()
    assert [_control(at, "units", i) for i in range(3)] == [1024, 1024, 1024]
    at.button(key="tr_remove_0").click().run()
    at.button(key="tr_remove_0").click().run()
    assert _control(at, "units", 0) == 1024 and settings_form.control_key("units", 2) not in at.session_state
    at.radio(key=keys.TRAIN_ARCHITECTURE).set_value("small CNN").run()
    assert [m.value for m in at.markdown if m.value.startswith("**conv")] == [
        "**conv1** · conv 3×3, 2×2 pool",
        "**conv2** · conv 3×3, 2×2 pool",
    ]
    assert not at.exception


def test_link_reproduces_the_settings(page):
    at = _open(page, preset="seed", lr="0.003", layers="d64-ab-0.0_d10-a-0.0", ep="2")
    assert _control(at, "lr") == 0.003 and _control(at, "units", 0) == 64 and _control(at, "epochs") == 2
    assert _control(at, "optimizer") == "sgd"  # not in the link: the preset's value
    assert at.query_params["lr"] in ("0.003", ["0.003"])


def _errors(at: AppTest) -> str:
    return " | ".join(e.value for e in at.error)


@pytest.mark.parametrize(
    "control, layer, low, high",
    [("units", 0, 1, 8192), ("epochs", None, 1, 1000), ("batch_size", None, 1, 60000), ("seed", None, 0, 2**32 - 1)],
)
def test_number_controls_take_their_limits_from_the_settings(page, control, layer, low, high):
    widget = _open(page).number_input(key=settings_form.control_key(control, layer))
    assert (widget.min, widget.max) == (low, high)


def test_bad_link_values_are_named_and_a_huge_model_is_refused(page):
    at = _open(page, lr="0", ep="0", bs="64", layers="_".join(["d8000-wab-0"] * 5 + ["d10-wb-0"]))
    (notice,) = [i.value for i in at.info if "could not be used" in i.value]
    assert "lr='0'" in notice and "ep='0'" in notice and "bs" not in notice
    assert _control(at, "lr") == PRESETS["fast"].train.lr and _control(at, "batch_size") == 64
    _start(at)
    assert "too big for this machine's memory" in _errors(at)
    assert not state.app_state().jobs


def test_unreadable_link_falls_back_to_the_preset(page):
    at = _open(page, preset="seed", layers="banana")
    assert any("could not be used" in i.value and "banana" in i.value for i in at.info)
    assert _control(at, "units", 0) == 256


def _progress_text(at: AppTest) -> str:
    return " ".join(p.proto.text for p in at.get("progress"))


def test_tiny_run_produces_metrics_and_can_be_activated(page):
    at = _finish(_start(_open(page, preset="fast", **TINY)))
    (job,) = state.app_state().jobs.values()
    snapshot = job.snapshot()
    assert snapshot.status == "finished" and snapshot.records and snapshot.last_eval("test")
    assert f"**{job.name}** · finished" in _progress_text(at)
    assert _live_chart(at)[1]["series"]["loss/train batches"][0], "no curves on the ended run's chart"
    next(b for b in at.button if b.label == "Make active").click().run()
    assert state.app_state().active.name == job.name
    assert (state.runs_dir() / job.name).is_dir()  # saved when it ended


def test_seed_run_is_diagnosed_and_fixed(page):
    at = _finish(_start(_open(page, preset="seed", sub="1000", ep="1")))
    text = " ".join(m.value for m in at.markdown)
    for title in (
        "The loss is NaN",
        "Predictions collapsed to class 0",
        "Output activations are binarized",
        "Learning rate too small",
        "No BatchNorm",
    ):
        assert title in text
    assert "diverged" in _progress_text(at) and "loss NaN since step 2" in _progress_text(at)
    assert "On the chart: the red crosses along the bottom of the Loss panel" in text
    assert next(b for b in at.button if b.label == "Make active").disabled  # refused, and why:
    assert any("Not offered as the active model: it diverged" in c.value for c in at.caption)
    next(b for b in at.button if b.label.startswith("Apply all fixes")).click().run()
    assert not at.exception
    assert (_control(at, "loss"), _control(at, "optimizer"), _control(at, "lr")) == ("cross_entropy", "adam", 1e-3)
    assert _control(at, "binarize_activations", 3) is False and all(_control(at, "batch_norm", i) for i in range(3))
    assert at.query_params["loss"] in ("cross_entropy", ["cross_entropy"])
    assert any(b.label == "Fixed in settings" for b in at.button)
    assert at.selectbox(key=keys.TRAIN_PRESET).value == "seed"
    assert any("**custom (from seed)**" in m.value for m in at.markdown)
    assert not any("9.87%" in m.value for m in at.markdown)  # the seed's caption is gone
    _finish(_start(at))
    fixed = state.app_state().jobs[at.session_state[keys.TRAIN_RUN]]
    assert fixed.name.startswith("seed-fixed") and fixed.snapshot().fixes == next(iter(state.app_state().jobs))


def test_offline_without_mnist_says_where_to_put_it(page, tmp_path, monkeypatch):
    import bnn.training.data

    empty = tmp_path / "no-mnist"
    monkeypatch.setenv("BNN_DATA_DIR", str(empty))

    def offline(data_dir=None, download=True):
        root = bnn.training.data.resolve_data_dir(data_dir)
        raise bnn.training.data.DataUnavailableError(bnn.training.data._unavailable_message(root, "no network"))

    monkeypatch.setattr(bnn.training.data, "ensure_mnist", offline)
    at = _open(page, preset="fast", **TINY)
    assert any(str(empty) in i.value and "first Start downloads it" in i.value for i in at.info)
    _start(at)
    message = _errors(at)
    assert "MNIST is not available" in message and str(empty / "MNIST" / "raw") in message
    assert "copy the four original files" in message
    assert not state.app_state().jobs


@pytest.mark.parametrize("params", [{"opt": "rmsprop"}, {"layers": "d64-wab-0_d5-wb-0"}, {"mom": "5"}])
def test_odd_links_never_raise(page, params):
    at = _open(page, preset="fast", **params)
    if "layers" in params:
        _start(at)
        assert "the output layer must have 10 units, one per digit (got 5)" in _errors(at)  # as bnn.train and the CLI
    else:
        (key,) = params
        assert any("could not be used" in i.value and f"{key}=" in i.value for i in at.info)


def _wait_for(job, status: str, seconds: float = 60) -> None:
    job.wait_until(lambda run: run.status == status, seconds)


def test_pause_resume_stop(page):
    at = _open(page, preset="fast", layers="d32-wab-0_d10-wb-0", sub="20000", ep="3", bs="20")  # 3,000 steps
    _start(at)
    (job,) = state.app_state().jobs.values()
    next(b for b in at.button if b.label == "Pause").click().run()
    _wait_for(job, "paused")
    at.run()
    next(b for b in at.button if b.label == "Resume").click().run()
    _wait_for(job, "running")
    at.selectbox(key=knob_key("optimizer")).select("sgd").run()  # a live edit: the run goes on
    at.checkbox(key=knob_key("binarize_activations", 0)).uncheck().run()
    assert job.status == "running" and not at.exception
    edits = job.wait_until(lambda run: len(run.edits) >= 2, 60).edits
    assert [(e["setting"], e["layer"], e["new"]) for e in edits] == [
        ("optimizer", None, "sgd"),
        ("binarize_activations", "dense1", False),
    ]
    next(b for b in at.button if b.label == "Stop").click().run()
    assert job.join(60)
    assert job.status == "stopped" and job.snapshot().summary["steps"] < 3000
    at.run()
    assert any(b.label == "Make active" and not b.disabled for b in at.button)
    assert "step" in " ".join(m.value for m in at.markdown if "optimizer adam → sgd" in m.value)  # the edits listed
    saved = load_run(state.runs_dir() / job.name, with_model=False)
    assert [e["setting"] for e in saved.summary["edits"]] == ["optimizer", "binarize_activations"]


def test_a_live_edit_is_listed_as_pending_until_the_run_applies_it(page):
    at = _open(page, preset="fast", layers="d32-wab-0_d10-wb-0", sub="20000", ep="3", bs="20")  # 3,000 steps
    _start(at)
    (job,) = state.app_state().jobs.values()
    _wait_for(job, Status.RUNNING)
    next(b for b in at.button if b.label == "Pause").click().run()
    _wait_for(job, Status.PAUSED)
    at.run()
    at.selectbox(key=knob_key("optimizer")).select("sgd").run()  # requested: the callback does not wait
    assert not at.exception
    assert [c.value for c in at.caption if "optimizer adam → sgd" in c.value] == [
        ":material/schedule: optimizer adam → sgd: when the run resumes"
    ]
    next(b for b in at.button if b.label == "Resume").click().run()
    job.wait_until(lambda run: run.edits, 60)
    at.run()
    assert not any("optimizer adam → sgd" in c.value for c in at.caption), "still pending once applied"
    assert any(m.value.endswith(": optimizer adam → sgd") for m in at.markdown), "the applied edit is not listed"


def test_settings_fold_while_the_shown_run_trains(page):
    at = _open(page, preset="fast", layers="d32-wab-0_d10-wb-0", sub="20000", ep="3", bs="20")  # 3,000 steps
    config = at.session_state[keys.TRAIN_CONFIG]
    _start(at)
    (job,) = state.app_state().jobs.values()
    bs_key = settings_form.control_key("batch_size")
    assert job.status not in ("paused", "finished")
    assert not any(n.key == bs_key for n in at.number_input), "the settings should be folded"
    assert any("784-32-10 MLP" in m.value for m in at.markdown)
    assert at.session_state[keys.TRAIN_CONFIG] == config and at.query_params["bs"] == "20"
    next(b for b in at.button if b.label == "Pause").click().run()
    _wait_for(job, "paused")
    at.run()
    assert [n.value for n in at.number_input if n.key == bs_key] == [20], "a paused run does not fold the settings"
    assert at.number_input(key=settings_form.control_key("units", 0)).value == 32
    assert at.session_state[keys.TRAIN_CONFIG] == config


def test_a_link_with_a_thousand_layers_is_refused_before_drawing_them(page):
    at = _open(page, layers="_".join(["d10-wab-0"] * 1000), lr="0.002")
    notices = [element.value for element in (*at.info, *at.warning)]  # 9,999 characters: not even read
    assert any("longer than 400 characters were ignored" in notice and "layers" in notice for notice in notices)
    assert _control(at, "lr") == 0.002  # the link's other values are kept
    assert [_control(at, "units", i) for i in range(2)] == [1024, 1024]  # the preset's layers


@pytest.mark.slow  # two runs train on MNIST
def test_a_reloaded_tab_shows_its_own_run(page):
    at = _open(page, preset="fast", **TINY)
    _finish(_start(at))
    own = at.session_state[keys.TRAIN_RUN]
    assert at.query_params[keys.RUN_PARAM] in (own, [own])
    other = state.app_state().jobs[
        state.start_job(
            PRESETS["fast"].replace_train(train_subset=1000, epochs=1, batch_size=50), "other", state.get_data()
        )
    ]
    assert other.join(60)
    reloaded = app_page("train")  # a new session, as after a reload, with the tab's link
    reloaded.query_params.update({k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()})
    reloaded.run()
    assert not reloaded.exception and reloaded.session_state[keys.TRAIN_RUN] == own
    assert f"**{own}**" in _progress_text(reloaded)


def test_start_is_disabled_while_this_tabs_run_trains(page):
    at = _open(page, preset="fast", layers="d32-wab-0_d10-wb-0", sub="20000", ep="3", bs="20")
    assert not next(b for b in at.button if b.label == "Start").disabled
    _start(at)
    assert next(b for b in at.button if b.label == "Start").disabled
    job = next(iter(state.app_state().jobs.values()))
    job.wait_until(lambda run: run.records, 60)
    at.run()
    assert "ETA" in _progress_text(at) and "incl. the final evaluation" in _progress_text(at)


def test_the_page_run_after_start_shows_the_new_run_and_its_first_point(page):
    """Start starts the run in its callback, before the page runs again: that one page run draws the
    run (its Pause button, its chart once the first record came), no second run is needed."""
    at = _open(page, preset="fast", layers="d32-wab-0_d10-wb-0", sub="20000", ep="3", bs="20")
    runs_before = at.session_state[frame.PAGE_RUNS]
    _start(at)
    (job,) = state.app_state().jobs.values()
    assert at.session_state[frame.PAGE_RUNS] == runs_before + 1
    assert at.session_state[keys.TRAIN_RUN] == job.name
    assert not next(b for b in at.button if b.label == "Pause").disabled
    assert job.snapshot().records  # Start waited for the first record (its first step is one)


def _live_chart(at: AppTest) -> tuple[str, dict]:
    """The live chart's element id and data (the sidebar's plotly.js preload left out)."""
    import json

    (chart,) = [c for c in at.get("bidi_component") if not json.loads(c.proto.json).get("preload")]
    return chart.proto.id, json.loads(chart.proto.json)


def test_the_live_chart_is_on_the_page_before_the_first_run_under_the_key_the_run_uses(page):
    """The browser keeps the chart's frame (plotly.js parsed in it) from the empty chart to the run's
    first points only if it is the same element: same component, key and place (issue 22)."""
    at = _open(page, preset="fast", layers="d32-wab-0_d10-wb-0", sub="20000", ep="3", bs="20")
    empty_id, empty = _live_chart(at)
    assert empty["version"].startswith("empty/") and not empty["series"]
    _start(at)
    run_id, run = _live_chart(at)
    assert run_id == empty_id and run["series"]["loss/train batches"][0]


def test_a_run_finds_its_live_chart_layout_built_by_the_servers_warm_up(tiny_config, tiny_data):
    """The server builds a preset's live chart layout when it starts (``ui.state.warm_up``), so the
    page run after Start does not spend ~0.1 s on it (issue 22)."""
    from bnn import plots
    from bnn.jobs.training_job import TrainingJob
    from bnn.training.runners import warm_up
    from ui.train_panels import live_view

    live_view._run_chart_spec.cache_clear()
    live_view.warm_live_chart(warm_up(tiny_config, data=tiny_data))
    job = TrainingJob(tiny_config, tiny_data, name="warmed").start()
    snap = job.wait_until(lambda run: run.records, 60)
    job.stop()
    spec = live_view._chart_spec(job, snap, plots.live_training_series(snap.records, snap.evals, live_view.LIVE_POINTS))
    assert live_view._run_chart_spec.cache_info().hits == 1
    assert spec["layout"]["uirevision"] == "warmed" and spec["layout"]["xaxis"]["range"] == [0, snap.total_steps]
    assert job.join(60)


def test_a_huge_link_value_is_ignored_and_not_echoed(page):
    at = _open(page, preset="fast", lr="9" * 100_000, zz="z" * 100_000, ep="x" * 300)
    notices = [element.value for element in (*at.info, *at.warning)]
    assert notices and all(len(notice) < 1000 for notice in notices), [len(notice) for notice in notices]
    assert any("ignored" in notice for notice in notices)
    assert all(len(value) < 1000 for value in at.query_params.values() for value in value)  # dropped from the URL
    assert _control(at, "lr") == PRESETS["fast"].train.lr


def test_the_servers_warm_up_threads_are_never_daemons(page):
    # started from a page's script thread, a daemon under AppTest, they used to inherit its flag: the
    # process could then exit while one was inside torch and die ("terminate called ...", exit 134)
    _open(page)
    threads = state.warm_up()  # the ones this page's run started (cached once per server)
    assert threads and not any(thread.daemon for thread in threads)
