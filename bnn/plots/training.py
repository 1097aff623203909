"""Training over steps: the live four-panel chart of a run, per-layer weight sign flips and the
curves of several runs on one chart. Records and evaluations are the dicts of :mod:`bnn.training.loop`.

Two kinds of event are marked: live edits (``bnn.training.loop.Trainer.edits``) as dotted vertical lines
labelled with the change, and records whose loss was NaN/inf as red crosses along the bottom of
the loss panel, where their loss is missing (a diverged run's flat accuracy line is then visibly
the NaN steps)."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from ..training.live_edits import describe_edit
from ..training.metrics import EvalRecord, StepRecord
from .common import LAYOUT, LEGEND_MARGIN, PALETTE, _figure, _np

EDIT_COLOR = "#7c3aed"
NAN_COLOR = "#dc2626"
NAN_TRACE = "NaN loss"


def thin_records(records: Sequence[StepRecord], max_points: int = 300) -> list[StepRecord]:
    """At most ``max_points`` evenly spaced records, always keeping the last (cheap live redraws)."""
    records = list(records)
    if len(records) <= max_points:
        return records
    stride = math.ceil(len(records) / max_points)
    kept = records[::stride]
    return kept if kept[-1] is records[-1] else kept + [records[-1]]


_CURVES = {  # metric -> (record key, eval key, log y)
    "loss": ("loss", "loss", False),
    "accuracy": ("batch_accuracy", "accuracy", False),
    "lr": ("lr", None, True),
}


def _clean(ys: Any, log_y: bool) -> list[float | None]:
    out: list[float | None] = []
    for v in _np(ys).reshape(-1):
        ok = math.isfinite(v) and (v > 0 or not log_y)
        out.append(float(v) if ok else None)
    return out


def metric_lines(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str | None = None,
    yaxis_title: str | None = None,
    log_y: bool = False,
    *,
    xaxis_title: str | None = "step",
    height: int = 280,
    y_format: str | None = None,
) -> go.Figure:
    """One line per ``name -> (xs, ys)``. NaN/inf (and, on a log axis, values ≤ 0) become gaps.

    ``y_format`` is a d3 format for the y ticks (e.g. ".0%" for accuracies).
    """
    fig = _figure(title, height)
    for i, (name, (xs, ys)) in enumerate(series.items()):
        fig.add_trace(
            go.Scatter(
                x=_np(xs).reshape(-1),
                y=_clean(ys, log_y),
                mode="lines",
                name=str(name),
                line=dict(color=PALETTE[i % len(PALETTE)], width=2),
                connectgaps=False,
            )
        )
    fig.update_xaxes(title_text=xaxis_title)
    fig.update_yaxes(title_text=yaxis_title, type="log" if log_y else "linear")
    if y_format:
        fig.update_yaxes(tickformat=y_format)
    fig.update_layout(hovermode="x unified", showlegend=len(series) > 1)
    if len(series) > 1:
        fig.update_layout(margin=LEGEND_MARGIN)
    return fig


def flip_rate_lines(
    records: Sequence[StepRecord],
    *,
    title: str | None = "Weight sign flips per step",
    height: int = 280,
    log_y: bool = False,
) -> go.Figure:
    """``records``: dicts with "step" and "flip_rate": {layer: fraction of its weights that
    changed sign}; one line per layer (in order of first appearance), y in percent."""
    series = flip_rate_series(records, max_points=len(records))  # every record
    fig = metric_lines(series, title, "weights flipped", log_y, height=height)
    fig.update_yaxes(tickformat=".2%" if not log_y else ".1e")
    fig.update_traces(hovertemplate="%{y:.3%}")
    fig.update_layout(showlegend=True, margin=LEGEND_MARGIN)
    return fig


def run_overlay(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str | None,
    yaxis_title: str | None,
    *,
    xaxis_title: str = "epoch",
    log_y: bool = False,
    height: int = 320,
    events: Mapping[str, Sequence[tuple[float, str]]] | None = None,
) -> go.Figure:
    """Curves of several runs on one chart; short curves (a few evaluations) get markers, so a
    one-point curve still shows. ``events``: run name -> (x, label) of its live edits, drawn as
    dotted vertical lines in the run's colour with the label on hover and at the top."""
    fig = metric_lines(series, title, yaxis_title, log_y, xaxis_title=xaxis_title, height=height)
    for trace, (xs, _) in zip(fig.data, series.values()):
        trace.name = html.escape(
            trace.name, quote=False
        )  # Plotly renders <a href>, <b> ... in a legend: a name is text
        if len(xs) <= 30:
            trace.update(mode="lines+markers", marker=dict(size=6))
    for i, name in enumerate(series):
        for x, label in (events or {}).get(name, ()):
            color = PALETTE[i % len(PALETTE)]
            fig.add_vline(x=x, line=dict(color=color, dash="dot", width=1.5))
            fig.add_annotation(
                x=x, y=1, yref="paper", text=label, showarrow=False, yanchor="bottom", font=dict(size=10, color=color)
            )
    fig.update_layout(showlegend=True, margin=LEGEND_MARGIN)
    return fig


