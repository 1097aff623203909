"""Fused XNOR-popcount kernels compiled with numba: a whole run of packed layers in one compiled call.

A binarized layer is ``popcount(a XOR w) <= threshold`` per unit (BatchNorm, bias and sign folded
into the integer threshold, see :mod:`bnn.xnor.export`); the bit-plane first layer is
``alpha * sum_j 2^j popcount(B_j AND P) + beta * sum(k) >= c``; a binarized convolution is
``s * max_pool(d) >= T`` per channel, ``d`` summed over the taps inside the image (XNOR on packed
channel words, or exact integers on 8-bit pixels for a first conv). Each step does the XOR (AND), the
popcount, the accumulation and the threshold in one loop nest and writes the unit's bit straight
into the next layer's uint64 words, so nothing is unpacked between layers and no intermediate
array is built. :mod:`bnn.xnor.numpy_kernels` computes the same with numpy; the tests compare the two
bit for bit.

A :class:`Program` is a run of such layers (the 8-bit check and bit-planes of the pixels first when
the first layer is a bit-plane layer); :func:`run` executes all of it in **one** compiled call, so
a single image pays one Python-to-native transition instead of one per layer. With several threads
the call is one parallel region: every step is cut into chunks (unit blocks x image blocks), each
thread claims chunks with an atomic exchange, starting from its own share (the same units on every
call, so a core finds its part of the weights still in its L2 cache), then helps with what is left,
and waits at the end of the step until every chunk is done (an atomic counter) before the next
layer reads the bits. A thread never waits for an unclaimed chunk, so fewer threads than tasks (or
one) still finish the work.

The arithmetic of the steps is in :mod:`bnn.xnor.dense_steps` and :mod:`bnn.xnor.conv_steps`, the
LLVM intrinsics and compile options in :mod:`bnn.xnor.intrinsics`; :func:`warm_up` compiles
everything once (the packed model calls it when it is built or loaded), so the first inference does
not pay the JIT.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numba import prange

from .conv_steps import _conv_chunk, _pixel_conv_chunk
from .dense_steps import _plane_chunk, _planes_chunk, _xnor_chunk
from .intrinsics import _atomic_read, _compile, _fetch_add

PARALLEL_MIN_WORDS = 1 << 17  # less work (uint64 words touched) runs in the calling thread: a
# parallel region costs a few microseconds to start (more when OMP_WAIT_POLICY=PASSIVE lets the
# pool sleep), which one image through the 784-1024-1024-10 MLP (~60 k words) does not repay
PASSIVE_MIN_WORDS = 1 << 21  # the same when OMP_WAIT_POLICY=PASSIVE (the app sets it): the other thread
# sleeps between regions and waking it costs ~85 microseconds, as much as ~1 M words take on one core
WORKQUEUE_MIN_WORDS = 1 << 22  # the same with numba's fallback "workqueue" threading layer (no OpenMP
# on the machine), whose parallel region costs ~0.14 ms to start instead of ~2 microseconds
IMAGE_BYTES = 1 << 17  # input bytes of an image block: fits L2 next to the chunk's weights
CHUNKS_PER_THREAD = 4  # a step is cut into at least this many chunks per thread (load balance)

# the steps of a program, one row each (columns below); offsets are per image, times n at run time
PLANES, PLANE_BITS, PLANE_SUMS, XNOR_BITS, XNOR_COUNTS, PIXEL_CONV_BITS, CONV_BITS = range(7)
KIND, UNITS, IN_WORDS, W_OFF, T_OFF, IN_BASE, OUT_BASE, OUT_WORDS = range(8)
CHANNELS, HEIGHT, WIDTH, KERNEL, POOL, Q_MUL, Q_ADD = range(8, 15)  # conv steps: input geometry, pixel levels
_COLUMNS = 15


def _blocks(kind, n, units, in_words, tasks):  # pragma: no cover - compiled
    """(image block, unit block) of a step's chunks: image blocks of about ``IMAGE_BYTES`` input,
    unit blocks (multiples of 64; output rows for a convolution) small enough for ``CHUNKS_PER_THREAD``
    chunks per thread."""
    if kind == PLANES:
        return min(n, 16), 1
    conv = kind >= PIXEL_CONV_BITS
    image_block = min(n, max(1 if conv else 4, IMAGE_BYTES // (8 * in_words * (8 if kind <= PLANE_SUMS else 1))))
    image_blocks = (n + image_block - 1) // image_block
    grain = 1 if conv else 64
    unit_words = (units + grain - 1) // grain
    want = CHUNKS_PER_THREAD * tasks if tasks > 1 else 1
    if image_blocks >= want:
        return image_block, unit_words * grain
    return image_block, max(1, (unit_words * image_blocks) // want) * grain


def _split_size(steps, s):  # pragma: no cover - compiled
    """What a step's chunks split besides images: units, or the output rows of a convolution."""
    if steps[s, KIND] >= PIXEL_CONV_BITS:
        return steps[s, HEIGHT] // 2 if steps[s, POOL] else steps[s, HEIGHT]
    return steps[s, UNITS]


