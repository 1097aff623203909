"""Shared-server mode (AppTest): a session controls only the runs it started, a forged event for
another session's run changes nothing and is logged, a reload with the owner key gets the controls
back, and each limit of a shared server is named when hit. Outside shared mode: tests/test_page_*."""

from __future__ import annotations

import logging

import pytest
import streamlit as st
from conftest import APP
from streamlit.testing.v1 import AppTest
from test_page_compare import _run

from bnn.jobs.run import Status
from bnn.jobs.run_folders import save_run
from bnn.jobs.run_listing import list_runs
from ui import access, keys, state
from ui.study_jobs import study_jobs
from ui.train_panels.live_knobs import knob_key

TINY = {"preset": "fast", "layers": "d32-wab-0_d10-wb-0", "sub": "60000", "ep": "1", "bs": "50"}  # 1,200 steps
KEY_A = "a" * 22  # owner keys as a tab's URL holds them
KEY_B = "b" * 22


@pytest.fixture
def shared_mode(runs_dir, mnist_dir, monkeypatch):
    monkeypatch.setenv(access.SHARED_ENV, "1")
    st.cache_resource.clear()  # a fresh AppState and fresh session slots
    yield
    for job in state.live_jobs():  # the studies' runs too
        job.stop()
        job.join(30)
    st.cache_resource.clear()


