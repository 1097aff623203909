"""What 1-bit weights save: model size at 32-bit float against 1-bit packed."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from ..summary import format_bytes
from .common import FLOAT_COLOR, LEGEND_MARGIN, PLUS_COLOR, _figure


def size_bars(
    rows: Sequence[tuple[str, float, float]],
    *,
    log_y: bool = True,
    title: str | None = "Model size: 32-bit vs 1-bit",
    height: int = 300,
) -> go.Figure:
    """Grouped bars per ``(label, float32_bytes, packed_bytes)``, labelled in kB / MB."""
    labels = [str(r[0]) for r in rows]
    full = [float(r[1]) for r in rows]
    packed = [float(r[2]) for r in rows]
    ratio = [f / p if p else float("nan") for f, p in zip(full, packed)]
    fig = _figure(title, height)
    for name, values, color in (("32-bit float", full, FLOAT_COLOR), ("1-bit packed", packed, PLUS_COLOR)):
        fig.add_trace(
            go.Bar(
                x=labels,
                y=values,
                name=name,
                marker_color=color,
                text=[format_bytes(v) for v in values],
                textposition="outside",
                cliponaxis=False,
                customdata=ratio,
                hovertemplate="%{x}: %{text} (" + name + ")<br>ratio %{customdata:.1f}×<extra></extra>",
            )
        )
    positive = [v for v in full + packed if v > 0]
    if log_y and positive:
        low, high = math.log10(min(positive)), math.log10(max(positive))
        fig.update_yaxes(type="log", range=[low - 0.4, high + 0.5])
    elif positive:
        fig.update_yaxes(range=[0, max(positive) * 1.15])
    fig.update_yaxes(title_text="bytes", tickformat="~s")
    fig.update_layout(barmode="group", bargap=0.3, bargroupgap=0.05, margin=LEGEND_MARGIN)
    return fig
