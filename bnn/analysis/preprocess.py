"""Turn a hand-drawn canvas into an MNIST-like 28x28 digit, in exact integer arithmetic.

A network trained on MNIST only recognises digits that look like MNIST digits, and those were
prepared in a precise way (LeCun, Cortes & Burges, "The MNIST database of handwritten digits"):
the digits were "size normalized to fit in a 20x20 pixel box while preserving their aspect
ratio", the resampling used an "anti-aliasing technique" so the images contain grey levels,
and they were "centered in a 28x28 image by computing the center of mass of the pixels, and
translating the image so as to position this point at the center of the 28x28 field".

:func:`preprocess_levels` repeats those steps on a drawing (white stroke on black): 8-bit ink
levels (BT.601 luminance times alpha, rounded), crop to the ink's bounding box, an area-average
(box) resize so the longer side is 20 (the anti-aliasing: each output pixel is the exact mean of
the canvas area it covers), rescale so the brightest pixel is 255 (MNIST strokes are saturated),
then a whole-pixel shift into 28x28 that puts the centre of mass on (14, 14), clamped so the digit
stays inside. Every step is integer arithmetic with exact rounding (halves up), so the page's
canvas component (``assets/bnn_engine.js``, ``preprocess``) computes the very same bytes; the
model input is ``levels / 255``, on the 8-bit grid the packed first layer reads exactly.

Centre convention: pixel ``i`` sits at coordinate ``i`` (0-based index), so the centre of mass
is ``sum(i * ink) / sum(ink)``. Measured on the MNIST test set with this convention the mean
centre of mass is (13.99, 14.01), hence the target (14, 14) rather than the geometric 13.5;
its spread (standard deviation 0.29 px, that of a uniform +-0.5) shows MNIST shifted by whole
pixels too.

Tie rule: an offset of exactly half a pixel rounds up (towards +inf), so a centre of mass that
sits exactly between two pixels (a symmetric digit) lands on the same pixel whatever the
drawing's orientation; with integer moments the half is exact.
"""

from __future__ import annotations

import numpy as np
import torch

SIZE = 28
BOX = 20
CENTER = 14  # target centre of mass, row and column (see the module docstring)
LEVELS = 255  # 8-bit ink levels
NOISE = 0.1  # ink below this is anti-aliasing fringe or noise: ignored for the bounding box
NOISE_LEVEL = int(NOISE * LEVELS)  # the same as a level: ink levels <= 25 are fringe
LUMA = (299, 587, 114)  # ITU-R BT.601, per mille
MIN_INK = 3e-4  # see preprocess_levels
TIE_TOLERANCE = 1e-6  # pixels, for float offsets (whole_pixel_shift); integer moments need none


