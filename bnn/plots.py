"""Plotly figure builders for the BNN Playground pages.

Every function returns a ``plotly.graph_objects.Figure`` and never imports Streamlit: the pages
call ``st.plotly_chart(fig, theme=None)`` (``theme=None`` keeps this module's look instead of
Streamlit's theme). One template (:data:`TEMPLATE`) and one palette give every figure the same
clean look; +1 is always :data:`PLUS_COLOR` (blue) and -1 :data:`MINUS_COLOR` (red), with the
diverging :data:`DIVERGING` colorscale anchored at -1 and +1 (``zmin=-1, zmax=1``).

Inputs may be torch tensors, numpy arrays or sequences; nothing here needs a gradient.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from .summary import format_bytes

# --- look -----------------------------------------------------------------------------------

PLUS_COLOR = "#2166ac"  # +1 (blue)
MINUS_COLOR = "#b2182b"  # -1 (red)
ZERO_COLOR = "#f7f7f7"  # 0 in diverging scales
HIGHLIGHT_COLOR = "#e08214"  # the one thing to look at (predicted class, collapse)
MUTED_COLOR = "#b8bec6"  # everything else
FLOAT_COLOR = "#8c8c8c"  # 32-bit sizes
WINDOW_COLOR = "#fdb863"  # the STE window |x| <= 1
GRID_COLOR = "#e5e7eb"
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

TEMPLATE = go.layout.Template(pio.templates["plotly_white"])
TEMPLATE.layout.update(
    font=dict(family="Inter, -apple-system, Segoe UI, Helvetica, Arial, sans-serif", size=12, color="#262730"),
    title=dict(font=dict(size=14), x=0.01, xanchor="left", y=0.98, yanchor="top"),
    margin=dict(l=48, r=12, t=36, b=36),
    colorway=list(PALETTE),
    legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0, font=dict(size=11)),
    hoverlabel=dict(font_size=11),
    xaxis=dict(gridcolor=GRID_COLOR, zerolinecolor="#cbd0d6"),
    yaxis=dict(gridcolor=GRID_COLOR, zerolinecolor="#cbd0d6"),
)

IMAGE_MARGIN = dict(l=4, r=4, t=30, b=4)
LEGEND_MARGIN = dict(t=60)  # a top legend sits under the title, clear of Plotly's modebar


def _figure(title: str | None, height: int, margin: Mapping[str, int] | None = None) -> go.Figure:
    """An empty figure with the template, a short title (or none) and tight margins."""
    m = dict(margin or {})
    if not title:
        m["t"] = 8
    fig = go.Figure()
    fig.update_layout(template=TEMPLATE, height=height, title_text=title or None, margin=m)
    return fig


def _np(values: Any) -> np.ndarray:
    """torch tensor / numpy array / sequence -> float64 numpy array (detached, on the CPU)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