def training_curve_series(
    records: Sequence[StepRecord],
    evals: Sequence[EvalRecord],
    metric: str,
    max_points: int = 300,
) -> dict[str, tuple[list[float], list[float | None]]]:
    """One panel's lines of :func:`live_training_figure` by trace name: "train batches" (the
    records, thinned to ``max_points``), then "test set" and "train set" evaluations if any."""
    record_key, eval_key, log_y = _CURVES[metric]
    kept = thin_records(records, max_points)
    values = [r.get(record_key, float("nan")) for r in kept]
    series = {"train batches": ([r["step"] for r in kept], _clean(values, log_y))}
    for split in ("test", "train") if eval_key else ():
        points = [(e["step"], e.get(eval_key)) for e in evals if e.get("split") == split]
        if points:
            ys = [v if v is not None else float("nan") for _, v in points]
            series[f"{split} set"] = ([p[0] for p in points], _clean(ys, log_y))
    return series


def flip_rate_series(records: Sequence[StepRecord], max_points: int = 300) -> dict[str, tuple[list, list]]:
    """Weight sign-flip rate lines by layer name, in order of first appearance (records thinned to
    ``max_points``): :func:`flip_rate_lines` and the flips panel of :func:`live_training_figure`."""
    series: dict[str, tuple[list, list]] = {}
    for record in thin_records(records, max_points):
        for name, rate in record.get("flip_rate", {}).items():
            xs, ys = series.setdefault(name, ([], []))
            xs.append(record["step"])
            ys.append(rate)
    return series


def _centred_note(
    fig: go.Figure, text: str, x: float, y: float, size: int | None = None, color: str | None = None, **box
):
    """A line of text centred at (x, y) in the figure's paper coordinates."""
    font = {key: value for key, value in (("size", size), ("color", color)) if value is not None}
    fig.add_annotation(
        text=text,
        showarrow=False,
        xref="paper",
        yref="paper",
        x=x,
        y=y,
        xanchor="center",
        yanchor="middle",
        font=font,
        **box,
    )


def selector_safe(uid: str) -> str:
    """``uid`` with every character that a CSS class selector cannot hold written as ``_<hex>_``
    ("loss/test set" -> "loss_2f_test_20_set"), as assets/live_chart.js writes them: Plotly.js
    selects a trace's parts by ``.cb<uid>``, and a "/" or a space there throws in the browser."""
    return re.sub(r"[^A-Za-z0-9-]", lambda match: f"_{ord(match.group()):x}_", uid)


class SelectorSafeFigure(go.Figure):
    """A figure whose trace uids reach the browser selector-safe (:func:`selector_safe`) however
    it is drawn (Jupyter, ``show``, ``write_html``, JSON), while its traces keep the uids of
    :func:`live_training_series` in Python."""

    def to_dict(self) -> dict:
        figure = super().to_dict()
        for trace in figure.get("data", ()):
            if isinstance(trace.get("uid"), str):
                trace["uid"] = selector_safe(trace["uid"])
        return figure


