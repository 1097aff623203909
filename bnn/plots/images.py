"""Images as heatmaps: digits, galleries of digits, weights as per-unit images and a layer's
activations, all upright with square pixels; many tiles share one heatmap trace (a mosaic)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .common import BINARY, DIVERGING, IMAGE_MARGIN, INK, _figure, _np


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