def _page(name: str, **params) -> AppTest:
    """A new session opening ``app_pages/<name>.py`` with the URL params ``params``."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params)
    at.run()  # registers the pages' URL paths
    at.switch_page(f"app_pages/{name}.py").run()
    assert not at.exception, at.exception[0].value
    return at


def _train_page(**params) -> AppTest:
    return _page("train", **params)


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _start(at: AppTest) -> AppTest:
    _button(at, "Start").click().run()
    assert not at.exception, at.exception[0].value
    return at


def _started_and_paused(owner_key: str):
    """A run started by the session holding ``owner_key``, paused before its first steps are done."""
    at = _start(_train_page(owner=owner_key, **TINY))
    job = state.app_state().jobs[at.session_state[keys.TRAIN_RUN]]
    job.pause()
    # paused once its data are loaded: until then it shows as loading (a fresh clone's first test reads MNIST
    # while the server's warm-up does too), with no Resume button yet
    job.wait_until(lambda run: run.status == Status.PAUSED, 60)
    return at, job


def _forge(element, value):
    """What a modified browser sends for a widget it was shown disabled: Streamlit checks nothing."""
    element.proto.disabled = False
    return element.set_value(value)


def test_a_new_session_gets_an_unguessable_owner_key_in_its_url(shared_mode):
    at = _train_page(**TINY)
    key = at.query_params[access.OWNER_PARAM]
    key = key[0] if isinstance(key, list) else key
    assert access.KEY_PATTERN.fullmatch(key)
    other = _train_page(owner="guessable", **TINY)  # too short to be a key: replaced
    assert other.query_params[access.OWNER_PARAM] not in ("guessable", ["guessable"])


def test_the_owner_controls_its_run_and_a_reload_gets_the_controls_back(shared_mode):
    at, job = _started_and_paused(KEY_A)
    assert job.snapshot().owner == access.id_of(KEY_A)
    assert not _button(at.run(), "Resume").disabled
    reloaded = _train_page(owner=KEY_A, run=job.name, **TINY)  # a new session of the same tab's URL
    assert reloaded.session_state[keys.TRAIN_RUN] == job.name
    assert not _button(reloaded, "Resume").disabled and not _button(reloaded, "Stop").disabled
    _button(reloaded, "Stop").click().run()
    assert job.wait_until(lambda run: run.ended, 60).status == Status.STOPPED
    assert list_runs(state.runs_dir())[0].owner == access.id_of(KEY_A)  # saved with its owner


def test_a_watcher_sees_the_run_without_controls_and_its_forged_events_change_nothing(shared_mode, caplog):
    _, job = _started_and_paused(KEY_A)
    watcher = _train_page(owner=KEY_B, run=job.name, **TINY)
    assert watcher.session_state[keys.TRAIN_RUN] == job.name  # B sees A's run ...
    assert any(f"Watching **{job.name}**" in c.value for c in watcher.caption)
    for label in ("Resume", "Stop", "Test now"):  # ... with no enabled control for it
        assert _button(watcher, label).disabled
    assert watcher.select_slider(key=knob_key("lr")).disabled
    assert watcher.checkbox(key=knob_key("binarize_weights", 0)).disabled
    lr_before = job.config.train.lr

    # a browser can send events for widgets it was shown disabled (Streamlit discards them) ...
    _forge(_button(watcher, "Stop"), True).run()
    _forge(_button(watcher, "Resume"), True).run()
    _forge(watcher.select_slider(key=knob_key("lr")), 1e-4).run()
    assert not watcher.exception and job.snapshot().status == Status.PAUSED
    # ... and B's callbacks themselves, called for A's run in B's session, change nothing and say so
    with caplog.at_level(logging.WARNING, logger="bnn.access"):
        forged = AppTest.from_function(_callbacks_of_another_session, default_timeout=60)
        forged.query_params[access.OWNER_PARAM] = KEY_B
        forged.run()
    assert not forged.exception, forged.exception[0].value
    job.resume()
    run = job.wait_until(lambda run: run.step > 0, 60)
    assert run.status == Status.RUNNING and job.config.train.lr == lr_before and not run.edits
    assert forged.session_state[knob_key("lr")] == lr_before  # the knob went back to the run's value
    assert "belongs to another session" in forged.session_state[access.NOTICE_KEY]
    assert [record.getMessage().split(" of run")[0] for record in caplog.records if record.name == "bnn.access"] == [
        "refused: stop",
        "refused: pause",
        "refused: test",
        "refused: change",
    ]


def _callbacks_of_another_session():
    """Run as session B's script: the Train page's callbacks for the run of session A."""
    import streamlit as st

    from ui import access, state
    from ui.train_panels import live_knobs

    (job,) = state.app_state().jobs.values()
    for action in ("stop", "pause", "request_eval"):
        access.guarded(job, "test" if action == "request_eval" else action, getattr(job, action))()
    st.session_state[live_knobs.knob_key("lr")] = 1e-4
    live_knobs._request(st.session_state, job, "lr")


def _compare_page(owner_key: str) -> AppTest:
    return _page("compare", owner=owner_key)


def test_a_watcher_cannot_rename_delete_resume_or_download_weights(shared_mode, runs_dir):
    save_run(_run("alpha", 1e-2, 91.0, created=1.0).but(owner=access.id_of(KEY_A)), runs_dir)
    watcher = _compare_page(KEY_B)
    assert watcher.button(key="cmp_delete").disabled and watcher.checkbox(key="cmp_confirm").disabled
    assert len(watcher.get("download_button")) == 1  # the metrics, not the weights nor their exports
    _forge(watcher.checkbox(key="cmp_confirm"), True).run()
    _forge(watcher.button(key="cmp_delete"), True).run()
    assert [run.name for run in list_runs(runs_dir)] == ["alpha"]

    owner = _compare_page(KEY_A)
    assert len(owner.get("download_button")) == 5  # metrics, weights, the packed file, C, ONNX
    owner.checkbox(key="cmp_confirm").check().run()
    owner.button(key="cmp_delete").click().run()
    assert not owner.exception and not list_runs(runs_dir)


@pytest.mark.parametrize(
    "env, params, named",
    [
        ("BNN_MAX_UNITS=16", {}, "32 units (or channels) in a layer; this shared server allows at most 16"),
        ("BNN_MAX_LAYERS=1", {}, "2 layers; this shared server allows at most 1"),
        ("BNN_MAX_PARAMS=1000", {}, "parameters; this shared server allows at most 1,000"),
        ("BNN_MAX_EPOCHS=2", {"ep": "3"}, "3 epochs; this shared server allows at most 2"),
    ],
)
def test_each_network_limit_is_named_when_hit(shared_mode, monkeypatch, env, params, named):
    name, value = env.split("=")
    monkeypatch.setenv(name, value)
    at = _start(_train_page(owner=KEY_A, **{**TINY, **params}))
    assert any(named in e.value for e in at.error), [e.value for e in at.error]
    assert not state.app_state().jobs


def test_a_full_runs_folder_refuses_new_runs_and_deletes_nothing(shared_mode, monkeypatch, runs_dir):
    monkeypatch.setenv("BNN_MAX_DISK_MB", "1")
    save_run(_run("alpha", 1e-2, 91.0, created=1.0), runs_dir)
    (runs_dir / "alpha" / "padding.bin").write_bytes(b"0" * 1024**2)
    at = _start(_train_page(owner=KEY_A, **TINY))
    assert any("the runs folder is full" in e.value and "1 MB of disk" in e.value for e in at.error)
    assert not state.app_state().jobs and (runs_dir / "alpha" / "padding.bin").exists()


def test_runs_per_session_train_then_wait_then_are_refused(shared_mode, monkeypatch):
    monkeypatch.setenv("BNN_SESSION_RUNS", "1")
    monkeypatch.setenv("BNN_SESSION_QUEUED", "1")
    _, first = _started_and_paused(KEY_A)
    second_tab = _start(_train_page(owner=KEY_A, **TINY))  # the same owner in another tab
    second = state.app_state().jobs[second_tab.session_state[keys.TRAIN_RUN]]
    assert second.wait_until(lambda run: run.status == Status.QUEUED, 30).queue_position == 1
    third_tab = _start(_train_page(owner=KEY_A, **TINY))
    assert any("1 runs training per session and 1 more waiting in the queue" in e.value for e in third_tab.error)
    assert len(state.app_state().jobs) == 2
    other = _start(_train_page(owner=KEY_B, **TINY))  # another session has its own limit
    assert not other.error and len(state.app_state().jobs) == 3


def test_make_active_changes_this_session_only(shared_mode):
    owner = _start(_train_page(owner=KEY_A, **{**TINY, "sub": "1000"}))  # 20 steps
    (job,) = state.app_state().jobs.values()
    assert job.join(120)
    _button(owner.run(), "Make active").click().run()
    other = _train_page(owner=KEY_B, **TINY)
    sidebar = lambda at: " ".join(m.value for m in at.sidebar.markdown)  # noqa: E731
    assert f"**{job.name}**" in sidebar(owner) and f"**{job.name}**" not in sidebar(other)
    assert state.app_state().active is None  # nothing server-wide


@pytest.mark.parametrize("env", ["BNN_MAX_UNITS=lots", "BNN_SESSION_RUNS=0", "BNN_MAX_EPOCHS=-1"])
def test_an_unusable_limit_is_named_instead_of_a_traceback(shared_mode, monkeypatch, env):
    name, value = env.split("=")
    monkeypatch.setenv(name, value)
    at = _train_page(**TINY)
    assert any(f"${name} must be a whole number" in e.value and repr(value) in e.value for e in at.error)
    assert not at.button  # nothing to press on a misconfigured server


def test_session_slots_take_a_free_slot_of_both_or_of_neither():
    from bnn.jobs.run_slots import RunSlots

    session, server = RunSlots(1), RunSlots(1)
    slots = access.SessionSlots(session, server)
    assert slots.try_acquire("a")  # a job: any hashable stands in here
    assert not slots.try_acquire("b")  # its session's slot is taken
    other = access.SessionSlots(RunSlots(1), server)
    assert not other.try_acquire("c")  # the server's slot is taken: the session's is given back
    slots.release("a")
    assert other.try_acquire("c")


def test_efficiency_offers_exports_of_own_runs_and_the_shipped_one_only(shared_mode, runs_dir):
    """The Efficiency page's packed, C and ONNX downloads follow Compare's rule for weights: the session's
    own runs (and the shipped pretrained run, public anyway); another owner's run shows as watched."""
    save_run(_run("alpha", 1e-2, 91.0, created=1.0).but(owner=access.id_of(KEY_A)), runs_dir)
    (alpha,) = list_runs(runs_dir)
    for owner_key, downloads in ((KEY_B, 0), (KEY_A, 3)):
        at = _page("efficiency", owner=owner_key)
        at.session_state["eff_test_images"] = 1000
        at.run()
        assert len(at.get("download_button")) == 3  # the shipped run, picked by default
        at.session_state[keys.PICKED_RUN] = f"saved:{alpha.path}"
        at.run()
        assert not at.exception
        assert len(at.get("download_button")) == downloads, owner_key