def _step_chunk(steps, s, c, n, tasks, pixels, model, acts, sums, g, levels):  # pragma: no cover - compiled
    """Chunk ``c`` of step ``s``. ``pixels``: (x, perm, grid_tol, planes, ranges, on_grid);
    ``model``: (weights, thresholds, alpha, beta, masks); ``g``, ``levels``: this thread's scratch."""
    x, perm, grid_tol, planes, ranges, on_grid = pixels
    weights, thresholds, alpha, beta, masks = model
    kind = steps[s, KIND]
    units = steps[s, UNITS]
    in_words = steps[s, IN_WORDS]
    split = _split_size(steps, s)
    image_block, unit_block = _blocks(kind, n, split, in_words, tasks)
    unit_blocks = (max(split, 1) + unit_block - 1) // unit_block
    i0 = (c // unit_blocks) * image_block
    i1 = min(n, i0 + image_block)
    u0 = (c % unit_blocks) * unit_block
    u1 = min(split, u0 + unit_block)
    if kind == PLANES:
        _planes_chunk(x, perm, grid_tol, planes, ranges, on_grid, levels, i0, i1)
        return
    out_words = steps[s, OUT_WORDS]
    out_start = steps[s, OUT_BASE] * n
    out = acts[out_start : out_start + n * out_words].reshape((n, out_words))
    w_start = steps[s, W_OFF]
    t_start = steps[s, T_OFF]
    bits = kind == PLANE_BITS or kind == XNOR_BITS
    taps = steps[s, KERNEL] * steps[s, KERNEL]
    if kind == PIXEL_CONV_BITS:
        geometry = (
            steps[s, CHANNELS],
            steps[s, HEIGHT],
            steps[s, WIDTH],
            steps[s, KERNEL],
            steps[s, POOL] != 0,
            steps[s, Q_MUL],
            steps[s, Q_ADD],
        )
        rows = masks[w_start : w_start + taps * steps[s, CHANNELS] * units].reshape((-1, units))
        threshold = thresholds[t_start : t_start + 2 * units]
        _pixel_conv_chunk(x, grid_tol, on_grid, rows, threshold, out, geometry, i0, i1, u0, u1)
        return
    if kind <= PLANE_SUMS:
        threshold = thresholds[t_start : t_start + units]
        pt = weights[w_start : w_start + in_words * units].reshape((in_words, units))
        _plane_chunk(planes, ranges, pt, threshold, alpha, beta, bits, out, sums, g, i0, i1, u0, u1)
        return
    in_start = steps[s, IN_BASE] * n
    a = acts[in_start : in_start + n * in_words].reshape((n, in_words))
    if kind == CONV_BITS:
        geometry = (steps[s, CHANNELS], steps[s, HEIGHT], steps[s, WIDTH], steps[s, KERNEL], steps[s, POOL] != 0)
        in_channel_words = (steps[s, CHANNELS] + 63) // 64
        wt = weights[w_start : w_start + taps * in_channel_words * units].reshape((-1, units))
        threshold = thresholds[t_start : t_start + 2 * units]
        _conv_chunk(a, wt, threshold, out, geometry, i0, i1, u0, u1)
        return
    threshold = thresholds[t_start : t_start + units]
    w = weights[w_start : w_start + units * in_words].reshape((units, in_words))
    _xnor_chunk(a, w, threshold, bits, out, sums, i0, i1, u0, u1)


def _chunk_count(steps, s, n, tasks):  # pragma: no cover - compiled
    split = _split_size(steps, s)
    image_block, unit_block = _blocks(steps[s, KIND], n, split, steps[s, IN_WORDS], tasks)
    return ((n + image_block - 1) // image_block) * ((max(split, 1) + unit_block - 1) // unit_block)


def _program(steps, n, tasks, pixels, model, acts, sums, g, levels, counters):  # pragma: no cover - compiled
    """Run every step for all ``n`` images with ``tasks`` threads (see the module docstring).

    ``counters`` (zeros, steps x (tasks + 1)): per step, how many chunks of each thread's share have
    been handed out (an atomic fetch-add hands each chunk to exactly one thread), then how many are
    done."""
    stride = tasks + 1
    for t in prange(tasks):
        for s in range(steps.shape[0]):
            chunks = _chunk_count(steps, s, n, tasks)
            for h in range(tasks):  # own share first, then help the others
                share = (t + h) % tasks
                first = share * chunks // tasks
                last = (share + 1) * chunks // tasks
                while True:
                    c = first + _fetch_add(counters, s * stride + share, 1)
                    if c >= last:
                        break
                    _step_chunk(steps, s, c, n, tasks, pixels, model, acts, sums, g[t], levels[t])
                    _fetch_add(counters, s * stride + tasks, 1)
            while _atomic_read(counters, s * stride + tasks) < chunks:
                pass


_split_size = _compile(_split_size)
_blocks = _compile(_blocks)
_step_chunk = _compile(_step_chunk)
_chunk_count = _compile(_chunk_count)
_SERIAL = _compile(_program)
_PARALLEL = _compile(_program, parallel=True)
_launch_lock = threading.Lock()  # one parallel region at a time (numba's thread count is process-wide)


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
    w_off = t_off = m_off = 0
    words = (in_features + 63) // 64 if in_words is None else in_words
    in_base = 0
    out_base = 0 if pixels else words
    work = 0
    plane_units = 0
    if perm is not None:
        rows.append([PLANES, 0, words, 0, 0, 0, 0, 0] + [0] * 7)
        work += in_features
    for index, step in enumerate(steps):
        planes = step.kind in (PLANE_BITS, PLANE_SUMS)
        conv = step.kind in (PIXEL_CONV_BITS, CONV_BITS)
        on_pixels = planes or step.kind == PIXEL_CONV_BITS
        if on_pixels != (index == 0 and pixels) or planes != (index == 0 and perm is not None):
            raise ValueError("a bit-plane step comes first, on pixels, and only there (as a convolution on pixels)")
        if step.kind in (PLANE_SUMS, XNOR_COUNTS) and index != len(steps) - 1:
            raise ValueError("only the last step may output sums")
        geometry = [0] * 7
        if conv:
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
            out_words = (step.units + 63) // 64
            expect = (words, step.units) if planes else (step.units, words)
            step_work = step.units * words * (8 if planes else 1)
            plane_units = step.units if planes else plane_units
        if step.weights.shape != expect:
            raise ValueError(f"step {index}: weights {step.weights.shape}, expected {expect}")
        bits = step.kind in (PLANE_BITS, XNOR_BITS, PIXEL_CONV_BITS, CONV_BITS)
        count = 2 * step.units if conv else step.units
        if (step.thresholds is not None and len(step.thresholds) == count) != bits:
            raise ValueError(f"step {index}: a step with bits out takes one threshold per unit (conv: 2), others none")
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
            t_off += count
        work += step_work
        in_base = out_base
        words = out_words
        out_base += out_words
    sums_units = steps[-1].units if steps and steps[-1].kind in (PLANE_SUMS, XNOR_COUNTS) else 0
    outputs = tuple(
        (row[KIND] in (PLANE_SUMS, XNOR_COUNTS), row[OUT_WORDS], row[OUT_BASE]) for row in rows if row[KIND] != PLANES
    )

    def joined(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0, dtype)

    return Program(
        steps=np.array(rows, dtype=np.int64).reshape(-1, _COLUMNS),
        weights=joined(weights, np.uint64),
        thresholds=joined(thresholds, np.int64),
        masks=joined(masks, np.int32),
        perm=np.zeros(0, np.int64) if perm is None else np.asarray(perm, dtype=np.int64),
        pixel_input=pixels,
        grid_tol=float(grid_tol),
        in_features=in_features,
        in_words=(in_features + 63) // 64 if in_words is None else in_words,
        alpha=int(alpha),
        beta=int(beta),
        act_words=out_base,
        sums_units=sums_units,
        plane_units=plane_units,
        work_per_image=work,
        outputs=outputs,
    )


@dataclass
class Result:
    """What :func:`run` returns: per layer its packed output words (N, words) or its sums (N, U) int64;
    for pixel input the on-grid mask, and for a bit-plane layer the bit-planes (N, W, 8), sum(k) and
    the range of nonzero words (None otherwise)."""

    outputs: list[np.ndarray]
    planes: np.ndarray | None = None
    pixel_sum: np.ndarray | None = None
    word_range: np.ndarray | None = None
    on_grid: np.ndarray | None = None


_NO_PIXELS = (
    np.zeros((0, 0), np.float32),
    np.zeros((0, 0, 8), np.uint64),
    np.zeros((0, 3), np.int64),
    np.zeros(0, np.bool_),
)


def run(prog: Program, inputs: np.ndarray, threads: int, parallel_min_words: int | None = None) -> Result:
    """Run ``prog`` on float pixels (N, K) or packed input words (N, in_words) in one compiled call,
    with ``threads`` threads when it touches at least ``parallel_min_words`` words (default: what
    :func:`_parallel_min_words_here` found for this process)."""
    minimum = _default_parallel_min_words() if parallel_min_words is None else parallel_min_words
    n = inputs.shape[0]
    tasks = max(1, min(threads, numba.config.NUMBA_NUM_THREADS)) if n * prog.work_per_image >= minimum else 1
    acts = np.empty(n * prog.act_words, dtype=np.uint64)
    sums = np.empty((n, prog.sums_units), dtype=np.int64)
    words = (prog.in_features + 63) // 64
    planes_used = len(prog.perm) > 0
    if prog.pixel_input:
        x = inputs
        planes = np.empty((n, words if planes_used else 0, 8), dtype=np.uint64)
        ranges = np.empty((n, 3), dtype=np.int64)  # sum(k), first and last nonzero word
        on_grid = np.empty(n, dtype=np.bool_)
    else:
        x, planes, ranges, on_grid = _NO_PIXELS
        acts[: n * prog.in_words] = inputs.ravel()
    g = np.empty((tasks, prog.plane_units), dtype=np.int64)
    levels = np.empty((tasks, prog.in_features + 64 * words if planes_used else 0), dtype=np.uint8)
    counters = np.zeros(len(prog.steps) * (tasks + 1), dtype=np.int64)
    pixel_data = (x, prog.perm, prog.grid_tol, planes, ranges, on_grid)
    args = (prog.steps, n, tasks, pixel_data, prog.model, acts, sums, g, levels, counters)
    if tasks == 1:
        _SERIAL(*args)
    else:
        with _launch_lock:
            numba.set_num_threads(tasks)
            _PARALLEL(*args)
    outputs = [sums if is_sums else acts[base * n : (base + w) * n].reshape(n, w) for is_sums, w, base in prog.outputs]
    if not prog.pixel_input:
        return Result(outputs)
    if not planes_used:
        return Result(outputs, on_grid=on_grid)
    return Result(outputs, planes, ranges[:, 0], ranges[:, 1:], on_grid)


def _default_parallel_min_words() -> int:
    return _parallel_min_words


def _parallel_min_words_here() -> int:
    """The work below which a call stays in one thread, for this process's threading layer and
    OpenMP wait policy (libgomp reads the policy once, when it loads)."""
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region ran (one CPU): nothing runs in parallel anyway
        layer = "none"
    if layer == "workqueue":
        return WORKQUEUE_MIN_WORDS
    if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":
        return PASSIVE_MIN_WORDS
    return PARALLEL_MIN_WORDS


def xnor_bits(a: np.ndarray, w: np.ndarray, threshold: np.ndarray, units: int, threads: int) -> np.ndarray:
    """Packed output words (N, ceil(units/64)) of one binarized XNOR layer: bit u of row n is
    popcount(a[n] XOR w[u]) <= threshold[u]; ``a`` (N, W), ``w`` (units, W)."""
    prog = program([Step(XNOR_BITS, units, w, threshold)], in_features=64 * w.shape[1])
    return run(prog, a, threads).outputs[0]


def xnor_counts(a: np.ndarray, w: np.ndarray, threads: int) -> np.ndarray:
    """popcount(a[n] XOR w[u]) as int64 (N, U)."""
    prog = program([Step(XNOR_COUNTS, w.shape[0], w)], in_features=64 * w.shape[1])
    return run(prog, a, threads).outputs[0]


_warm = False  # set by warm_up


def is_warm() -> bool:
    """Whether :func:`warm_up` has run in this process."""
    return _warm


_parallel_min_words = PARALLEL_MIN_WORDS  # set by warm_up, once a parallel region has run


def warm_up() -> None:
    """Compile (or load from the cache) the program runner once, serial and parallel, on tiny inputs
    that go through every kind of step."""
    global _warm, _parallel_min_words
    if _warm:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", numba.NumbaWarning)
        w = np.zeros((70, 2), dtype=np.uint64)
        pt = np.zeros((2, 70), dtype=np.uint64)
        x = np.zeros((5, 100), dtype=np.float32)
        a = np.zeros((5, 2), dtype=np.uint64)
        perm = np.arange(100)
        for threads, minimum in ((1, PARALLEL_MIN_WORDS), (2, 0)):
            prog = program(
                [Step(PLANE_BITS, 70, pt, np.zeros(70)), Step(XNOR_BITS, 70, w, np.zeros(70))],
                in_features=100,
                perm=perm,
                grid_tol=1e-5,
                alpha=4,
                beta=-2,
            )
            run(prog, x, threads, minimum)
            run(program([Step(XNOR_COUNTS, 70, w)], in_features=128), a, threads, minimum)
            conv = [
                Step(PIXEL_CONV_BITS, 3, np.zeros((9, 3), np.int32), np.zeros(6), (1, 10, 10, 3, 1, 2, -255)),
                Step(CONV_BITS, 4, np.zeros((9, 4), np.uint64), np.zeros(8), (3, 5, 5, 3, 0)),
            ]
            run(program(conv, in_features=100, pixels=True, grid_tol=1e-5), x, threads, minimum)
    _parallel_min_words = _parallel_min_words_here()
    _warm = True
