"""How values and predictions are spread: histograms (with the STE window and the clip bounds),
class probabilities and the confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .common import HIGHLIGHT_COLOR, MUTED_COLOR, PLUS_COLOR, WINDOW_COLOR, _figure, _np

ERRORS = [[0.0, "#fff7ec"], [0.4, "#fdbb84"], [0.75, "#e34a33"], [1.0, "#7f0000"]]  # few .. many mistakes
MUTED_TEXT = "#6b7280"  # notes next to a chart


def histogram(
    values: Any,
    title: str | None = None,
    window: tuple[float, float] | None = (-1.0, 1.0),
    clip_lines: bool = True,
    *,
    clip_bounds: tuple[float, float] = (-1.0, 1.0),
    annotation: str | None = None,
    nbins: int = 60,
    height: int = 260,
    color: str = PLUS_COLOR,
    log_y: bool = False,
    xaxis_title: str | None = None,
    window_label: str = "STE window",
) -> go.Figure:
    """Histogram of ``values`` (one trace).

    ``window``: a shaded band (e.g. the STE window |x| ≤ 1 for pre-activations; None for none).
    ``clip_lines``: dashed vertical lines at ``clip_bounds`` (the latent weights' clip ±1).
    ``annotation``: a note on a line under the title, above the plot area (never over the
    bars); the window's label goes there too. Non-finite values are left out and counted in the note.
    """
    x = _np(values).reshape(-1)
    finite = np.isfinite(x)
    dropped = int(x.size - finite.sum())
    x = x[finite]
    notes = [annotation] if annotation else []
    if window is not None and window_label:
        notes.append(f"shaded: {window_label} {window[0]:g} … {window[1]:g}")
    if dropped:
        notes.append(f"{dropped:,} non-finite values not shown")
    fig = _figure(title, height, margin=dict(t=52) if notes else None)
    if window is not None:
        fig.add_vrect(x0=window[0], x1=window[1], fillcolor=WINDOW_COLOR, opacity=0.2, line_width=0, layer="below")
    if clip_lines:
        for bound in clip_bounds:
            fig.add_vline(x=bound, line=dict(color="#6b7280", width=1, dash="dash"))
    fig.add_trace(go.Histogram(x=x, nbinsx=nbins, marker=dict(color=color, line=dict(width=0)), opacity=0.9, name=""))
    if notes:
        fig.add_annotation(
            text=" · ".join(notes),
            xref="paper",
            yref="paper",
            x=0.0,
            y=1.0,
            xanchor="left",
            yanchor="bottom",
            yshift=2,
            showarrow=False,
            align="left",
            font=dict(size=11, color=MUTED_TEXT),
        )
    fig.update_layout(bargap=0.02, showlegend=False)
    fig.update_yaxes(type="log" if log_y else "linear", title_text="count")
    if xaxis_title:
        fig.update_xaxes(title_text=xaxis_title)
    return fig


def probability_bars(
    probs: Sequence[float] | Any,
    predicted: int,
    *,
    title: str | None = "Class probabilities",
    height: int = 220,
    true_label: int | None = None,
) -> go.Figure:
    """Bar per class (0-9), the predicted class highlighted; ``true_label`` gets a dark outline."""
    p = _np(probs).reshape(-1)
    classes = [str(i) for i in range(p.size)]
    colors = [HIGHLIGHT_COLOR if i == predicted else MUTED_COLOR for i in range(p.size)]
    outline = [2 if true_label is not None and i == true_label else 0 for i in range(p.size)]
    fig = _figure(title, height)
    fig.add_trace(
        go.Bar(
            x=classes,
            y=p,
            marker=dict(color=colors, line=dict(color="#262730", width=outline)),
            text=[f"{v:.0%}" if v >= 0.01 else "" for v in p],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="class %{x}: %{y:.3f}<extra></extra>",
        )
    )
    fig.update_xaxes(type="category", title_text="class")
    fig.update_yaxes(range=[0, 1.12], tickformat=".0%", dtick=0.25, title_text="probability")
    fig.update_layout(showlegend=False, bargap=0.25)
    return fig


def _diagonal_trace(diagonal, right, labels: list[str], cell_text, hover: str) -> go.Heatmap:
    """The confusion matrix's diagonal: the right answers, in a neutral grey so that the errors stand out."""
    return go.Heatmap(
        z=np.where(diagonal, 0.0, np.nan),
        x=labels,
        y=labels,
        customdata=right,
        text=np.where(diagonal, cell_text, ""),
        colorscale=[[0, "#d9dde3"], [1, "#d9dde3"]],
        showscale=False,
        texttemplate="%{text}",
        textfont=dict(size=9, color="#4b5563"),
        hovertemplate=hover.replace("%{z", "%{customdata").replace("<extra>", " (right)<extra>"),
        hoverongaps=False,
        xgap=1,
        ygap=1,
    )


def _errors_trace(
    errors, z, diagonal, labels: list[str], cell_text, hover: str, worst: float, normalize: bool
) -> go.Heatmap:
    """The confusion matrix's off-diagonal cells: the errors, on their own scale."""
    return go.Heatmap(
        z=errors,
        x=labels,
        y=labels,
        colorscale=ERRORS,
        zmin=0,
        zmax=worst,
        text=np.where(diagonal | (z == 0), "", cell_text),  # no "0" clutter: the errors stand out
        texttemplate="%{text}",
        textfont=dict(size=10),
        hovertemplate=hover,
        hoverongaps=False,
        xgap=1,
        ygap=1,
        colorbar=dict(
            title=dict(text="share" if normalize else "errors", side="right"),
            thickness=10,
            outlinewidth=0,
            tickformat=".0%" if normalize else ",d",
        ),
    )


def confusion_figure(
    matrix: Any,
    *,
    title: str | None = "Confusion matrix",
    height: int = 380,
    normalize: bool = False,
) -> go.Figure:
    """Annotated heatmap, true class on y (0 at the top), predicted class on x; the errors
    (off the diagonal) coloured on their own scale with a colour bar, the right answers grey.
    Two traces: the diagonal first, then the errors (NaN on the diagonal).

    ``normalize``: colour and label each row as shares of that true class.
    """
    m = _np(matrix)
    if normalize:
        sums = m.sum(axis=1, keepdims=True)
        z = np.divide(m, sums, out=np.zeros_like(m), where=sums > 0)
        hover = "true %{y}, pred %{x}: %{z:.1%}<extra></extra>"
    else:
        z = m
        hover = "true %{y}, pred %{x}: %{z:,}<extra></extra>"
    labels = [str(i) for i in range(m.shape[0])]
    diagonal = np.eye(m.shape[0], dtype=bool)
    errors = np.where(diagonal, np.nan, z)
    right = np.where(diagonal, z, np.nan)
    cell_text = np.vectorize(lambda v: f"{v:.0%}" if normalize else f"{int(v):,}")(z)
    worst = float(np.nanmax(errors)) if np.isfinite(errors).any() and np.nanmax(errors) > 0 else 1.0
    fig = _figure(title, height, margin=dict(l=56, r=12, t=36, b=48))
    fig.add_trace(_diagonal_trace(diagonal, right, labels, cell_text, hover))
    fig.add_trace(_errors_trace(errors, z, diagonal, labels, cell_text, hover, worst, normalize))
    fig.update_xaxes(type="category", title_text="predicted", side="bottom", showgrid=False)
    fig.update_yaxes(type="category", title_text="true", autorange="reversed", showgrid=False)
    return fig