def _new_study(owner_key: str, **values) -> AppTest:
    """Session ``owner_key`` on the Study page, pressing "Train the study" for an ablation of
    ``fast`` with the form's ``values`` (by widget key)."""
    at = _page("study", owner=owner_key)
    at.selectbox(key="st_base").set_value("fast").run()
    for key, value in values.items():
        at.number_input(key=key).set_value(value).run()
    at.button(key="st_start").click().run()
    assert not at.exception, at.exception[0].value
    return at


def test_a_study_is_held_to_the_limits_of_a_train_run(shared_mode, monkeypatch, runs_dir):
    for env in ("BNN_MAX_UNITS=256", "BNN_MAX_EPOCHS=1", "BNN_MAX_DISK_MB=0"):
        monkeypatch.setenv(*env.split("="))
    at = _new_study(KEY_A, st_epochs=3)
    errors = " ".join(error.value for error in at.error)
    for named in ("1,024 units (or channels) in a layer", "3 epochs", "the runs folder is full"):
        assert named in errors, errors
    assert not study_jobs() and not any(runs_dir.iterdir())


def test_only_its_session_stops_or_resumes_a_study_and_it_counts_as_that_sessions_start(shared_mode, runs_dir):
    _new_study(KEY_A, st_subset=1000)
    ((folder, job),) = study_jobs().items()
    owner = access.id_of(KEY_A)
    assert job.study.owner == owner and {run.owner for run in job.live().values()} == {owner}
    train = _start(_train_page(owner=KEY_A, **TINY))  # the study is this session's start
    assert any("this session has" in error.value for error in train.error) and not state.app_state().jobs
    first = next(iter(job.jobs.values()))
    first.wait_until(lambda run: run.records, 120)

    watcher = _page("study", owner=KEY_B)
    assert watcher.button(key="st_stop").disabled
    _forge(watcher.button(key="st_stop"), True).run()
    forged = AppTest.from_function(_stop_the_study_of_another_session, args=(folder,), default_timeout=60)
    forged.query_params[access.OWNER_PARAM] = KEY_B
    forged.run()
    assert job.training and "belongs to another session" in forged.session_state[access.NOTICE_KEY]

    _page("study", owner=KEY_A).button(key="st_stop").click().run()
    assert job.join(120)
    assert {run.owner for run in list_runs(runs_dir)} == {owner}  # saved with its owner
    watcher = _page("study", owner=KEY_B)
    assert watcher.button(key="st_resume").disabled
    _forge(watcher.button(key="st_resume"), True).run()
    assert study_jobs()[folder] is job and not job.training  # not resumed by another session


