"""The Train page's live view: the shown run's progress (status, epoch, step, speed, ETA, last test
accuracy) and its chart of loss, accuracy, learning rate and weight sign flips, polled once a
second while it trains (more often while it is young, so that its first points come at once).

Only these two elements are redrawn at each poll: each refresh costs the browser a re-render,
and the browser shares the CPU with training (benchmarks/ui_overhead.py). The whole page runs
again when what the rest of it shows changes (:func:`page_view_of`): a new status, a NaN loss,
a live edit applied."""

from __future__ import annotations

import functools
import json

import streamlit as st

from bnn import plots
from bnn.jobs.run import Status
from bnn.training.loop import YOUNG_RUN_S
from ui import live_chart
from ui.names import shown

LIVE_POINTS = 150  # points per live curve
LIVE_HEIGHT = 500  # pixels: the chart, and the same space before the first run
POLL_S = 1.0
YOUNG_POLL_S = 0.2  # while the run is young (bnn.training.loop.YOUNG_RUN_S), its first points come this often
LIVE_CHART_KEY = "tr_live_chart"
NO_RUN_NOTE = "The loss, accuracy, learning rate and weight sign flips draw here as the run trains: press Start"


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}:{seconds:02d}"


def status_text(snap, training_slots: int) -> str:
    """What the run is doing and, while stopping or queued, what it waits for."""
    if snap.status == Status.STOPPING:
        return (
            f"stopping: finishing step {snap.step:,}, then the final evaluation on the test and training sets "
            f"(about {format_seconds(snap.final_eval_s)})"
        )
    if snap.status == Status.EVALUATING:
        return f"final evaluation on the test and training sets (about {format_seconds(snap.eta_s)} left)"
    if snap.status == Status.PAUSED:
        return f"paused after step {snap.step:,}"
    if snap.status == Status.LOADING:
        return "loading MNIST"
    if snap.status == Status.QUEUED:
        return (
            f"waiting for a free training slot: number {snap.queue_position or '–'} in the queue "
            f"({training_slots} run(s) train at once on this server)"
        )
    if snap.ended:
        return snap.status
    return "training"


def young(snap) -> bool:
    return snap.elapsed_s < YOUNG_RUN_S


def page_view_of(snap) -> tuple:
    """What the page outside the live view shows of a run, and how often it polls: when it
    changes, the page runs again."""
    return snap.status, snap.nonfinite_step is not None, len(snap.edits), young(snap)


def live_view(job, snapshot, training_slots: int) -> None:
    """The progress and the chart of ``job`` (None: a placeholder until the tab's first run)."""
    if job is None:
        st.fragment(_no_run_view)()
        return
    polls = not snapshot.ended and snapshot.status != Status.PAUSED
    every = (YOUNG_POLL_S if young(snapshot) else POLL_S) if polls else None
    st.fragment(_polled_view, run_every=every)(job, page_view_of(snapshot), training_slots)


def _no_run_view() -> None:
    st.progress(0.0, text="No run in this tab yet: press **Start**")
    empty_chart(NO_RUN_NOTE)


def _polled_view(job, page_view: tuple, training_slots: int) -> None:
    snap = job.snapshot()
    if page_view_of(snap) != page_view:
        st.rerun()  # the whole page: buttons for the new status, the applied edit, the diagnosis once it ends
    st.progress(min(snap.progress, 1.0), text=progress_text(job.name, snap, training_slots))
    if not snap.records and not snap.ended:
        empty_chart("The curves start after the first step …")
        return
    if not snap.records:
        with st.container(height=LIVE_HEIGHT, border=True):
            if snap.status == Status.FAILED:
                st.error(f"The run failed: {snap.message.splitlines()[0] if snap.message else 'unknown error'}")
            else:
                st.caption(f"No training curves: the run ended at step {snap.step}, before its first record.")
        return
    series = plots.live_training_series(snap.records, snap.evals, LIVE_POINTS)
    # an ended run is drawn in the same chart too: the next run's points come in its frame
    counts = f"{snap.status}/{len(snap.records)}" if snap.ended else f"{len(snap.records)}/{len(snap.evals)}"
    version = f"{job.name}/{counts}/{len(snap.edits)}"
    live_chart.live_plotly_chart(
        _chart_spec(job, snap, series), series, version=version, key=LIVE_CHART_KEY, height=LIVE_HEIGHT
    )