def _image_axes(fig: go.Figure) -> None:
    """Upright images: row 0 at the top, square pixels, no axes."""
    fig.update_xaxes(visible=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(
        visible=False, showgrid=False, zeroline=False, autorange="reversed", scaleanchor="x", constrain="domain"
    )


def _grid_shape(n: int, cols: int | None = None) -> tuple[int, int]:
    """rows, cols of a near-square grid holding ``n`` cells (``cols`` fixed if given)."""
    n = max(n, 1)
    cols = max(1, min(cols or math.ceil(math.sqrt(n)), n))
    return math.ceil(n / cols), cols


def _mosaic(tiles: np.ndarray, cols: int, gap: int = 1, band: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tile ``(N, h, w)`` into one array with ``gap`` NaN separators (shown as background) and
    a NaN ``band`` under every row; also returns the tile index of every cell (-1 in gaps)."""
    n, h, w = tiles.shape
    rows, cols = _grid_shape(n, cols)
    pitch_y, pitch_x = h + band + gap, w + gap
    mosaic = np.full((rows * pitch_y - gap, cols * pitch_x - gap), np.nan)
    owner = np.full(mosaic.shape, -1, dtype=np.int64)
    for i in range(n):
        r, c = divmod(i, cols)
        y0, x0 = r * pitch_y, c * pitch_x
        mosaic[y0 : y0 + h, x0 : x0 + w] = tiles[i]
        owner[y0 : y0 + h, x0 : x0 + w] = i
    return mosaic, owner


# --- the straight-through estimator -----------------------------------------------------------


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


# --- weights and activations ------------------------------------------------------------------


def _weight_tiles(weights: Any, image_shape: tuple[int, int] | None) -> np.ndarray:
    w = _np(weights)
    if w.ndim == 4:  # conv (out, in, k, k): first input channel
        return w[:, 0]
    if w.ndim == 3:
        return w
    w = w.reshape(w.shape[0], -1)
    if image_shape is None:
        side = int(round(math.sqrt(w.shape[1])))
        if side * side != w.shape[1]:
            raise ValueError(f"cannot show rows of {w.shape[1]} weights as square images; pass image_shape")
        image_shape = (side, side)
    return w.reshape(w.shape[0], *image_shape)


def weight_grid(
    weights: Any,
    n: int = 64,
    binary: bool = True,
    *,
    title: str | None = None,
    height: int = 360,
    cols: int | None = None,
    image_shape: tuple[int, int] | None = None,
) -> go.Figure:
    """The first ``n`` units' incoming weights as a mosaic of images (one heatmap trace).

    ``weights`` is ``(units, 784)`` (each row a 28×28 image), ``(units, H, W)``, or conv weights
    ``(out, in, k, k)`` (first input channel). ``binary``: show sign(W) in the two ±1 colours;
    else the latent values on the diverging scale, symmetric around 0. Thin gaps separate units.
    """
    tiles = _weight_tiles(weights, image_shape)[: max(1, int(n))]
    if binary:
        tiles = np.where(np.isnan(tiles), np.nan, np.where(tiles >= 0, 1.0, -1.0))  # sign(0) = +1
    _, cols = _grid_shape(len(tiles), cols)
    z, owner = _mosaic(tiles, cols, gap=1)
    if binary:
        color = dict(colorscale=BINARY, zmin=-1, zmax=1, colorbar=dict(tickvals=[-1, 1], ticktext=["−1", "+1"]))
        hover = "unit %{customdata}<br>sign(w) = %{z:+.0f}<extra></extra>"
    else:
        bound = float(np.nanmax(np.abs(tiles))) if np.isfinite(tiles).any() else 1.0
        bound = bound if bound > 0 else 1.0
        color = dict(colorscale=DIVERGING, zmin=-bound, zmax=bound, zmid=0)
        hover = "unit %{customdata}<br>w = %{z:.3f}<extra></extra>"
    fig = _figure(
        title if title is not None else ("First-layer weights, sign(W)" if binary else "First-layer latent weights"),
        height,
        margin=dict(IMAGE_MARGIN, r=8),
    )
    fig.add_trace(
        go.Heatmap(
            z=z,
            customdata=owner,
            hovertemplate=hover,
            hoverongaps=False,
            showscale=True,
            colorbar=dict(thickness=10, len=0.8, outlinewidth=0, **color.pop("colorbar", {})),
            **color,
        )
    )
    _image_axes(fig)
    return fig


def activation_grid(post: Any, title: str | None = None, *, height: int = 240, cols: int | None = None) -> go.Figure:
    """A layer's activations for one image as a near-square grid of cells (-1 red, +1 blue).

    ``post`` is ``(units,)`` (or any shape, flattened). Real values are shown on the same
    diverging scale, clipped to [-1, 1] in colour.
    """
    values = _np(post).reshape(-1)
    n = values.size
    rows, cols = _grid_shape(n, cols)
    z = np.full(rows * cols, np.nan)
    z[:n] = values
    index = np.arange(rows * cols).reshape(rows, cols)
    gap = 1 if n <= 1024 else 0
    fig = _figure(title, height, margin=IMAGE_MARGIN)
    fig.add_trace(
        go.Heatmap(
            z=z.reshape(rows, cols),
            customdata=index,
            colorscale=DIVERGING,
            zmin=-1,
            zmax=1,
            showscale=False,
            xgap=gap,
            ygap=gap,
            hoverongaps=False,
            hovertemplate="unit %{customdata}: %{z:+.3g}<extra></extra>",
        )
    )
    _image_axes(fig)
    return fig


def digit_image(img28: Any, title: str | None = None, *, height: int = 200) -> go.Figure:
    """A grayscale digit (dark ink on white), upright, square pixels, no axes.

    Pixels in [0, 1] are shown as such; an image with negative values (scaled to [-1, 1]) is
    shown on [-1, 1].
    """
    z = _np(img28)
    side = int(round(math.sqrt(z.size)))
    z = z.reshape(z.shape[-2:]) if z.ndim >= 2 else z.reshape(side, side)
    low = -1.0 if np.nanmin(z) < 0 else 0.0
    fig = _figure(title, height, margin=IMAGE_MARGIN)
    fig.add_trace(
        go.Heatmap(
            z=z,
            colorscale=INK,
            zmin=low,
            zmax=1.0,
            showscale=False,
            hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>",
        )
    )
    h, w = z.shape
    fig.add_shape(type="rect", x0=-0.5, y0=-0.5, x1=w - 0.5, y1=h - 0.5, line=dict(color="#d0d4da", width=1))
    _image_axes(fig)
    return fig


def image_gallery(
    images: Any,
    captions: Sequence[str],
    cols: int = 8,
    *,
    title: str | None = None,
    height: int | None = None,
    caption_size: int = 10,
) -> go.Figure:
    """Small digits ``(N, 28, 28)`` in one mosaic heatmap with a caption under each.

    Keep captions short (e.g. "4 → 9" or "true 4 → pred 9" with ≤ 8 columns).
    """
    tiles = _np(images)
    if tiles.ndim == 4:  # (N, 1, H, W)
        tiles = tiles[:, 0]
    n = len(tiles)
    rows, cols = _grid_shape(n, cols)
    if height is None:
        height = 40 + 110 * rows if n else 80
    fig = _figure(title, height, margin=IMAGE_MARGIN)
    if n == 0:
        fig.add_annotation(text="nothing to show", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        return fig
    h, w = tiles.shape[1:]
    band = max(6, h // 3)
    gap = 2
    z, owner = _mosaic(tiles, cols, gap=gap, band=band)
    low = -1.0 if np.nanmin(tiles) < 0 else 0.0
    fig.add_trace(
        go.Heatmap(
            z=z,
            customdata=owner,
            colorscale=INK,
            zmin=low,
            zmax=1.0,
            showscale=False,
            hoverongaps=False,
            hovertemplate="image %{customdata}<extra></extra>",
        )
    )
    for i, caption in enumerate(list(captions)[:n]):
        r, c = divmod(i, cols)
        fig.add_annotation(
            x=c * (w + gap) + (w - 1) / 2,
            y=r * (h + band + gap) + h - 0.5 + band / 2,
            text=str(caption),
            showarrow=False,
            font=dict(size=caption_size),
            xanchor="center",
            yanchor="middle",
        )
    _image_axes(fig)
    return fig


# --- distributions --------------------------------------------------------------------------


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
    ``annotation``: a note in the top-left corner. Non-finite values are left out and counted
    in the note.
    """
    x = _np(values).reshape(-1)
    finite = np.isfinite(x)
    dropped = int(x.size - finite.sum())
    x = x[finite]
    fig = _figure(title, height)
    if window is not None:
        fig.add_vrect(
            x0=window[0],
            x1=window[1],
            fillcolor=WINDOW_COLOR,
            opacity=0.2,
            line_width=0,
            layer="below",
            annotation_text=window_label or None,
            annotation_position="top right",
            annotation_font=dict(size=10, color="#8a5a00"),
        )
    if clip_lines:
        for bound in clip_bounds:
            fig.add_vline(x=bound, line=dict(color="#6b7280", width=1, dash="dash"))
    fig.add_trace(go.Histogram(x=x, nbinsx=nbins, marker=dict(color=color, line=dict(width=0)), opacity=0.9, name=""))
    note = annotation or ""
    if dropped:
        note = (note + "<br>" if note else "") + f"{dropped:,} non-finite values not shown"
    if note:
        fig.add_annotation(
            text=note,
            xref="paper",
            yref="paper",
            x=0.01,
            y=0.98,
            xanchor="left",
            yanchor="top",
            showarrow=False,
            align="left",
            font=dict(size=11),
            bgcolor="rgba(255,255,255,0.7)",
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
    fig.update_xaxes(type="category", title_text=None)
    fig.update_yaxes(range=[0, 1.12], tickformat=".0%", dtick=0.25)
    fig.update_layout(showlegend=False, bargap=0.25)
    return fig


def prediction_histogram(
    counts: Sequence[int] | Any,
    *,
    true_share: float = 0.1,
    title: str | None = "Predicted classes",
    height: int = 240,
) -> go.Figure:
    """Count of predictions per class, with a dashed line at the count a class would get at
    its true share (MNIST: about 10% each). A class predicted more than twice as often as its
    share is highlighted: the "always class 0" collapse shows as one tall orange bar."""
    c = _np(counts).reshape(-1)
    total = float(c.sum())
    expected = total * true_share
    colors = [HIGHLIGHT_COLOR if total and v > 2 * expected else PLUS_COLOR for v in c]
    fig = _figure(title, height)
    fig.add_trace(
        go.Bar(
            x=[str(i) for i in range(c.size)],
            y=c,
            marker_color=colors,
            text=[f"{int(v):,}" for v in c],
            textposition="outside",
            cliponaxis=False,
            customdata=(c / total if total else np.zeros_like(c)),
            hovertemplate="class %{x}: %{y:,} predictions (%{customdata:.1%})<extra></extra>",
        )
    )
    if total:
        fig.add_hline(
            y=expected,
            line=dict(color="#262730", width=1.5, dash="dash"),
            annotation_text=f"true share<br>{true_share:.0%}",
            annotation_position="right",
            annotation_font=dict(size=10),
        )
        fig.update_layout(margin=dict(r=72))
    fig.update_xaxes(type="category", title_text="predicted class")
    fig.update_yaxes(title_text="count", range=[0, max(float(c.max()) if c.size else 1.0, expected, 1.0) * 1.15])
    fig.update_layout(showlegend=False, bargap=0.25)
    return fig


def confusion_figure(
    matrix: Any,
    *,
    title: str | None = "Confusion matrix",
    height: int = 380,
    normalize: bool = False,
) -> go.Figure:
    """Annotated heatmap, true class on y (0 at the top), predicted class on x.

    ``normalize``: colour and label each row as shares of that true class.
    """
    m = _np(matrix)
    if normalize:
        sums = m.sum(axis=1, keepdims=True)
        z = np.divide(m, sums, out=np.zeros_like(m), where=sums > 0)
        text, hover = "%{z:.0%}", "true %{y}, pred %{x}: %{z:.1%}<extra></extra>"
    else:
        z = m
        text, hover = "%{z:,}", "true %{y}, pred %{x}: %{z:,}<extra></extra>"
    labels = [str(i) for i in range(m.shape[0])]
    fig = _figure(title, height, margin=dict(l=56, r=12, t=36, b=48))
    fig.add_trace(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            colorscale=SEQUENTIAL,
            showscale=False,
            texttemplate=text,
            textfont=dict(size=10),
            hovertemplate=hover,
            xgap=1,
            ygap=1,
        )
    )
    fig.update_xaxes(type="category", title_text="predicted", side="bottom", showgrid=False)
    fig.update_yaxes(type="category", title_text="true", autorange="reversed", showgrid=False)
    return fig


# --- training curves --------------------------------------------------------------------------


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
    records: Sequence[Mapping[str, Any]],
    *,
    title: str | None = "Weight sign flips per step",
    height: int = 280,
    log_y: bool = False,
) -> go.Figure:
    """``records``: dicts with "step" and "flip_rate": {layer: fraction of its weights that
    changed sign}; one line per layer (in order of first appearance), y in percent."""
    layers: list[str] = []
    for record in records:
        for name in record.get("flip_rate", {}):
            if name not in layers:
                layers.append(name)
    series = {}
    for name in layers:
        points = [(r["step"], r["flip_rate"][name]) for r in records if name in r.get("flip_rate", {})]
        series[name] = ([p[0] for p in points], [p[1] for p in points])
    fig = metric_lines(series, title, "weights flipped", log_y, height=height)
    fig.update_yaxes(tickformat=".2%" if not log_y else ".1e")
    fig.update_traces(hovertemplate="%{y:.3%}")
    fig.update_layout(showlegend=True, margin=LEGEND_MARGIN)
    return fig


# --- sizes ------------------------------------------------------------------------------------


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


# --- live training and run comparison ---------------------------------------------------------


def thin_records(records: Sequence[Mapping[str, Any]], max_points: int = 300) -> list[Mapping[str, Any]]:
    """At most ``max_points`` evenly spaced records, always keeping the last (cheap live redraws)."""
    records = list(records)
    if len(records) <= max_points:
        return records
    stride = math.ceil(len(records) / max_points)
    kept = records[::stride]
    return kept if kept[-1] is records[-1] else kept + [records[-1]]


_CURVES = {  # metric -> (record key, eval key, y title, log y)
    "loss": ("loss", "loss", "loss", False),
    "accuracy": ("batch_accuracy", "accuracy", "accuracy (%)", False),
    "lr": ("lr", None, "learning rate", True),
}


def training_curve_series(
    records: Sequence[Mapping[str, Any]],
    evals: Sequence[Mapping[str, Any]],
    metric: str,
    max_points: int = 300,
) -> dict[str, tuple[list[float], list[float | None]]]:
    """The lines of :func:`training_curves` by trace name: "train batches" (the records, thinned
    to ``max_points``), then "test set" and "train set" evaluations when there are any."""
    record_key, eval_key, _, log_y = _CURVES[metric]
    kept = thin_records(records, max_points)
    values = [r.get(record_key, float("nan")) for r in kept]
    series = {"train batches": ([r["step"] for r in kept], _clean(values, log_y))}
    for split in ("test", "train") if eval_key else ():
        points = [(e["step"], e.get(eval_key)) for e in evals if e.get("split") == split]
        if points:
            ys = [v if v is not None else float("nan") for _, v in points]
            series[f"{split} set"] = ([p[0] for p in points], _clean(ys, log_y))
    return series


def flip_rate_series(records: Sequence[Mapping[str, Any]], max_points: int = 300) -> dict[str, tuple[list, list]]:
    """The lines of :func:`flip_rate_lines` by layer name (records thinned to ``max_points``)."""
    series: dict[str, tuple[list, list]] = {}
    for record in thin_records(records, max_points):
        for name, rate in record.get("flip_rate", {}).items():
            xs, ys = series.setdefault(name, ([], []))
            xs.append(record["step"])
            ys.append(rate)
    return series


def training_curves(
    records: Sequence[Mapping[str, Any]],
    evals: Sequence[Mapping[str, Any]],
    metric: str,
    *,
    title: str | None = None,
    height: int = 260,
    max_points: int = 300,
) -> go.Figure:
    """One training metric over steps: the per-record value as a line ("train batches") and the
    evaluations (test, and train at the end) as markers. ``metric``: "loss", "accuracy" or "lr".
    Records are thinned to ``max_points``. A live chart can keep the figure and refresh its
    traces from :func:`training_curve_series`, which is far cheaper than building it again."""
    _, _, y_title, log_y = _CURVES[metric]
    series = training_curve_series(records, evals, metric, max_points)
    fig = metric_lines({"train batches": series.pop("train batches")}, title, y_title, log_y, height=height)
    for name, (xs, ys) in series.items():
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers",
                name=name,
                marker=dict(size=8, symbol="circle" if name == "test set" else "diamond"),
                line=dict(color=PALETTE[1 if name == "test set" else 2], width=2),
            )
        )
    if _CURVES[metric][1]:
        fig.update_layout(showlegend=True, margin=LEGEND_MARGIN)
    if metric == "accuracy":
        fig.update_yaxes(range=[0, 100])
    if metric == "lr":
        fig.update_yaxes(exponentformat="e")
    return fig


