"""Turn a hand-drawn canvas into an MNIST-like 28x28 digit.

A network trained on MNIST only recognises digits that look like MNIST digits, and those were
prepared in a precise way (LeCun, Cortes & Burges, "The MNIST database of handwritten digits"):
the digits were "size normalized to fit in a 20x20 pixel box while preserving their aspect
ratio", the resampling used an "anti-aliasing technique" so the images contain grey levels,
and they were "centered in a 28x28 image by computing the center of mass of the pixels, and
translating the image so as to position this point at the center of the 28x28 field".

:func:`preprocess_digit` repeats those steps on a drawing (white stroke on black, as
streamlit-drawable-canvas returns it): ink intensity, crop to the ink's bounding box, PIL
anti-aliased (Lanczos) resize so the longer side is 20, rescale so the brightest pixel is 1.0
(MNIST strokes are saturated), then a whole-pixel shift into 28x28 that puts the centre of mass
on (14, 14), clamped so the digit stays inside.

Centre convention: pixel ``i`` sits at coordinate ``i`` (0-based index), so the centre of mass
is ``sum(i * ink) / sum(ink)``. Measured on the MNIST test set with this convention the mean
centre of mass is (13.99, 14.01), hence the target (14, 14) rather than the geometric 13.5;
its spread (standard deviation 0.29 px, that of a uniform +-0.5) shows MNIST shifted by whole
pixels too.

Tie rule: an offset within ``TIE_TOLERANCE`` of a half pixel rounds up (towards +inf), so a
centre of mass that sits exactly between two pixels (a symmetric digit) lands on the same
pixel whatever order floating-point summation took.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

SIZE = 28
BOX = 20
CENTER = (14.0, 14.0)
NOISE = 0.1  # ink below this is anti-aliasing fringe or noise: ignored for the bounding box
TIE_TOLERANCE = 1e-6  # pixels; far above float64 summation error, far below any real offset
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601


def canvas_to_gray(image: np.ndarray) -> np.ndarray:
    """Ink intensity in [0, 1], float32 (H, W), of a gray, RGB or RGBA canvas image.

    Integer images are taken as 0..255; float images as 0..1 unless their maximum exceeds 1.
    For RGBA the ink is luminance * alpha, so a transparent background (alpha 0) counts as
    no ink whatever its colour, exactly like an opaque black one.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"expected a (H, W), (H, W, 3) or (H, W, 4) image, got shape {array.shape}")
    integer = np.issubdtype(array.dtype, np.integer)
    scale = np.float32(1 / 255 if integer or (array.size and array.max() > 1.0) else 1.0)
    if array.ndim == 2:
        ink = array.astype(np.float32) * scale
    else:
        ink = array[:, :, :3] @ (LUMA * scale)
        if array.shape[2] == 4:
            ink *= array[:, :, 3] * scale
    return np.clip(ink, 0.0, 1.0).astype(np.float32, copy=False)


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


def preprocess_digit(image: np.ndarray | None, min_ink: float = 3e-4) -> torch.Tensor | None:
    """MNIST-style 28x28 version of a drawing: float32 tensor (1, 1, 28, 28) in [0, 1], max 1.

    Returns ``None`` for a missing, empty or nearly empty canvas: when the total ink is below
    ``min_ink`` times the canvas area. The default 3e-4 is about 24 fully inked pixels on a
    280x280 canvas (a dot 5 pixels across), well under a single click with a 10-20 pixel brush,
    so only stray pixels are rejected.
    """
    if image is None:
        return None
    ink = canvas_to_gray(image)
    if ink.size == 0 or ink.sum() < min_ink * ink.size:
        return None
    rows = np.flatnonzero((ink > NOISE).any(axis=1))
    cols = np.flatnonzero((ink > NOISE).any(axis=0))
    if rows.size == 0:
        return None
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]

    height, width = crop.shape
    scale = BOX / max(height, width)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))  # PIL wants (w, h)
    small = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize(new_size, Image.LANCZOS))
    small = np.clip(small, 0.0, None)  # Lanczos rings slightly below zero next to strokes
    peak = small.max()
    if peak <= 0:
        return None
    small = small / peak

    com_row, com_col = center_of_mass(small)
    top = int(np.clip(whole_pixel_shift(CENTER[0] - com_row), 0, SIZE - small.shape[0]))
    left = int(np.clip(whole_pixel_shift(CENTER[1] - com_col), 0, SIZE - small.shape[1]))
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top : top + small.shape[0], left : left + small.shape[1]] = np.minimum(small, 1.0)
    return torch.from_numpy(out).view(1, 1, SIZE, SIZE)
