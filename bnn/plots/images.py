"""Images as heatmaps: digits, galleries of digits, weights as per-unit images and a layer's
activations, all upright with square pixels; many tiles share one heatmap trace (a mosaic)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .common import BINARY, DIVERGING, HIGHLIGHT_COLOR, IMAGE_MARGIN, INK, LAYOUT, MINUS_COLOR, PLUS_COLOR, _figure, _np


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
    else the latent values on the diverging scale, symmetric around 0 up to the 95th percentile of
    |w| (larger values saturate). Thin gaps separate units.
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
        # the 95th percentile of |w|, not the largest: a few weights at the clip would wash out the rest
        bound = float(np.nanpercentile(np.abs(tiles), 95)) if np.isfinite(tiles).any() else 1.0
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


def _ink_scale(pixels: np.ndarray) -> dict[str, Any]:
    """Dark ink on white: pixels in [0, 1] as such, images with negative values on [-1, 1]."""
    return dict(colorscale=INK, zmin=-1.0 if np.nanmin(pixels) < 0 else 0.0, zmax=1.0)


def digit_image(img28: Any, title: str | None = None, *, height: int = 200) -> go.Figure:
    """A grayscale digit (dark ink on white), upright, square pixels, no axes.

    Pixels in [0, 1] are shown as such; an image with negative values (scaled to [-1, 1]) is
    shown on [-1, 1].
    """
    z = _np(img28)
    side = int(round(math.sqrt(z.size)))
    z = z.reshape(z.shape[-2:]) if z.ndim >= 2 else z.reshape(side, side)
    fig = _figure(title, height, margin=IMAGE_MARGIN)
    fig.add_trace(
        go.Heatmap(
            z=z,
            **_ink_scale(z),
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
    fig.add_trace(
        go.Heatmap(
            z=z,
            customdata=owner,
            **_ink_scale(tiles),
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


def _group_rows(order: list[int], groups: Sequence[str], width: int) -> tuple[list[list[int]], list[str]]:
    """The units of ``order`` in rows of at most ``width``, each group starting a row; each row's label
    (the group's name on its first row)."""
    rows: list[list[int]] = []
    labels: list[str] = []
    start = 0
    while start < len(order):
        end = start
        while end < len(order) and groups[end] == groups[start]:
            end += 1
        for chunk in range(start, end, width):
            rows.append(order[chunk : min(chunk + width, end)])
            labels.append(str(groups[start]) if chunk == start else "")
        start = end
    return rows, labels


def _changed_marks(xs: list[int], ys: list[int]) -> go.Scatter:
    """Outlines around the cells whose sign changed since the previous drawing."""
    return go.Scatter(
        x=xs,
        y=ys,
        mode="markers",
        marker=dict(symbol="square-open", size=9, color=HIGHLIGHT_COLOR, line=dict(width=2)),
        hoverinfo="skip",
        name="changed since the previous drawing",
        showlegend=False,
    )


def _unit_grid(rows, width: int, values, pre_values, vote_values, changed) -> tuple[np.ndarray, np.ndarray, tuple]:
    """The heatmap's cells: each unit's output (NaN where there is none), its hover data (unit,
    pre-activation, distance to the flip, vote), and the (x, y) of the cells whose sign changed."""
    z = np.full((len(rows), width), np.nan)
    custom = np.full((len(rows), width, 4), np.nan)
    marks_x, marks_y = [], []
    for r, units in enumerate(rows):
        for c, unit in enumerate(units):
            z[r, c] = values[unit]
            custom[r, c] = (unit, pre_values[unit], abs(pre_values[unit]), vote_values[unit])
            if changed[unit]:
                marks_x.append(c)
                marks_y.append(r)
    return z, custom, (marks_x, marks_y)


def _outputs_heatmap(z: np.ndarray, custom: np.ndarray, hover: str) -> go.Heatmap:
    """The units' outputs, blue +1 and red -1, with a colour bar."""
    return go.Heatmap(
        z=z,
        customdata=custom,
        colorscale=DIVERGING,
        zmin=-1,
        zmax=1,
        xgap=1,
        ygap=1,
        hoverongaps=False,
        hovertemplate=hover + "<extra></extra>",
        colorbar=dict(thickness=10, len=0.9, outlinewidth=0, tickvals=[-1, 1], ticktext=["−1", "+1"]),
    )


def activation_groups(
    post: Any,
    order: Any,
    groups: Sequence[str],
    *,
    pre: Any = None,
    previous: Any = None,
    votes: Any = None,
    title: str | None = None,
    width: int = 48,
    height: int | None = None,
) -> go.Figure:
    """A layer's outputs for one drawing, units in ``order`` laid out in rows per group.

    ``groups[i]`` names the group of the ``i``-th unit of ``order`` (e.g. "favours 7"); each group
    starts a new row, wrapped at ``width`` cells, and is named on the y axis. Blue +1, red -1 (real
    values on the same scale, clipped in colour), with a colour bar. ``previous``: the outputs for
    the previous drawing; units whose sign changed get an outline. Hover: unit, output,
    pre-activation and distance to the sign's threshold (``pre``), vote (``votes``).
    """
    values = _np(post).reshape(-1)
    order = [int(u) for u in _np(order).reshape(-1)]
    pre_values = _np(pre).reshape(-1) if pre is not None else np.full(values.size, np.nan)
    vote_values = _np(votes).reshape(-1) if votes is not None else np.full(values.size, np.nan)
    changed = (
        np.sign(_np(previous).reshape(-1)) != np.sign(values)
        if previous is not None and _np(previous).size == values.size
        else np.zeros(values.size, dtype=bool)
    )
    rows, labels = _group_rows(order, groups, width)
    z, custom, (marks_x, marks_y) = _unit_grid(rows, width, values, pre_values, vote_values, changed)
    hover = "unit %{customdata[0]}<br>output %{z:+.0f}"
    if pre is not None:
        hover += "<br>pre-activation %{customdata[1]:+.2f}<br>distance to the sign's flip %{customdata[2]:.2f}"
    if votes is not None:
        hover += "<br>vote for the prediction %{customdata[3]:+.0f}"
    fig = _figure(title, height or 40 + 11 * len(rows) + (30 if title else 0), margin=dict(l=76, r=8, t=30, b=4))
    fig.add_trace(_outputs_heatmap(z, custom, hover))
    if marks_x:
        fig.add_trace(_changed_marks(marks_x, marks_y))
    fig.update_xaxes(visible=False, showgrid=False, zeroline=False, range=[-0.5, width - 0.5])
    fig.update_yaxes(
        autorange="reversed",
        showgrid=False,
        zeroline=False,
        tickmode="array",
        tickvals=list(range(len(rows))),
        ticktext=labels,
        ticks="",
        tickfont=dict(size=10),
    )
    return fig


def _link_traces(layers, links) -> list[go.Scatter]:
    """The binary links as lines: one trace of the blue ones (``w * h = +1``), one of the red ones."""
    traces = []
    for value_sign, color in ((1, PLUS_COLOR), (-1, MINUS_COLOR)):
        xs, ys = [], []
        for a, pa, b, pb, value in links:
            if (value > 0) == (value_sign > 0):
                xs += [a, b, None]
                ys += [_slot(pa, len(layers[a][1])), _slot(pb, len(layers[b][1])), None]
        traces.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line=dict(color=color, width=1.2),
                opacity=0.45,
                hoverinfo="skip",
                showlegend=False,
            )
        )
    return traces