def empty_chart(note: str) -> None:
    """The live chart's empty panels with ``note`` across them, before a run's first point. It is
    the live chart itself (same component, key and place in the page), so the browser has its
    frame and plotly.js ready when the first points arrive: made afresh then, the frame parses
    plotly.js again (0.1-1.4 s, measured in Chromium; benchmarks/first_point.py)."""
    live_chart.live_plotly_chart(_empty_spec(note), {}, version=f"empty/{note}", key=LIVE_CHART_KEY, height=LIVE_HEIGHT)


@st.cache_data(show_spinner=False)
def _empty_spec(note: str) -> dict:
    return live_chart.figure_spec(plots.live_training_figure([], [], height=LIVE_HEIGHT, note=note))


def progress_text(name: str, snap, training_slots: int) -> str:
    test = snap.last_eval("test")
    parts = [f"**{shown(name)}**", status_text(snap, training_slots)]
    if snap.nonfinite_step is not None:
        parts.append(f"loss NaN since step {snap.nonfinite_step:,} (marked ✕ on the chart)")
    parts += [f"epoch {snap.epoch:.2f} / {snap.epochs}", f"step {snap.step:,} / {snap.total_steps:,}"]
    if not snap.ended:
        parts.append(f"{snap.samples_per_s:,.0f} samples/s")
        if snap.eta_s is not None:
            parts.append(f"ETA {format_seconds(snap.eta_s)} incl. the final evaluation")
    if test:
        parts.append(f"test accuracy {test['accuracy']:.2f}%")
    return " · ".join(parts)


def _chart_spec(job, snap, series: dict) -> dict:
    """The live chart's layout and trace styles. While the run trains, its step and learning-rate
    axes are fixed to the whole run, so most refreshes only move the lines; once it ended, the step
    axis spans the steps it trained (edit labels would widen an automatic axis)."""
    edits = json.dumps(snap.edits, sort_keys=True)
    if snap.ended:
        return _run_chart_spec(tuple(series), snap.step or None, None, edits)
    spec = _run_chart_spec(tuple(series), snap.total_steps, _lr_range(job.config.train, snap.edits), edits)
    return {**spec, "layout": {**spec["layout"], "uirevision": job.name}}  # a zoom or hidden line survives redraws


def _lr_range(train, edits) -> tuple[float, float]:
    """The learning rates a run goes through: its schedule's two ends and its live edits'."""
    lrs = [train.lr, train.lr if train.schedule == "constant" else train.lr_end]
    lrs += [edit["new"] for edit in edits if edit["setting"] == "lr"]
    return min(lrs), max(lrs)


@functools.lru_cache(maxsize=64)
def _run_chart_spec(
    lines: tuple[str, ...], total_steps: int | None, lr_range: tuple[float, float] | None, edits: str
) -> dict:
    """Built again only for new lines, a new step count or learning-rate range, or a new live edit:
    building a Plotly figure takes ~100 ms of the GIL the training thread needs. Shared by the
    sessions and runs of the server; the server builds its presets' when it starts
    (:func:`warm_live_chart`). Read only: callers copy what they change."""
    figure = plots.live_training_figure(
        [],
        [],
        height=LIVE_HEIGHT,
        max_points=LIVE_POINTS,
        total_steps=total_steps,
        lr_range=lr_range,
        edits=json.loads(edits),
        series={line: ([], []) for line in lines},
    )
    return live_chart.figure_spec(figure)


def warm_live_chart(trainer) -> None:
    """Build the live chart's layout for a run like ``trainer``'s, after its first record, ahead of
    the run (``bnn.training.runners.warm_up`` on the data a run trains on)."""
    series = plots.live_training_series(trainer.records, [], LIVE_POINTS)
    _run_chart_spec(tuple(series), trainer.total_steps, _lr_range(trainer.config.train, ()), json.dumps([]))
