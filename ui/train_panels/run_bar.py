"""The Train page's run bar, first on the page: Start, Pause/Resume, Stop, Test now, and the
picker of the run the tab shows; and what Start does (check the settings, load MNIST, start a
background ``bnn.jobs.training_job.TrainingJob``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping

import streamlit as st

from bnn.config.presets import PRESETS
from bnn.jobs import start_rules
from bnn.jobs.run import Status
from ui import access, keys
from ui import state as shared
from ui.names import capped
from ui.train_panels.live_view import format_seconds
from ui.train_panels.next_run import NextRun

PICK_KEY = "tr_run_pick"  # the run picker's widget; the choice itself is keys.TRAIN_RUN


def _pause_and_stop(columns, job, snapshot, trains: bool, mine: bool) -> None:
    """The Pause (Resume while paused) and Stop buttons, in ``columns``."""
    busy = not trains or snapshot.status in (Status.STOPPING, Status.EVALUATING)  # nothing to pause or stop
    final_eval = format_seconds(snapshot.final_eval_s) if snapshot is not None else "–"
    run_buttons = [
        ("Resume", ":material/play_arrow:", "resume", "Continues from the step it paused after")
        if snapshot is not None and snapshot.status == Status.PAUSED
        else ("Pause", ":material/pause:", "pause", "Pauses after the optimizer step in flight (well within a second)"),
        (
            "Stop",
            ":material/stop:",
            "stop",
            f"Stops after the step in flight, then evaluates the test and training sets (about {final_eval}); "
            "what was trained is kept",
        ),
    ]
    for column, (label, icon, action, help_text) in zip(columns, run_buttons):
        column.button(
            label,
            icon=icon,
            on_click=access.guarded(job, action, getattr(job, action)) if job else None,
            disabled=not mine or (busy and label != "Resume"),
            width="stretch",
            help=help_text,
        )


def _run_picker(column, state: MutableMapping, job, jobs: Mapping) -> None:
    """The picker of the run shown (this tab's, or another tab's), in ``column``."""
    if job is not None:
        state[PICK_KEY] = state[keys.TRAIN_RUN]
    else:
        state.pop(PICK_KEY, None)
    if jobs:
        column.selectbox(
            "Run shown",
            list(reversed(jobs)),
            index=None,
            format_func=lambda key: capped(jobs[key].name) if key in jobs else key,
            key=PICK_KEY,
            on_change=lambda: state.update({keys.TRAIN_RUN: state[PICK_KEY]}),
            placeholder="show a run of another tab …",
            label_visibility="collapsed",
            help="This tab shows the run it started; the other runs of this app can be shown too",
        )


def run_bar(state: MutableMapping, job, snapshot, jobs: Mapping, on_start: Callable[[], None]) -> None:
    """Draw the bar for this tab's ``job`` (None before its first run) as ``snapshot`` shows it;
    ``on_start``: Start's callback (:func:`press_start`)."""
    trains = snapshot is not None and not snapshot.ended  # running, paused, loading, stopping
    mine = job is None or access.may_control(snapshot)  # else watched: no control of it here
    bar = st.columns([1, 1, 1, 1, 3.4], vertical_alignment="center")
    bar[0].button(
        "Start",
        type="primary",
        icon=":material/play_arrow:",
        on_click=on_start,
        width="stretch",
        disabled=trains and mine,
        help="This tab's run is still training: stop it first" if trains and mine else "Train with the settings below",
    )
    _pause_and_stop(bar[1:3], job, snapshot, trains, mine)
    bar[3].button(
        "Test now",
        icon=":material/fact_check:",
        on_click=access.guarded(job, "test", job.request_eval) if job else None,
        disabled=not mine or not trains or snapshot.status == Status.PAUSED,
        width="stretch",
        help="Evaluate on the test set between two steps",
    )
    _run_picker(bar[4], state, job, jobs)
    if not mine:
        access.watching_caption(snapshot)
    for problem in state.pop(keys.TRAIN_START_PROBLEMS, ()):
        st.error(f"Not started: {problem}", icon=":material/block:")


FIRST_POINT_WAIT_S = 1.0  # Start waits at most this long for the run's first record


def press_start(settings: NextRun, jobs: Mapping) -> None:
    """Start's callback: check the settings and start the run before the page runs again, so that
    the page run after the click draws the new run, with its first chart point when that comes
    within :data:`FIRST_POINT_WAIT_S` (one page run, not two). What needs to show progress or an
    error (downloading MNIST, unreadable files) is left to the page (:func:`start_in_page`)."""
    state = settings.state
    problems = start_problems(settings, jobs)
    if problems:
        state[keys.TRAIN_START_PROBLEMS] = problems
        return
    data = shared.data_in_memory()
    if data is None:
        state[keys.TRAIN_START_IN_PAGE] = True
        return
    if (key := launch(settings, jobs, data)) is not None:
        state[keys.TRAIN_RUN] = key


def start_in_page(settings: NextRun, jobs: Mapping) -> str | None:
    """Start a run from the page script, downloading MNIST first if needed (shown); the run's name,
    or None when MNIST could not be had (the reason shown)."""
    if not shared.data_on_disk():
        with st.status(f"Downloading MNIST into {shared.data_dir()} …", expanded=True) as status:
            data = shared.get_data()
            status.update(
                label="MNIST is ready" if data else "MNIST could not be downloaded",
                state="complete" if data else "error",
            )
    else:
        data = shared.get_data()
    return None if data is None else launch(settings, jobs, data)


def start_problems(settings: NextRun, jobs: Mapping) -> list[str]:
    """Why the settings cannot start now (each a sentence), or nothing."""
    config = settings.config()
    return start_rules.start_problems(config) or shared.start_problems(config)


def launch(settings: NextRun, jobs: Mapping, data) -> str | None:
    """Start a run of the settings on ``data``, named after their preset; its key in ``jobs``
    (None, and the reason shown, when another job trains its folder)."""
    config = settings.config()
    preset = settings.preset
    edited = config != PRESETS[preset]
    fixes_of = settings.take_fixes_of() if edited else None
    name = shared.new_job_name(f"{preset}-fixed" if fixes_of else f"{preset}-edited" if edited else preset)
    try:
        key = shared.start_job(config, name, data, None if edited else preset, fixes=fixes_of)
    except shared.JobConflict as exc:
        settings.state[keys.TRAIN_START_PROBLEMS] = [str(exc)]
        return None
    job = jobs[key]
    try:  # the page shows the run's first point at once (its first step is a record), if it comes soon
        job.wait_until(lambda run: run.records or run.ended or run.status == Status.QUEUED, FIRST_POINT_WAIT_S)
    except TimeoutError:
        pass  # the live view shows it when it comes
    return key