def canvas_ink(image: np.ndarray) -> np.ndarray:
    """Ink levels 0..255, uint8 (H, W), of a gray, RGB or RGBA canvas image.

    Integer images are taken as 0..255; float images as 0..1 (levels ``rint(255 x)``) unless
    their maximum exceeds 1. RGB: ``round(luma)``, RGBA: ``round(luma * alpha / 255)``, luma the
    BT.601 weighted sum, halves up; a transparent background (alpha 0) is no ink whatever its colour.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"expected a (H, W), (H, W, 3) or (H, W, 4) image, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        scale = 1.0 if array.size and array.max() > 1.0 else float(LEVELS)
        array = np.rint(np.nan_to_num(array.astype(np.float64)) * scale)
    array = np.clip(array, 0, LEVELS).astype(np.int64)
    if array.ndim == 2:
        return array.astype(np.uint8)
    luma = LUMA[0] * array[:, :, 0] + LUMA[1] * array[:, :, 1] + LUMA[2] * array[:, :, 2]  # 0..255,000
    if array.shape[2] == 4:
        return ((luma * array[:, :, 3] + 127_500) // 255_000).astype(np.uint8)
    return ((luma + 500) // 1000).astype(np.uint8)


def canvas_to_gray(image: np.ndarray) -> np.ndarray:
    """Ink intensity in [0, 1], float32 (H, W): :func:`canvas_ink` / 255."""
    return canvas_ink(image).astype(np.float32) / np.float32(LEVELS)


def center_of_mass(img28: torch.Tensor | np.ndarray) -> tuple[float, float]:
    """(row, col) centre of mass of a 2-D image (extra leading size-1 axes are dropped).

    Pixel ``i`` is at coordinate ``i``; MNIST digits average (14, 14). Raises ``ValueError``
    on an image without ink.
    """
    if isinstance(img28, torch.Tensor):
        img28 = img28.detach().cpu().numpy()
    weights = np.asarray(img28, dtype=np.float64)
    while weights.ndim > 2 and weights.shape[0] == 1:
        weights = weights[0]
    if weights.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {np.shape(img28)}")
    total = weights.sum()
    if total <= 0:
        raise ValueError("the image has no ink, its centre of mass is undefined")
    rows = weights.sum(axis=1) @ np.arange(weights.shape[0]) / total
    cols = weights.sum(axis=0) @ np.arange(weights.shape[1]) / total
    return float(rows), float(cols)


def whole_pixel_shift(offset: float) -> int:
    """``offset`` rounded to a whole pixel; halves (within ``TIE_TOLERANCE``) round up."""
    return int(np.floor(offset + 0.5 + TIE_TOLERANCE))


def _area_weights(source: int, target: int) -> np.ndarray:
    """(target, source) integer overlaps of an area-average resize: source pixel ``r`` covers
    ``[r * target, (r + 1) * target)``, output pixel ``i`` covers ``[i * source, (i + 1) * source)``;
    each output row of weights sums to ``source``."""
    r = np.arange(source)[None, :]
    i = np.arange(target)[:, None]
    overlap = np.minimum((r + 1) * target, (i + 1) * source) - np.maximum(r * target, i * source)
    return np.maximum(overlap, 0).astype(np.int64)


def _centring_shift(moment: int, mass: int) -> int:
    """round(CENTER - moment / mass), halves up, in integers: floor((2 CENTER + 1) mass - 2 moment) / (2 mass))."""
    return ((2 * CENTER + 1) * mass - 2 * moment) // (2 * mass)


def preprocess_levels(image: np.ndarray | None, min_ink: float = MIN_INK) -> np.ndarray | None:
    """MNIST-style 28x28 levels (uint8, 0..255, max 255) of a drawing; see the module docstring.

    Returns ``None`` for a missing, empty or nearly empty canvas: when the total ink is below
    ``min_ink`` times the canvas area (at full ink). The default 3e-4 is about 24 fully inked
    pixels on a 280x280 canvas (a dot 5 pixels across), well under a single click with a 10-20
    pixel brush, so only stray pixels are rejected.
    """
    if image is None:
        return None
    ink = canvas_ink(image).astype(np.int64)
    if ink.size == 0 or int(ink.sum()) < min_ink * LEVELS * ink.size:
        return None
    rows = np.flatnonzero((ink > NOISE_LEVEL).any(axis=1))
    cols = np.flatnonzero((ink > NOISE_LEVEL).any(axis=0))
    if rows.size == 0:
        return None
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = crop.shape
    longer = max(height, width)
    new_h = max(1, (2 * height * BOX + longer) // (2 * longer))  # round(height * 20 / longer), halves up
    new_w = max(1, (2 * width * BOX + longer) // (2 * longer))
    sums = _area_weights(height, new_h) @ crop @ _area_weights(width, new_w).T  # height * width * mean ink
    peak = int(sums.max())
    if peak <= 0:
        return None
    small = (2 * LEVELS * sums + peak) // (2 * peak)  # round(255 * sum / peak), halves up
    mass = int(small.sum())
    top = _centring_shift(int(small.sum(axis=1) @ np.arange(new_h)), mass)
    left = _centring_shift(int(small.sum(axis=0) @ np.arange(new_w)), mass)
    top = min(max(top, 0), SIZE - new_h)
    left = min(max(left, 0), SIZE - new_w)
    out = np.zeros((SIZE, SIZE), dtype=np.uint8)
    out[top : top + new_h, left : left + new_w] = small
    return out


def preprocess_digit(image: np.ndarray | None, min_ink: float = MIN_INK) -> torch.Tensor | None:
    """The model input of a drawing: float32 tensor (1, 1, 28, 28), :func:`preprocess_levels` / 255
    (in [0, 1], max 1, on the 8-bit grid); ``None`` for an empty canvas."""
    levels = preprocess_levels(image, min_ink)
    if levels is None:
        return None
    return torch.from_numpy(levels.astype(np.float32) / np.float32(LEVELS)).view(1, 1, SIZE, SIZE)