_LIVE_PANELS = {"loss": (1, 1), "accuracy": (1, 2), "lr": (2, 1), "flips": (2, 2)}
_LIVE_COLORS = {"train batches": PALETTE[0], "test set": PALETTE[1], "train set": PALETTE[2]}


def live_training_series(
    records: Sequence[StepRecord], evals: Sequence[EvalRecord], max_points: int = 150
) -> dict[str, tuple[list, list]]:
    """Every line of :func:`live_training_figure`, keyed by its trace uid "panel/name"."""
    series = {}
    for panel in ("loss", "accuracy", "lr"):
        for name, line in training_curve_series(records, evals, panel, max_points).items():
            series[f"{panel}/{name}"] = line
    nan_steps = [r for r in thin_records(records, max_points) if r.get("nonfinite")]
    if nan_steps:
        series[f"loss/{NAN_TRACE}"] = ([r["step"] for r in nan_steps], [0.0] * len(nan_steps))
    for layer, line in flip_rate_series(records, max_points).items():
        series[f"flips/{layer}"] = line
    return series


def live_training_figure(
    records: Sequence[StepRecord],
    evals: Sequence[EvalRecord],
    *,
    height: int = 560,
    max_points: int = 150,
    total_steps: int | None = None,
    lr_range: tuple[float, float] | None = None,
    edits: Sequence[Mapping[str, Any]] = (),
    note: str | None = None,
    series: Mapping[str, tuple[Sequence, Sequence]] | None = None,
) -> go.Figure:
    """Loss, accuracy (%), learning rate and per-layer weight sign-flip rate of a run, as four
    panels of one figure: one redraw per refresh instead of four. Per-step records are lines,
    evaluations lines with markers. Each trace's uid is its key in
    :func:`live_training_series`, so a live view can refresh the data in place.

    For a run still training, ``total_steps`` fixes the step axes at 0..total_steps and
    ``lr_range`` (the schedule's two ends) the learning-rate axis: new points then fall inside
    the axes, and a live view can move the lines without redrawing the axes. ``edits`` (live
    edits) are dotted vertical lines on every panel, labelled on the loss panel; records with a
    NaN/inf loss are red crosses along the bottom of the loss panel. ``note`` is a line of text
    across the middle of the figure (e.g. what the empty panels of a run not yet started wait for).
    ``series``: the lines to draw, as :func:`live_training_series` gives them, instead of those of
    ``records`` and ``evals`` (a live view's layout built from the lines' names alone)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=2,
        cols=2,
        vertical_spacing=0.17,
        horizontal_spacing=0.09,
        subplot_titles=("Loss", "Accuracy (%)", "Learning rate", "Weight sign flips per record"),
    )
    fig.update_layout(**LAYOUT)
    fig.update_layout(
        height=height,
        margin=dict(l=48, r=12, t=84, b=36),
        hovermode="x unified",
        legend=dict(orientation="h", x=0, xanchor="left", y=1.06, yanchor="bottom"),
    )
    of_a_run = bool(records) or series is not None  # else empty panels, before a run's first record
    if series is None:
        series = live_training_series(records, evals, max_points)
    layers = _add_live_traces(fig, series)
    if not layers and of_a_run:
        x_domain, y_domain = fig.layout.xaxis4.domain, fig.layout.yaxis4.domain
        _centred_note(
            fig, "no binarized weights: nothing to flip", sum(x_domain) / 2, sum(y_domain) / 2, color="#6b7280"
        )
        fig.update_xaxes(visible=False, row=2, col=2)
        fig.update_yaxes(visible=False, row=2, col=2)
    _live_axes(fig, total_steps, lr_range, of_a_run)
    if note:
        _centred_note(fig, note, 0.5, 0.5, size=14, bgcolor="rgba(128,128,128,0.12)", borderpad=8)
    _mark_edits(fig, edits)
    return fig


def _add_live_traces(fig: go.Figure, series: Mapping[str, tuple[Sequence, Sequence]]) -> int:
    """Each line of ``series`` on its panel (uid = its key), NaN losses as red crosses; returns the
    number of layers with flip-rate lines."""
    shown: set[str] = set()
    layers = 0
    for uid, (xs, ys) in series.items():
        panel, name = uid.split("/", 1)
        if panel == "flips":
            color, layers = PALETTE[(3 + layers) % len(PALETTE)], layers + 1
        else:
            color = _LIVE_COLORS.get(name, NAN_COLOR)
        if name == NAN_TRACE:
            style = dict(
                mode="markers",
                marker=dict(symbol="x-thin", size=7, color=NAN_COLOR, line=dict(width=2, color=NAN_COLOR)),
            )
            style["hovertemplate"] = "step %{x}: loss NaN<extra></extra>"
        else:
            marked = name in ("test set", "train set")
            style = dict(
                mode="lines+markers" if marked else "lines",
                cliponaxis=not marked,  # a marker at the last step or at 100% is drawn whole
                line=dict(color=color, width=2),
                marker=dict(size=7),
                connectgaps=False,
                legendgroup=name,
                showlegend=name not in shown,
            )
        fig.add_trace(go.Scatter(x=xs, y=ys, uid=uid, name=name, **style), *_LIVE_PANELS[panel])
        shown.add(name)
    return layers


def _live_axes(fig: go.Figure, total_steps: int | None, lr_range: tuple[float, float] | None, of_a_run: bool) -> None:
    """The panels' axes: accuracy 0-100, a log learning rate, flips in percent, steps to ``total_steps``,
    and no numbers on the axes of a run not started yet."""
    fig.update_yaxes(range=[0, 100], row=1, col=2)
    fig.update_yaxes(type="log", exponentformat="e", row=2, col=1)
    fig.update_yaxes(tickformat=".2%", row=2, col=2)
    fig.update_xaxes(title_text="step", row=2)
    if total_steps:
        fig.update_xaxes(range=[0, total_steps])
    if lr_range:
        low, high = math.log10(min(lr_range)), math.log10(max(lr_range))
        pad = max(0.05 * (high - low), 0.1)
        fig.update_yaxes(range=[low - pad, high + pad], row=2, col=1)
    # fixed margins, no tick-label overflow checks: cheaper redraws (docs/plots.md)
    fig.update_xaxes(automargin=False, ticklabeloverflow="allow")
    fig.update_yaxes(automargin=False, ticklabeloverflow="allow")
    fig.update_annotations(font_size=13)
    if not of_a_run:  # no numbers on axes that measure nothing yet
        fig.update_xaxes(showticklabels=False)
        fig.update_yaxes(showticklabels=False)


def _mark_edits(fig: go.Figure, edits: Sequence[Mapping[str, Any]]) -> None:
    """Live edits as dotted vertical lines on every panel, labelled on the loss panel."""
    for index, edit in enumerate(edits):
        label = describe_edit(edit)
        fig.add_vline(x=edit["step"], line=dict(color=EDIT_COLOR, dash="dot", width=1.5), row="all", col="all")
        fig.add_annotation(
            x=edit["step"],
            y=1 - 0.09 * (index % 3),
            xref="x",
            yref="y domain",
            text=label,
            showarrow=False,
            xanchor="left",
            yanchor="top",
            bgcolor="rgba(128,128,128,0.15)",
            font=dict(size=11, color=EDIT_COLOR),
        )


def run_figure(run, height: int):
    """The Train page's chart of ``run`` (a bnn.jobs.run.Run), ended or training: the learning-rate
    axis spans the schedule's two ends and every live edit's rates while it trains."""
    if run.ended:
        return live_training_figure(
            run.records, run.evals, height=height, total_steps=run.step or None, edits=run.edits
        )
    train = run.config.train
    lrs = [train.lr, train.lr if train.schedule == "constant" else train.lr_end]
    lrs += [edit[key] for edit in run.edits if edit["setting"] == "lr" for key in ("old", "new")]  # before, after
    return live_training_figure(
        run.records,
        run.evals,
        height=height,
        total_steps=run.total_steps or None,
        lr_range=(min(lrs), max(lrs)),
        edits=run.edits,
    )