def run_overlay(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str | None,
    yaxis_title: str | None,
    *,
    xaxis_title: str = "epoch",
    log_y: bool = False,
    height: int = 320,
) -> go.Figure:
    """Curves of several runs on one chart; short curves (a few evaluations) get markers, so a
    one-point curve still shows."""
    fig = metric_lines(series, title, yaxis_title, log_y, xaxis_title=xaxis_title, height=height)
    for trace, (xs, _) in zip(fig.data, series.values()):
        if len(xs) <= 30:
            trace.update(mode="lines+markers", marker=dict(size=6))
    fig.update_layout(showlegend=True, margin=LEGEND_MARGIN)
    return fig


# --- XNOR-popcount walk-through -----------------------------------------------------------------

_WALK_COLORS = (MINUS_COLOR, PLUS_COLOR, "#ffffff", HIGHLIGHT_COLOR, "#eef0f3")  # -1, +1, same, differ, sum


def xnor_walkthrough(example: Mapping[str, Any], *, title: str | None = None, height: int | None = None) -> go.Figure:
    """One ±1 dot product the XNOR way, as a grid: a row per step, a column per element and a
    last column "Σ" with the sums.

    ``example`` is :func:`bnn.xnor.xnor_dot_example`'s dict. Rows, top to bottom: ``a`` and ``b``
    (±1), their bits (+1 stored as 1, -1 as 0; same colours), ``a XOR b`` (orange where the signs
    differ; Σ = popcount) and the plain products ``a × b`` (Σ = the ordinary dot product). The
    default title is the identity ``K - 2·popcount = dot``.
    """
    a, b = list(example["a"]), list(example["b"])
    k = len(a)
    rows: list[tuple[str, list[int], list[str], str]] = [  # label, colour category per cell, texts, Σ text
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
    labels = [row[0] for row in rows]
    columns = [str(i + 1) for i in range(k)] + ["Σ"]
    z = [row[1] + [4] for row in rows]
    n = len(_WALK_COLORS)
    scale = []
    for i, color in enumerate(_WALK_COLORS):
        scale += [[i / n, color], [(i + 1) / n, color]]
    if title is None:
        title = f"dot = K − 2·popcount(a XOR b) = {k} − 2·{example['popcount']} = {example['dot']}"
    fig = _figure(title, height or 70 + 40 * len(rows), margin=dict(l=80, r=8, t=36, b=8))
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
    dark_text = {2, 4}  # white and grey cells get dark text
    for row_label, categories, texts, total in rows:
        for x, category, text in zip(positions, categories + [4], texts + [total]):
            if text:
                fig.add_annotation(
                    x=x,
                    y=row_label,
                    text=f"<b>{text}</b>" if x == k else text,
                    showarrow=False,
                    font=dict(size=13, color="#262730" if category in dark_text else "#ffffff"),
                )
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


_LIVE_PANELS = {"loss": (1, 1), "accuracy": (1, 2), "lr": (2, 1), "flips": (2, 2)}
_LIVE_COLORS = {"train batches": PALETTE[0], "test set": PALETTE[1], "train set": PALETTE[2]}


def live_training_series(
    records: Sequence[Mapping[str, Any]], evals: Sequence[Mapping[str, Any]], max_points: int = 150
) -> dict[str, tuple[list, list]]:
    """Every line of :func:`live_training_figure`, keyed by its trace uid "panel/name"."""
    series = {}
    for panel in ("loss", "accuracy", "lr"):
        for name, line in training_curve_series(records, evals, panel, max_points).items():
            series[f"{panel}/{name}"] = line
    for layer, line in flip_rate_series(records, max_points).items():
        series[f"flips/{layer}"] = line
    return series


def live_training_figure(
    records: Sequence[Mapping[str, Any]],
    evals: Sequence[Mapping[str, Any]],
    *,
    height: int = 560,
    max_points: int = 150,
    total_steps: int | None = None,
    lr_range: tuple[float, float] | None = None,
) -> go.Figure:
    """Loss, accuracy (%), learning rate and per-layer weight sign-flip rate of a run, as four
    panels of one figure: one redraw per refresh instead of four. Per-step records are lines,
    evaluations lines with markers. Each trace's uid is its key in
    :func:`live_training_series`, so a live view can refresh the data in place.

    For a run still training, ``total_steps`` fixes the step axes at 0..total_steps and
    ``lr_range`` (the schedule's two ends) the learning-rate axis: new points then fall inside
    the axes, and a live view can move the lines without redrawing the axes."""
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=2,
        cols=2,
        vertical_spacing=0.17,
        horizontal_spacing=0.09,
        subplot_titles=("Loss", "Accuracy (%)", "Learning rate", "Weight sign flips per record"),
    )
    fig.update_layout(
        template=TEMPLATE,
        height=height,
        margin=dict(l=48, r=12, t=84, b=36),
        hovermode="x unified",
        legend=dict(orientation="h", x=0, xanchor="left", y=1.06, yanchor="bottom"),
    )
    shown: set[str] = set()
    layers = 0
    for uid, (xs, ys) in live_training_series(records, evals, max_points).items():
        panel, name = uid.split("/", 1)
        if panel == "flips":
            color, layers = PALETTE[(3 + layers) % len(PALETTE)], layers + 1
        else:
            color = _LIVE_COLORS[name]
        marked = name in ("test set", "train set")
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                uid=uid,
                name=name,
                legendgroup=name,
                showlegend=name not in shown,
                mode="lines+markers" if marked else "lines",
                line=dict(color=color, width=2),
                marker=dict(size=7),
                connectgaps=False,
            ),
            *_LIVE_PANELS[panel],
        )
        shown.add(name)
    if not layers:
        x_domain, y_domain = fig.layout.xaxis4.domain, fig.layout.yaxis4.domain
        fig.add_annotation(
            text="no binarized weights: nothing to flip",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=sum(x_domain) / 2,
            y=sum(y_domain) / 2,
            font=dict(color="#6b7280"),
        )
        fig.update_xaxes(visible=False, row=2, col=2)
        fig.update_yaxes(visible=False, row=2, col=2)
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
    # Fixed margins and no tick-label overflow checks: each redraw then skips measuring every
    # label (153 ms -> 59 ms per Plotly.react in headless Chromium); the margins fit the labels.
    fig.update_xaxes(automargin=False, ticklabeloverflow="allow")
    fig.update_yaxes(automargin=False, ticklabeloverflow="allow")
    fig.update_annotations(font_size=13)
    return fig
