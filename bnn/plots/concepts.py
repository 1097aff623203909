"""The two ideas of a BNN as diagrams: the straight-through estimator that trains through sign
(paper eq. 4) and the XNOR-popcount dot product that runs it (Courbariaux et al. 2016,
arXiv:1602.02830)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from .common import FLOAT_COLOR, HIGHLIGHT_COLOR, MINUS_COLOR, PALETTE, PLUS_COLOR, WINDOW_COLOR, _figure


def ste_figure(
    height: int = 300, title: str | None = "sign forward, STE backward", show_htanh: bool = False
) -> go.Figure:
    """sign(x) (forward) against its straight-through gradients on x in [-2, 2].

    Traces: sign(x); the hard-tanh STE gradient 1{|x| <= 1} (paper eq. 4); the identity STE
    gradient 1 (dashed); optionally Htanh(x) itself (dotted). The STE window is shaded.
    """
    fig = _figure(title, height)
    fig.add_vrect(x0=-1, x1=1, fillcolor=WINDOW_COLOR, opacity=0.18, line_width=0, layer="below")
    fig.add_trace(
        go.Scatter(
            x=[-2, 0, 0, 2],
            y=[-1, -1, 1, 1],
            mode="lines",
            name="forward: sign(x)",
            line=dict(color=PLUS_COLOR, width=3),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[-2, -1, -1, 1, 1, 2],
            y=[0, 0, 1, 1, 0, 0],
            mode="lines",
            name="backward: 1{|x| ≤ 1} (hard tanh)",
            line=dict(color=HIGHLIGHT_COLOR, width=2.5),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[-2, 2],
            y=[1, 1],
            mode="lines",
            name="identity STE: 1",
            line=dict(color=FLOAT_COLOR, width=2, dash="dash"),
        )
    )
    if show_htanh:
        fig.add_trace(
            go.Scatter(
                x=[-2, -1, 1, 2],
                y=[-1, -1, 1, 1],
                mode="lines",
                name="Htanh(x)",
                line=dict(color=PALETTE[2], width=1.5, dash="dot"),
            )
        )
    fig.update_xaxes(range=[-2, 2], dtick=0.5, title_text="x")
    fig.update_yaxes(range=[-1.25, 1.25], dtick=0.5)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0))
    fig.update_layout(margin=dict(b=70))
    return fig


_WALK_COLORS = (MINUS_COLOR, PLUS_COLOR, "#ffffff", HIGHLIGHT_COLOR, "#eef0f3")  # -1, +1, same, differ, sum


def _walkthrough_rows(example: Mapping[str, Any]) -> list[tuple[str, list[int], list[str], str]]:
    """The walkthrough's rows: (label, colour category per cell, texts, Σ text)."""
    a, b = list(example["a"]), list(example["b"])
    return [
        ("a", [int(v > 0) for v in a], [f"{v:+d}" for v in a], ""),
        ("b", [int(v > 0) for v in b], [f"{v:+d}" for v in b], ""),
        ("bits of a", list(example["a_bits"]), [str(v) for v in example["a_bits"]], ""),
        ("bits of b", list(example["b_bits"]), [str(v) for v in example["b_bits"]], ""),
        (
            "a XOR b",
            [2 + v for v in example["xor_bits"]],
            [str(v) for v in example["xor_bits"]],
            f"{example['popcount']}",
        ),
        (
            "a × b",
            [int(x * y > 0) for x, y in zip(a, b)],
            [f"{x * y:+d}" for x, y in zip(a, b)],
            f"{sum(x * y for x, y in zip(a, b))}",
        ),
    ]


def _cell_texts(fig: go.Figure, rows: list, positions: list[int], k: int) -> None:
    """Every cell's text (the Σ column in bold), dark on white and grey cells."""
    dark_text = {2, 4}  # white and grey cells get dark text
    # one update with every cell's text: fig.add_annotation per cell re-validates the layout each time
    # (0.6 s for 66 cells, the Efficiency page's slowest step at first visit; this takes 0.02 s)
    fig.update_layout(
        annotations=[
            dict(
                x=x,
                y=row_label,
                text=f"<b>{text}</b>" if x == k else text,
                showarrow=False,
                font=dict(size=13, color="#262730" if category in dark_text else "#ffffff"),
            )
            for row_label, categories, texts, total in rows
            for x, category, text in zip(positions, categories + [4], texts + [total])
            if text
        ]
    )


def xnor_walkthrough(example: Mapping[str, Any], *, title: str | None = None, height: int | None = None) -> go.Figure:
    """One ±1 dot product the XNOR way, as a grid: a row per step, a column per element and a
    last column "Σ" with the sums.

    ``example`` is :func:`bnn.xnor.xnor_dot_example`'s dict. Rows, top to bottom: ``a`` and ``b``
    (±1), their bits (+1 stored as 1, -1 as 0; same colours), ``a XOR b`` (orange where the signs
    differ; Σ = popcount) and the plain products ``a × b`` (Σ = the ordinary dot product). The
    default title is the identity ``K - 2·popcount = dot``.
    """
    k = len(example["a"])
    rows = _walkthrough_rows(example)
    labels = [row[0] for row in rows]
    columns = [str(i + 1) for i in range(k)] + ["Σ"]
    z = [row[1] + [4] for row in rows]
    n = len(_WALK_COLORS)
    scale = []
    for i, color in enumerate(_WALK_COLORS):
        scale += [[i / n, color], [(i + 1) / n, color]]
    if title is None:
        title = f"dot = K − 2·popcount(a XOR b) = {k} − 2·{example['popcount']} = {example['dot']}"
    # room at the top for the title above the column numbers (the x axis is on top)
    fig = _figure(title, height or 94 + 40 * len(rows), margin=dict(l=80, r=8, t=60, b=8))
    positions = list(range(k + 1))  # numeric x: a category axis would read "1" as the index 1
    fig.add_trace(
        go.Heatmap(
            z=z,
            x=positions,
            y=labels,
            zmin=-0.5,
            zmax=n - 0.5,
            colorscale=scale,
            showscale=False,
            xgap=2,
            ygap=2,
            hoverinfo="skip",
        )
    )
    _cell_texts(fig, rows, positions, k)
    fig.update_xaxes(
        side="top",
        showgrid=False,
        zeroline=False,
        tickfont=dict(size=11),
        tickvals=positions,
        ticktext=columns,
        range=[-0.5, k + 0.5],
    )
    fig.update_yaxes(autorange="reversed", showgrid=False, zeroline=False, type="category", ticksuffix="  ")
    return fig
