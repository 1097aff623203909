"""What 1-bit weights save: model size at 32-bit float against 1-bit packed."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import plotly.graph_objects as go

from ..network.summary import format_bytes
from .common import FLOAT_COLOR, LEGEND_MARGIN, PLUS_COLOR, _figure


def size_bars(
    rows: Sequence[tuple[str, float, float]],
    *,
    title: str | None = "Model size: 1-bit packed against 32-bit float",
    height: int = 300,
) -> go.Figure:
    """Grouped bars per ``(label, float32_bytes, packed_bytes)`` on a linear axis, each model's
    sizes as a share of its float32 size (so models of any size compare: the packed bar's height
    is 1/ratio), labelled with the sizes (:func:`bnn.network.summary.format_bytes`); the ratio is written
    under each model's name, not over the bars."""
    full = [float(r[1]) for r in rows]
    packed = [float(r[2]) for r in rows]
    ratio = [f / p if p else float("nan") for f, p in zip(full, packed)]
    names = [html.escape(str(r[0]), quote=False) for r in rows]  # Plotly renders <a href> in ticks: text only
    labels = [f"{n}<br><b>{q:.1f}× smaller</b>" if math.isfinite(q) else n for n, q in zip(names, ratio)]
    fig = _figure(title, height)
    for name, values, color in (("32-bit float", full, FLOAT_COLOR), ("1-bit packed", packed, PLUS_COLOR)):
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[v / f if f else 0.0 for v, f in zip(values, full)],
                name=name,
                marker_color=color,
                text=[format_bytes(v) for v in values],
                textposition="outside",
                cliponaxis=False,
                customdata=ratio,
                hovertemplate="%{text} (" + name + ")<br>ratio %{customdata:.1f}×<extra></extra>",
            )
        )
    fig.update_yaxes(title_text="size, share of float32", tickformat=".0%", range=[0, 1.18], dtick=0.25)
    fig.update_xaxes(type="category")
    fig.update_layout(barmode="group", bargap=0.3, bargroupgap=0.05, margin=dict(LEGEND_MARGIN, b=56))
    return fig