def _units_trace(column: int, name: str, units, outputs, is_last: bool, predicted: int) -> go.Scatter:
    """A layer's column of units (blue +1, red -1), or the classes shaded by probability, the
    prediction outlined."""
    n = len(units)
    if is_last:
        colors = [f"rgba(224,130,20,{0.15 + 0.85 * float(p):.2f})" for p in outputs]
        texts = [f"class {u}: {float(p):.0%}" for u, p in zip(units, outputs)]
        outline = [3 if u == predicted else 1 for u in units]
        labels = [str(u) for u in units]
    else:
        colors = [PLUS_COLOR if v > 0 else MINUS_COLOR for v in outputs]
        texts = [f"{name} unit {u}: {v:+.0f}" for u, v in zip(units, outputs)]
        outline = [1] * n
        labels = None
    return go.Scatter(
        x=[column] * n,
        y=[_slot(i, n) for i in range(n)],
        mode="markers+text" if labels else "markers",
        text=labels,
        textposition="middle right",
        marker=dict(size=14, color=colors, line=dict(color="#262730", width=outline), symbol="square"),
        hovertext=texts,
        hoverinfo="text",
        showlegend=False,
    )


def network_path(
    layers: Sequence[tuple[str, Sequence[int], Sequence[float]]],
    links: Sequence[tuple[int, int, int, int, float]],
    predicted: int,
    *,
    title: str | None = None,
    height: int = 320,
) -> go.Figure:
    """A TensorFlow-Playground-style trace: a column of units per layer (blue +1, red -1; the last
    column the classes, shaded by probability, the prediction outlined) and binary links as lines,
    blue where ``w * h = +1`` (the input pushes the unit up) and red where it is -1."""
    fig = _figure(title, height, margin=dict(l=8, r=8, t=36, b=28))
    last = len(layers) - 1
    for trace in _link_traces(layers, links):
        fig.add_trace(trace)
    for column, (name, units, outputs) in enumerate(layers):
        fig.add_trace(_units_trace(column, name, units, outputs, column == last, predicted))
    fig.update_xaxes(
        tickmode="array",
        tickvals=list(range(len(layers))),
        ticktext=[name for name, _, _ in layers],
        range=[-0.4, last + 0.5],
        showgrid=False,
        zeroline=False,
    )
    fig.update_yaxes(visible=False, range=[-0.05, 1.05])
    return fig


def _slot(position: int, count: int) -> float:
    """Vertical place (0 top .. 1 bottom) of the ``position``-th of ``count`` nodes, centred."""
    return 0.5 if count <= 1 else 1 - position / (count - 1)


def activations_row(digit, traces) -> go.Figure:
    """One image through the network in one row: the ``digit``, then every layer's activations
    (``traces``: the model's trace of it; ±1 where binarized), side by side."""
    from plotly.subplots import make_subplots

    titles = ["input digit"] + [
        f"{t.name}: {'binary ±1' if t.binarized else 'real'} ({t.post[0].numel()} values)" for t in traces
    ]
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.03)
    parts = [digit_image(digit)] + [activation_grid(t.post[0]) for t in traces]
    for col, part in enumerate(parts, 1):
        for trace in part.data:
            fig.add_trace(trace.update(showscale=False), row=1, col=col)
        fig.update_xaxes(visible=False, row=1, col=col)
        anchor = f"x{col if col > 1 else ''}"
        fig.update_yaxes(visible=False, autorange="reversed", scaleanchor=anchor, row=1, col=col)
    fig.update_layout(**LAYOUT)
    fig.update_layout(height=260, margin=dict(l=8, r=8, t=40, b=8))
    return fig