def _stop_the_study_of_another_session(folder: str):
    from ui.study_jobs import stop_study

    stop_study(folder)


def test_a_shared_server_shows_no_traceback_to_the_browser(shared_mode, monkeypatch):
    import sys

    def broken(*args, **kwargs):
        raise RuntimeError("/srv/secret/path/of/the/server")

    monkeypatch.setattr(sys.modules["bnn.jobs.run_listing"], "scan_runs", broken)  # an uncaught error on Compare
    try:
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        at.switch_page("app_pages/compare.py").run()
        (error,) = at.exception
        assert "/srv/secret" not in error.message and not error.stack_trace
    finally:
        st.set_option("client.showErrorDetails", "full")  # this process runs other tests next


def test_the_servers_queue_is_bounded(shared_mode, monkeypatch):
    monkeypatch.setenv("BNN_MAX_QUEUED", "1")
    monkeypatch.setenv("BNN_MAX_RUNS", "1")
    _started_and_paused(KEY_A)  # holds the server's one training slot
    waiting = _start(_train_page(owner=KEY_B, **TINY))
    second = state.app_state().jobs[waiting.session_state[keys.TRAIN_RUN]]
    assert second.wait_until(lambda run: run.status == Status.QUEUED, 30)
    refused = _start(_train_page(owner="c" * 22, **TINY))  # a third session (a new tab of a script)
    assert any("the server's queue is full (1 runs wait" in error.value for error in refused.error)
    assert len(state.app_state().jobs) == 2
