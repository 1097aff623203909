"""The run picker of the Draw, Inspect and Efficiency pages: which network to look at.

Choices: the shipped pretrained model, the active model, every run of this server (training or
ended) and every saved run. Default: the run this tab started on the Train page while it trains,
else the active model. The choice is kept per tab across these pages.

The picked network is a :class:`bnn.jobs.run.Run` whose weights were read once (``run.model()``
returns the same model on every call). A training run is read through a snapshot of its weights
(:meth:`bnn.jobs.training_job.TrainingJob.model_copy`),
taken at most every :data:`SNAPSHOT_EVERY_S` seconds and shared by every tab and page, so that
looking at a run does not slow its training; a page that shows a training run refreshes at
:data:`REFRESH_S` and gets the newer weights.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from bnn.jobs.run import Run
from bnn.jobs.run_folders import load_run
from bnn.jobs.run_format import RunFormatError
from ui import keys, state
from ui.names import capped

SNAPSHOT_EVERY_S = 1.5  # a training run's weights are copied at most this often (shared by all tabs)
REFRESH_S = 2.0  # a page showing a training run re-reads it this often
ACTIVE, PRETRAINED = "active", "pretrained"


@dataclass
class _Snapshot:
    model: object
    step: int
    taken: float


class _Snapshots:
    """The newest weight snapshot of each training job, taken at most every SNAPSHOT_EVERY_S."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_job: dict[object, _Snapshot] = {}  # by job: two jobs may have one name

    def get(self, job) -> _Snapshot | None:
        with self.lock:
            current = self.by_job.get(job)
            ended = job.snapshot().ended
            fresh = current is not None and (time.monotonic() - current.taken < SNAPSHOT_EVERY_S)
            if current is not None and (fresh or (ended and current.step >= job.snapshot().step)):
                return current
            step = job.snapshot().step
            model = job.model_copy()
            if model is None:
                return None
            current = _Snapshot(model, step, time.monotonic())
            self.by_job[job] = current
            return current


@st.cache_resource(show_spinner=False)
def _snapshots() -> _Snapshots:
    return _Snapshots()


@st.cache_resource(show_spinner="Loading the saved run ...", max_entries=4)
def _saved(path: str, modified: float) -> Run:
    return load_run(path)


def options() -> dict[str, str]:
    """Choice key -> label, in the picker's order."""
    found: dict[str, str] = {}
    active = state.activated()
    if active is not None:
        found[ACTIVE] = f"Active model: {capped(active.name)}"
    if state.pretrained() is not None:
        found[PRETRAINED] = "Pretrained fast model (shipped)"
    catalog = state.run_catalog()
    for key, job in reversed(catalog.train_jobs.items()):
        snap = job.snapshot()
        what = "training" if not snap.ended else snap.status
        found[f"job:{key}"] = f"Run {capped(job.name)} ({what})"
    # a run of the Train page is also saved once it ends: listed once, as its job
    for run in catalog.saved_apart_from({state.runs_dir() / key for key in catalog.train_jobs}):
        accuracy = run.summary.get("test_accuracy")
        found[f"saved:{run.path}"] = f"Saved run {capped(run.name)}" + (
            f" ({accuracy:.2f}%)" if accuracy is not None else ""
        )
    return found


def default_choice(choices: dict[str, str]) -> str:
    """This tab's run while it trains, else the active model (the pretrained one when none is active)."""
    jobs = state.app_state().jobs
    own = st.session_state.get(keys.TRAIN_RUN)  # the run this tab started on the Train page
    if own in jobs and not jobs[own].snapshot().ended and f"job:{own}" in choices:
        return f"job:{own}"
    return ACTIVE if ACTIVE in choices else next(iter(choices), PRETRAINED)


def pick_run(where=st) -> str | None:
    """The picker widget; returns this tab's choice (a key of :func:`options`), None if there is nothing."""
    choices = options()
    if not choices:
        return None
    chosen = st.session_state.get(keys.PICKED_RUN)  # set only when the user picks
    if chosen not in choices:
        chosen = default_choice(choices)
    widget = f"_{keys.PICKED_RUN}_widget"
    st.session_state[widget] = chosen

    def keep() -> None:
        st.session_state[keys.PICKED_RUN] = st.session_state[widget]

    where.selectbox(
        "Network",
        list(choices),
        format_func=choices.get,
        key=widget,
        on_change=keep,
        help="The pretrained model, the active model, this server's runs (also while they train) and saved runs.",
    )
    return chosen


def _with_weights(run: Run, model) -> Run:
    """``run`` whose :meth:`Run.model` returns ``model`` (read once) on every call."""
    return run.but(weights=lambda: model)


def load(choice: str | None) -> Run | None:
    """The chosen network, its weights as of now for a training run; None when it has no weights (yet)."""
    if choice is None:
        return None
    if choice.startswith("job:"):
        job = state.app_state().jobs.get(choice[4:])
        if job is None:
            return None
        run = job.snapshot()
        if run.ended and run.path is not None:  # saved when it ended: read it as a saved run
            return load(f"saved:{run.path}")
        snapshot = _snapshots().get(job)
        if snapshot is None:  # no model yet
            return None
        return _with_weights(run.but(step=snapshot.step), snapshot.model)
    if choice.startswith("saved:"):
        path = choice[6:]
        try:
            run = _saved(path, Path(path).stat().st_mtime)
        except (OSError, RunFormatError):
            return None
        return run if run.model() is not None else None
    return (state.activated() if choice == ACTIVE else None) or state.pretrained()


def no_weights_yet(choice: str | None) -> None:
    """Say that the choice has no weights yet and end this page's run; for a run of this server
    that has not built its model yet (loading, queued), run the page again once it has."""
    st.info("No weights to show yet: pick another network, or wait for the run to build its model.")
    job = state.app_state().jobs.get(choice[4:]) if choice and choice.startswith("job:") else None
    if job is not None and not job.snapshot().ended:

        @st.fragment(run_every=REFRESH_S)
        def wait_for_weights() -> None:
            if load(choice) is not None:
                st.rerun()

        wait_for_weights()
    st.stop()


def require_picked(where=st) -> Run:
    """Picker + the chosen network, or a friendly message and the end of this page's run."""
    choice = pick_run(where)
    picked = load(choice)
    if picked is None:
        no_weights_yet(choice)
    return picked
