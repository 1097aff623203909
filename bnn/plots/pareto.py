"""A study's answer in one chart: test accuracy per variant against its cost (:mod:`bnn.jobs.studies`).

The cost is either the bits its parameters take (fewer is cheaper, on a log axis) or its share of
binary multiply-accumulates (more is cheaper: XNOR-popcounts instead of float MACs). Variants on
the Pareto front (no other variant is both cheaper and more accurate) are drawn in colour and
joined by a step line; the others are muted. Error bars show the spread over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from .common import HIGHLIGHT_COLOR, LEGEND_MARGIN, MUTED_COLOR, PLUS_COLOR, _figure

COSTS = {
    "bits": ("Parameter storage (bits, log scale)", True),
    "binary_mac_share": ("Share of binary MACs (XNOR-popcounts)", False),
}


def pareto_front(points: Sequence[Mapping], cost: str) -> list[int]:
    """Indices of the points no other point beats in both accuracy and cost, cheapest first."""
    cheaper_is_lower = COSTS[cost][1]

    def cheapness(point: Mapping) -> float:
        return -point[cost] if cheaper_is_lower else point[cost]

    scored = [i for i, p in enumerate(points) if p.get("test_accuracy") is not None]
    front = [
        i
        for i in scored
        if not any(
            cheapness(points[j]) >= cheapness(points[i])
            and points[j]["test_accuracy"] >= points[i]["test_accuracy"]
            and (cheapness(points[j]), points[j]["test_accuracy"]) != (cheapness(points[i]), points[i]["test_accuracy"])
            for j in scored
        )
    ]
    return sorted(front, key=lambda i: -cheapness(points[i]))


def study_chart(points: Sequence[Mapping], cost: str = "bits", *, title: str | None = None, height: int = 420):
    """Test accuracy of each variant against ``cost`` ("bits" or "binary_mac_share"). ``points``:
    one mapping per variant with ``name``, ``test_accuracy`` (None before it finished),
    ``test_accuracy_spread`` (None without seeds), ``changes`` and the cost keys
    (:meth:`bnn.jobs.study_results.VariantResult.to_dict`)."""
    axis_title, log_x = COSTS[cost]
    fig = _figure(title, height, margin=LEGEND_MARGIN)
    done = [p for p in points if p.get("test_accuracy") is not None]
    front = set(pareto_front(done, cost))
    ordered = pareto_front(done, cost)
    if len(ordered) > 1:
        fig.add_trace(
            go.Scatter(
                x=[done[i][cost] for i in ordered],
                y=[done[i]["test_accuracy"] for i in ordered],
                mode="lines",
                line=dict(color=PLUS_COLOR, width=1.5, dash="dot", shape="hv" if log_x else "vh"),
                name="Pareto front",
                hoverinfo="skip",
            )
        )
    labels = _labels(done, cost)
    for on_front in (False, True):
        indices = [i for i in range(len(done)) if (i in front) == on_front]
        chosen = [done[i] for i in indices]
        if not chosen:
            continue
        spreads = [p.get("test_accuracy_spread") for p in chosen]
        fig.add_trace(
            go.Scatter(
                x=[p[cost] for p in chosen],
                y=[p["test_accuracy"] for p in chosen],
                mode="markers+text",
                text=[labels[i] for i in indices],
                textposition="top right" if on_front else "middle right",  # above the front's line
                textfont=dict(size=11, color="#262730" if on_front else "#6b7280"),
                marker=dict(size=11 if on_front else 9, color=HIGHLIGHT_COLOR if on_front else MUTED_COLOR),
                error_y=dict(type="data", array=[s or 0 for s in spreads], visible=any(spreads), thickness=1.2),
                name="on the Pareto front" if on_front else "beaten by a cheaper, better variant",
                customdata=[[p["name"], "; ".join(p.get("changes") or []) or "the base settings"] for p in chosen],
                hovertext=[p["name"] for p in chosen],
                hovertemplate="<b>%{hovertext}</b><br>%{customdata[1]}<br>test accuracy %{y:.2f}%<extra></extra>",
            )
        )
    fig.update_xaxes(title_text=axis_title, type="log" if log_x else "linear")
    if log_x and done:
        low, high = (math.log10(max(f(p[cost] for p in done), 1)) for f in (min, max))
        fig.update_xaxes(tickformat="~s", range=[low - 0.15, high + 0.2 + 0.15 * (high - low)])  # room for labels
    else:
        fig.update_xaxes(tickformat=".0%", tickvals=[0, 0.2, 0.4, 0.6, 0.8, 1], range=[-0.05, 1.3])  # labels' room
    fig.update_yaxes(title_text="Test accuracy (%)")
    if done:
        low, high = min(p["test_accuracy"] for p in done), max(p["test_accuracy"] for p in done)
        span, lines = max(high - low, 1.0), max(label.count("<br>") + 1 for label in labels)
        fig.update_yaxes(range=[low - 0.08 * span, high + span * (0.06 + 0.075 * lines)])  # room for the labels
    if not done:
        message = "No variant has finished yet"
        fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return fig


def _labels(points: Sequence[Mapping], cost: str) -> list[str]:
    """A text label per point; points that would print on top of each other (about the same cost
    and accuracy) share one label, on the most accurate of them, their names one per line."""
    log_x = COSTS[cost][1]
    accuracies = [p["test_accuracy"] for p in points]
    near_y = max((max(accuracies) - min(accuracies)) * 0.06, 0.05) if points else 0.0

    def x(point: Mapping) -> float:
        return math.log10(max(point[cost], 1)) if log_x else point[cost] * 4

    labels = [""] * len(points)
    order = sorted(range(len(points)), key=lambda i: -points[i]["test_accuracy"])
    owner: dict[int, int] = {}
    for i in order:
        near = [j for j in owner if owner[j] == j and abs(x(points[j]) - x(points[i])) < 0.1]
        near = [
            j
            for j in near
            if abs(points[j]["test_accuracy"] - points[i]["test_accuracy"]) < near_y * (1 + labels[j].count("<br>"))
        ]
        owner[i] = near[0] if near else i
        labels[owner[i]] += ("<br>" if labels[owner[i]] else "") + points[i]["name"]
    return labels
