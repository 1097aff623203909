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

A program is built (its layers flattened into arrays and checked) by :mod:`bnn.xnor.programs`.
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

import numba
import numpy as np
from numba import prange

from .conv_steps import _conv_chunk, _pixel_conv_chunk
from .dense_steps import _plane_chunk, _planes_chunk, _xnor_chunk
from .intrinsics import _atomic_read, _compile, _fetch_add
from .programs import (  # the step table's columns and kinds, read by the compiled code
    CHANNELS,
    CONV_BITS,
    HEIGHT,
    IN_BASE,
    IN_WORDS,
    KERNEL,
    KIND,
    OUT_BASE,
    OUT_WORDS,
    PIXEL_CONV_BITS,
    PLANE_BITS,
    PLANE_SUMS,
    PLANES,
    POOL,
    Q_ADD,
    Q_MUL,
    T_OFF,
    UNITS,
    W_OFF,
    WIDTH,
    XNOR_BITS,
    XNOR_COUNTS,
    Program,
    Step,
    program,
)

PARALLEL_MIN_WORDS = 1 << 17  # less work (uint64 words touched) runs in the calling thread: a
# parallel region costs a few microseconds to start (more when OMP_WAIT_POLICY=PASSIVE lets the
# pool sleep), which one image through the 784-1024-1024-10 MLP (~60 k words) does not repay
PASSIVE_MIN_WORDS = 1 << 21  # the same when OMP_WAIT_POLICY=PASSIVE (the app sets it): the other thread
# sleeps between regions and waking it costs ~85 microseconds, as much as ~1 M words take on one core
WORKQUEUE_MIN_WORDS = 1 << 22  # the same with numba's fallback "workqueue" threading layer (no OpenMP
# on the machine), whose parallel region costs ~0.14 ms to start instead of ~2 microseconds
IMAGE_BYTES = 1 << 17  # input bytes of an image block: fits L2 next to the chunk's weights
CHUNKS_PER_THREAD = 4  # a step is cut into at least this many chunks per thread (load balance)


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
