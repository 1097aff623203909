"""The shared look of every figure: one layout, one palette, +1 blue and -1 red.

+1 is always :data:`PLUS_COLOR` and -1 :data:`MINUS_COLOR`; the diverging :data:`DIVERGING`
colorscale is anchored at -1 and +1 (use ``zmin=-1, zmax=1``). Builders start from
:func:`_figure` and take torch tensors, numpy arrays or sequences through :func:`_np`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

PLUS_COLOR = "#2166ac"  # +1 (blue)
MINUS_COLOR = "#b2182b"  # -1 (red)
ZERO_COLOR = "#f7f7f7"  # 0 in diverging scales
HIGHLIGHT_COLOR = "#e08214"  # the one thing to look at (predicted class, collapse)
MUTED_COLOR = "#b8bec6"  # everything else
FLOAT_COLOR = "#8c8c8c"  # 32-bit sizes
WINDOW_COLOR = "#fdb863"  # the STE window |x| <= 1
PALETTE = (
    "#2166ac",
    "#e08214",
    "#1b9e77",
    "#7570b3",
    "#b2182b",
    "#66a61e",
    "#e7298a",
    "#a6761d",
    "#555555",
    "#17becf",
)
# diverging, -1 red .. 0 white .. +1 blue; use with zmin=-1, zmax=1 (or a symmetric range)
DIVERGING = [
    [0.0, MINUS_COLOR],
    [0.25, "#ef8a62"],
    [0.5, ZERO_COLOR],
    [0.75, "#67a9cf"],
    [1.0, PLUS_COLOR],
]
BINARY = [[0.0, MINUS_COLOR], [0.5, MINUS_COLOR], [0.5, PLUS_COLOR], [1.0, PLUS_COLOR]]
SEQUENTIAL = [[0.0, "#f7fbff"], [0.35, "#c6dbef"], [0.7, "#4292c6"], [1.0, "#08306b"]]
INK = [[0.0, "#ffffff"], [1.0, "#111111"]]  # digits: dark ink on white paper

# Layout only, no colours of paper, plot area, text or grid: those come from the theme around the
# figure (Streamlit's light or dark theme with ``st.plotly_chart(fig, theme="streamlit")``,
# Plotly's default template in a notebook), so a chart never keeps a white box on a dark page.
LAYOUT: dict[str, Any] = dict(
    font=dict(family="Inter, -apple-system, Segoe UI, Helvetica, Arial, sans-serif", size=12),
    title=dict(font=dict(size=14), x=0.01, xanchor="left", y=0.98, yanchor="top"),
    margin=dict(l=48, r=12, t=36, b=36),
    colorway=list(PALETTE),
    legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0, font=dict(size=11)),
    hoverlabel=dict(font_size=11),
)

IMAGE_MARGIN = dict(l=4, r=4, t=30, b=4)
LEGEND_MARGIN = dict(t=60)  # a top legend sits under the title, clear of Plotly's modebar


def _figure(title: str | None, height: int, margin: Mapping[str, int] | None = None) -> go.Figure:
    """An empty figure with the shared layout, a short title (or none) and tight margins."""
    m = dict(margin or {})
    if not title:
        m["t"] = 8
    fig = go.Figure()
    fig.update_layout(**LAYOUT)
    fig.update_layout(height=height, title_text=title or None, margin=m)
    return fig


def _np(values: Any) -> np.ndarray:
    """torch tensor / numpy array / sequence -> float64 numpy array (detached, on the CPU)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)
