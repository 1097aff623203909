"""A run of packed layers as flat arrays for the compiled runner (:func:`bnn.xnor.kernels.run`): each
layer a :class:`Step` (its kind, weights, thresholds and geometry), :func:`program` checks that the steps
fit together and flattens them into a :class:`Program`, one row of :data:`KIND`, :data:`UNITS` ... per step.
Plain numpy: building a program compiles nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# the steps of a program, one row each (columns below); offsets are per image, times n at run time
PLANES, PLANE_BITS, PLANE_SUMS, XNOR_BITS, XNOR_COUNTS, PIXEL_CONV_BITS, CONV_BITS = range(7)
KIND, UNITS, IN_WORDS, W_OFF, T_OFF, IN_BASE, OUT_BASE, OUT_WORDS = range(8)
CHANNELS, HEIGHT, WIDTH, KERNEL, POOL, Q_MUL, Q_ADD = range(8, 15)  # conv steps: input geometry, pixel levels
_COLUMNS = 15


@dataclass(frozen=True)
class Step:
    """One packed layer of a program. ``kind``: PLANE_BITS / PLANE_SUMS (first layer on bit-planes,
    ``weights`` (words, units)), XNOR_BITS / XNOR_COUNTS (``weights`` (units, words)), CONV_BITS
    (``weights`` (taps * ceil(C/64), units) uint64) or PIXEL_CONV_BITS (``weights`` (taps * C, units) int64
    masks, -1 where the weight is +1). ``thresholds``: unit +1 iff popcount <= t (XNOR) or
    alpha*G + beta*sum(k) >= t (bit-planes); for convolutions T then s, +1 iff s * d >= T.
    ``geometry`` (convolutions): channels, height, width of the input, kernel size, 2x2 pool (0/1),
    and for PIXEL_CONV_BITS the pixel levels ``q = q_mul * k + q_add``."""

    kind: int
    units: int
    weights: np.ndarray
    thresholds: np.ndarray | None = None
    geometry: tuple[int, ...] = ()


@dataclass(frozen=True)
class Program:
    """A run of packed layers as flat arrays for :func:`run` (build it with :func:`program`)."""

    steps: np.ndarray  # (S, _COLUMNS) int64, a PLANES step first when a bit-plane layer reads pixels
    weights: np.ndarray  # every layer's weight words, concatenated
    thresholds: np.ndarray  # int64, concatenated
    masks: np.ndarray  # int32 weight masks of a convolution on pixels (empty if none)
    perm: np.ndarray  # int64 pixel order of the bit-planes (empty without a bit-plane layer)
    pixel_input: bool  # the input is float pixels (bit-plane layer or convolution on pixels first)
    grid_tol: float  # |255 x - k| above this: the image is off the 8-bit grid (``Result.on_grid``)
    in_features: int  # pixels (bit-plane input) or bits of the packed input
    in_words: int  # uint64 words per image of a packed input
    alpha: int  # the bit-plane layer's E = alpha * G + beta * sum(k) (+ a constant folded into c)
    beta: int
    act_words: int  # packed words per image of the input and every binarized output
    sums_units: int  # units of a last layer with popcount / G outputs (0 if it outputs bits)
    plane_units: int  # units of the bit-plane layer (scratch size), 0 if none
    work_per_image: int  # uint64 words touched per image (decides threads)
    outputs: tuple[tuple[bool, int, int], ...]  # per layer: (outputs sums?, packed words, base in acts)

    @property
    def model(self) -> tuple[np.ndarray, np.ndarray, int, int, np.ndarray]:
        """(weights, thresholds, alpha, beta, masks): what the compiled steps read of the model."""
        return self.weights, self.thresholds, self.alpha, self.beta, self.masks


def _conv_row(kind: int, units: int, geometry: tuple[int, ...]) -> tuple[int, int, list[int], int]:
    """(input words per image, output words per image, the geometry columns, work per image) of a convolution."""
    channels, height, width, kernel, pool = geometry[:5]
    q_mul, q_add = geometry[5:7] if kind == PIXEL_CONV_BITS else (0, 0)
    in_words = channels * height * width if kind == PIXEL_CONV_BITS else height * width * ((channels + 63) // 64)
    out_hw = (height // 2) * (width // 2) * 4 if pool else height * width  # positions computed
    out_words = (out_hw // 4 if pool else out_hw) * ((units + 63) // 64)
    per_tap = channels * units // 8 if kind == PIXEL_CONV_BITS else ((channels + 63) // 64) * units
    return in_words, out_words, [channels, height, width, kernel, int(pool), q_mul, q_add], out_hw * kernel**2 * per_tap


def _check_step(index: int, step: Step, count: int, pixels: bool, planes_first: bool) -> None:
    """Refuse a step out of place (bit-planes first, on pixels; sums only last) or with the wrong thresholds."""
    planes = step.kind in (PLANE_BITS, PLANE_SUMS)
    on_pixels = planes or step.kind == PIXEL_CONV_BITS
    if on_pixels != (index == 0 and pixels) or planes != (index == 0 and planes_first):
        raise ValueError("a bit-plane step comes first, on pixels, and only there (as a convolution on pixels)")
    if step.kind in (PLANE_SUMS, XNOR_COUNTS) and index != count - 1:
        raise ValueError("only the last step may output sums")
    bits = step.kind in (PLANE_BITS, XNOR_BITS, PIXEL_CONV_BITS, CONV_BITS)
    thresholds = 2 * step.units if step.kind in (PIXEL_CONV_BITS, CONV_BITS) else step.units
    if (step.thresholds is not None and len(step.thresholds) == thresholds) != bits:
        raise ValueError(f"step {index}: a step with bits out takes one threshold per unit (conv: 2), others none")


def _step_layout(index: int, step: Step, words: int, in_features: int) -> tuple[int, int, list[int], int]:
    """(input words, output words per image, the geometry columns, work per image) of ``step``, which
    reads ``words`` words per image of the step before; its weights' shape checked."""
    planes = step.kind in (PLANE_BITS, PLANE_SUMS)
    if step.kind in (PIXEL_CONV_BITS, CONV_BITS):
        if len(step.geometry) != (7 if step.kind == PIXEL_CONV_BITS else 5):
            raise ValueError(f"step {index}: a convolution needs its geometry")
        step_in, out_words, geometry, step_work = _conv_row(step.kind, step.units, step.geometry)
        if step.kind == CONV_BITS and step_in != words:
            raise ValueError(f"step {index}: input of {step_in} words, the layer before gives {words}")
        channels, kernel = step.geometry[0], step.geometry[3]
        taps = kernel * kernel * (channels if step.kind == PIXEL_CONV_BITS else (channels + 63) // 64)
        expect = (taps, step.units)
        words = in_features if step.kind == PIXEL_CONV_BITS else words
    else:
        out_words, geometry = (step.units + 63) // 64, [0] * 7
        expect = (words, step.units) if planes else (step.units, words)
        step_work = step.units * words * (8 if planes else 1)
    if step.weights.shape != expect:
        raise ValueError(f"step {index}: weights {step.weights.shape}, expected {expect}")
    return words, out_words, geometry, step_work


def _outputs(rows: list[list[int]]) -> tuple[tuple[bool, int, int], ...]:
    """Per layer of a program's step rows: (outputs sums?, packed words, base in acts)."""
    return tuple(
        (row[KIND] in (PLANE_SUMS, XNOR_COUNTS), row[OUT_WORDS], row[OUT_BASE]) for row in rows if row[KIND] != PLANES
    )


def _joined(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def program(
    steps: list[Step],
    *,
    in_features: int,
    perm: np.ndarray | None = None,
    pixels: bool | None = None,
    in_words: int | None = None,
    grid_tol: float = 0.0,
    alpha: int = 0,
    beta: int = 0,
) -> Program:
    """Flatten ``steps`` into a :class:`Program`. With ``pixels`` (default: when ``perm`` is given)
    the input is ``in_features`` float pixels: turned into bit-planes in ``perm`` order for a bit-plane
    layer, or read by a convolution on pixels; else packed words of ``in_features`` bits (``in_words``
    words per image, default ceil(in_features / 64)). Only the last step may output sums."""
    pixels = perm is not None if pixels is None else pixels
    rows, weights, thresholds, masks = [], [], [], []
    w_off = t_off = m_off = work = plane_units = 0  # offsets into the arrays; work per image
    in_words = (in_features + 63) // 64 if in_words is None else in_words
    words = in_words
    in_base, out_base = 0, 0 if pixels else words
    if perm is not None:
        rows.append([PLANES, 0, words, 0, 0, 0, 0, 0] + [0] * 7)
        work += in_features
    for index, step in enumerate(steps):
        _check_step(index, step, len(steps), pixels, perm is not None)
        words, out_words, geometry, step_work = _step_layout(index, step, words, in_features)
        plane_units = step.units if step.kind in (PLANE_BITS, PLANE_SUMS) else plane_units
        if step.kind == PIXEL_CONV_BITS:
            rows.append([step.kind, step.units, words, m_off, t_off, in_base, out_base, out_words] + geometry)
            masks.append(np.ascontiguousarray(step.weights, dtype=np.int32).ravel())
            m_off += step.weights.size
        else:
            rows.append([step.kind, step.units, words, w_off, t_off, in_base, out_base, out_words] + geometry)
            weights.append(np.ascontiguousarray(step.weights, dtype=np.uint64).ravel())
            w_off += step.weights.size
        if step.thresholds is not None:
            thresholds.append(np.asarray(step.thresholds, dtype=np.int64))
            t_off += len(step.thresholds)
        work += step_work
        in_base, words = out_base, out_words
        out_base += out_words
    return Program(
        steps=np.array(rows, dtype=np.int64).reshape(-1, _COLUMNS),
        weights=_joined(weights, np.uint64),
        thresholds=_joined(thresholds, np.int64),
        masks=_joined(masks, np.int32),
        perm=np.zeros(0, np.int64) if perm is None else np.asarray(perm, dtype=np.int64),
        pixel_input=pixels,
        grid_tol=float(grid_tol),
        in_features=in_features,
        in_words=in_words,
        alpha=int(alpha),
        beta=int(beta),
        act_words=out_base,
        sums_units=steps[-1].units if steps and steps[-1].kind in (PLANE_SUMS, XNOR_COUNTS) else 0,
        plane_units=plane_units,
        work_per_image=work,
        outputs=_outputs(rows),
    )
