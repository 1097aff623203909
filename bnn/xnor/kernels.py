"""Fused XNOR-popcount kernels compiled with numba: one pass per layer, packed words in and out.

A binarized layer is ``popcount(a XOR w) <= threshold`` per unit (BatchNorm, bias and sign folded
into the integer threshold, see :mod:`bnn.xnor.export`); the bit-plane first layer is
``alpha * sum_j 2^j popcount(B_j AND P) + beta * sum(k) >= c``. Each kernel does the XOR (AND),
the popcount, the accumulation and the threshold in one loop nest and writes the unit's bit straight
into the next layer's uint64 words, so nothing is unpacked between layers and no intermediate array
is built. :mod:`bnn.xnor.reference` computes the same with numpy; the tests compare the two bit
for bit.

Why numba: it installs as a wheel from PyPI (numba + llvmlite, LLVM inside; no compiler needed on
the machine), compiles for the CPU it runs on, and exposes LLVM's ``llvm.ctpop`` through
:func:`numba.extending.intrinsic` (numba itself does not compile ``np.bitwise_count``), which LLVM
vectorizes to ``vpopcntq`` where the CPU has it and to a fast SWAR/shuffle sequence elsewhere.
``prange`` gives threads over units and images; a C extension would need a build per platform.
Compiled code is cached on disk (``cache=True``) when a cache directory is writable and compiled
in memory otherwise; :func:`warm_up` compiles everything once (the packed model calls it when it
is built or loaded), so the first inference does not pay the JIT.
"""

from __future__ import annotations

import threading
import warnings
from types import FunctionType
from typing import Any

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.extending import intrinsic


def _prefer_512_bit_vectors() -> None:
    """Let LLVM use 512-bit vectors where the CPU has AVX-512: LLVM's default tuning for these CPUs
    (``prefer-256-bit``) halves the width of the popcount loops (measured: the 4096x4096 layer at
    batch 1,000 takes 30% less time with 512-bit vectors). Only when nobody set ``NUMBA_CPU_FEATURES``;
    numba reads it once, when it first compiles (or loads a cached kernel), and keys its cache by it."""
    if numba.config.CPU_FEATURES is not None:
        return
    features = llvm.get_host_cpu_features().flatten()
    if "+avx512f" in features.split(","):
        numba.config.CPU_FEATURES = features + ",-prefer-256-bit"


_prefer_512_bit_vectors()

IMAGE_BLOCK = 4  # images sharing each weight word in the XNOR kernel (register blocking)
PARALLEL_MIN_WORDS = 1 << 20  # less work (uint64 words touched) runs in the calling thread, e.g. one
# image through the 3x4096 MLP: a parallel region waits for its slowest thread, and on a shared 2-core
# machine a core busy with another process stalls it for a scheduler time slice (measured: batch-1
# median 12 ms instead of 0.35 ms), while one thread takes ~0.45 ms whatever the other core does


@intrinsic
def _popcount64(typingctx: Any, x: types.Type) -> Any:
    """LLVM's ``ctpop`` on a 64-bit integer, returned as int64 (int64 + uint64 would be float64)."""
    if not (isinstance(x, types.Integer) and x.bitwidth == 64):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ctpop = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(ctpop, [args[0]])

    return types.int64(x), codegen


def _xnor_bits(a, w, threshold, out):  # pragma: no cover - compiled
    """out[n] bit u = popcount(a[n] XOR w[u]) <= threshold[u]; a (N, W), w (U, W), out (N, ceil(U/64)).

    Tasks are (output word, block of images), output word major: a thread keeps the 64 weight rows
    of its word in L1 while it walks the images, and each image block reuses every weight word
    ``IMAGE_BLOCK`` times from a register.
    """
    n, words = a.shape
    units = w.shape[0]
    out_words = out.shape[1]
    blocks = (n + IMAGE_BLOCK - 1) // IMAGE_BLOCK
    for task in prange(out_words * blocks):
        j = task // blocks
        i0 = (task % blocks) * IMAGE_BLOCK
        u0 = j * 64
        u1 = min(units, u0 + 64)
        if i0 + IMAGE_BLOCK <= n:  # the unrolled body below is written for IMAGE_BLOCK = 4
            acc0 = np.uint64(0)
            acc1 = np.uint64(0)
            acc2 = np.uint64(0)
            acc3 = np.uint64(0)
            for u in range(u0, u1):
                c0 = 0
                c1 = 0
                c2 = 0
                c3 = 0
                for k in range(words):
                    wk = w[u, k]
                    c0 += _popcount64(a[i0, k] ^ wk)
                    c1 += _popcount64(a[i0 + 1, k] ^ wk)
                    c2 += _popcount64(a[i0 + 2, k] ^ wk)
                    c3 += _popcount64(a[i0 + 3, k] ^ wk)
                t = threshold[u]
                bit = np.uint64(1) << np.uint64(u - u0)
                if c0 <= t:
                    acc0 |= bit
                if c1 <= t:
                    acc1 |= bit
                if c2 <= t:
                    acc2 |= bit
                if c3 <= t:
                    acc3 |= bit
            out[i0, j] = acc0
            out[i0 + 1, j] = acc1
            out[i0 + 2, j] = acc2
            out[i0 + 3, j] = acc3
        else:
            for i in range(i0, n):
                acc = np.uint64(0)
                for u in range(u0, u1):
                    c = 0
                    for k in range(words):
                        c += _popcount64(a[i, k] ^ w[u, k])
                    if c <= threshold[u]:
                        acc |= np.uint64(1) << np.uint64(u - u0)
                out[i, j] = acc


def _xnor_counts(a, w, out):  # pragma: no cover - compiled
    """out[n, u] = popcount(a[n] XOR w[u]) (int32), for layers with real-valued outputs."""
    n, words = a.shape
    units = w.shape[0]
    for task in prange(n * units):
        i = task // units
        u = task % units
        c = 0
        for k in range(words):
            c += _popcount64(a[i, k] ^ w[u, k])
        out[i, u] = c


def _pixel_planes(x, perm, grid_tol, planes, pixel_sum, word_range, on_grid):  # pragma: no cover - compiled
    """8-bit pixels ``k = rint(255 x)`` in ``perm`` order -> bit-planes (N, W, 8): plane j of word q
    holds bit j of pixels 64q..64q+63. Also sum(k), the range of words with a nonzero pixel, and
    whether the image is on the k/255 grid (``|255 x - k| <= grid_tol`` and 0 <= k <= 255)."""
    n, k_in = x.shape
    words = planes.shape[1]
    for i in prange(n):
        total = 0
        lo = words
        hi = 0
        ok = True
        for q in range(words):
            p0 = np.uint64(0)
            p1 = np.uint64(0)
            p2 = np.uint64(0)
            p3 = np.uint64(0)
            p4 = np.uint64(0)
            p5 = np.uint64(0)
            p6 = np.uint64(0)
            p7 = np.uint64(0)
            for b in range(min(64, k_in - q * 64)):
                value = x[i, perm[q * 64 + b]]
                level = np.rint(value * np.float32(255.0))
                if not (abs(np.float64(value) * 255.0 - np.float64(level)) <= grid_tol and 0 <= level <= 255):
                    ok = False  # NaN included
                    level = np.float32(0.0)
                v = np.uint64(np.int64(level))
                if v != 0:
                    total += np.int64(v)
                    s = np.uint64(b)
                    p0 |= (v & np.uint64(1)) << s
                    p1 |= ((v >> np.uint64(1)) & np.uint64(1)) << s
                    p2 |= ((v >> np.uint64(2)) & np.uint64(1)) << s
                    p3 |= ((v >> np.uint64(3)) & np.uint64(1)) << s
                    p4 |= ((v >> np.uint64(4)) & np.uint64(1)) << s
                    p5 |= ((v >> np.uint64(5)) & np.uint64(1)) << s
                    p6 |= ((v >> np.uint64(6)) & np.uint64(1)) << s
                    p7 |= ((v >> np.uint64(7)) & np.uint64(1)) << s
            planes[i, q, 0] = p0
            planes[i, q, 1] = p1
            planes[i, q, 2] = p2
            planes[i, q, 3] = p3
            planes[i, q, 4] = p4
            planes[i, q, 5] = p5
            planes[i, q, 6] = p6
            planes[i, q, 7] = p7
            if (p0 | p1 | p2 | p3 | p4 | p5 | p6 | p7) != 0:
                lo = min(lo, q)
                hi = q + 1
        pixel_sum[i] = total
        word_range[i, 0] = lo
        word_range[i, 1] = max(lo, hi)
        on_grid[i] = ok


def _plane_sums_block(planes, word_range, pt, i, u0, u1, g):  # pragma: no cover - compiled
    """g[u - u0] = sum_j 2^j popcount(planes[i, :, j] AND p[u]) for u in [u0, u1); ``pt`` (W, U).

    Units run innermost (contiguous in ``pt``): LLVM vectorizes over units, each weight word is
    loaded once for all 8 planes, and words without a nonzero pixel are skipped."""
    for u in range(u0, u1):
        g[u - u0] = 0
    for q in range(word_range[i, 0], word_range[i, 1]):
        b0 = planes[i, q, 0]
        b1 = planes[i, q, 1]
        b2 = planes[i, q, 2]
        b3 = planes[i, q, 3]
        b4 = planes[i, q, 4]
        b5 = planes[i, q, 5]
        b6 = planes[i, q, 6]
        b7 = planes[i, q, 7]
        for u in range(u0, u1):
            p = pt[q, u]
            g[u - u0] += (
                _popcount64(b0 & p)
                + (_popcount64(b1 & p) << 1)
                + (_popcount64(b2 & p) << 2)
                + (_popcount64(b3 & p) << 3)
                + (_popcount64(b4 & p) << 4)
                + (_popcount64(b5 & p) << 5)
                + (_popcount64(b6 & p) << 6)
                + (_popcount64(b7 & p) << 7)
            )


def _plane_bits(planes, word_range, pixel_sum, pt, c, alpha, beta, unit_block, out):  # pragma: no cover
    """out[n] bit u = alpha * G[n, u] + beta * pixel_sum[n] >= c[u] (exact integers).

    Tasks are (image, block of ``unit_block`` units, a multiple of 64): at batch 1 the units are
    split between threads, at large batch every task is one whole image."""
    n = planes.shape[0]
    units = pt.shape[1]
    blocks = (units + unit_block - 1) // unit_block
    for task in prange(n * blocks):
        i = task // blocks
        u0 = (task % blocks) * unit_block
        u1 = min(units, u0 + unit_block)
        g = np.empty(u1 - u0, np.int64)
        _plane_sums_block(planes, word_range, pt, i, u0, u1, g)
        base = beta * pixel_sum[i]
        for j in range(u0 // 64, (u1 + 63) // 64):
            acc = np.uint64(0)
            for u in range(j * 64, min(u1, j * 64 + 64)):
                if alpha * g[u - u0] + base >= c[u]:
                    acc |= np.uint64(1) << np.uint64(u - j * 64)
            out[i, j] = acc


def _plane_sums(planes, word_range, pt, out):  # pragma: no cover - compiled
    """out[n, u] = G[n, u] (int64), for a bit-plane layer with real-valued outputs."""
    n = planes.shape[0]
    units = pt.shape[1]
    for i in prange(n):
        _plane_sums_block(planes, word_range, pt, i, 0, units, out[i])


def _compile(fn: Any, parallel: bool) -> Any:
    """``numba.njit`` with an on-disk cache when numba finds a writable cache directory, else in memory.

    numba names a cache file after the function's qualified name and does not key it by
    ``parallel``, so the parallel twin is compiled from a copy of the function named ``*_parallel``."""
    if parallel:
        fn = FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_parallel", fn.__defaults__, fn.__closure__)
        fn.__qualname__ = fn.__name__
    options = {"nogil": True, "parallel": parallel, "error_model": "numpy"}
    try:
        return numba.njit(cache=True, **options)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available" (read-only install)
        return numba.njit(cache=False, **options)(fn)


_KERNELS = (_xnor_bits, _xnor_counts, _pixel_planes, _plane_bits, _plane_sums)
_plane_sums_block = _compile(_plane_sums_block, parallel=False)
_SERIAL = {fn.__name__: _compile(fn, parallel=False) for fn in _KERNELS}
_PARALLEL = {fn.__name__: _compile(fn, parallel=True) for fn in _KERNELS}
_launch_lock = threading.Lock()  # numba's workqueue threading layer must not be entered concurrently


def _run(name: str, work: int, threads: int, *args: Any) -> None:
    if threads <= 1 or work < PARALLEL_MIN_WORDS:
        _SERIAL[name](*args)
        return
    with _launch_lock:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        _PARALLEL[name](*args)


def xnor_bits(a: np.ndarray, w: np.ndarray, threshold: np.ndarray, units: int, threads: int) -> np.ndarray:
    """Packed output words (N, ceil(units/64)) of a binarized XNOR layer (see :func:`_xnor_bits`)."""
    out = np.empty((a.shape[0], (units + 63) // 64), dtype=np.uint64)
    _run("_xnor_bits", a.size * units, threads, a, w, threshold, out)
    return out


def xnor_counts(a: np.ndarray, w: np.ndarray, threads: int) -> np.ndarray:
    """popcount(a[n] XOR w[u]) as int32 (N, U)."""
    out = np.empty((a.shape[0], w.shape[0]), dtype=np.int32)
    _run("_xnor_counts", a.size * w.shape[0], threads, a, w, out)
    return out


def pixel_planes(
    x: np.ndarray, perm: np.ndarray, grid_tol: float, threads: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(planes (N, W, 8) uint64, pixel sums int64, nonzero word range (N, 2), on-grid mask) of float pixels."""
    n, k = x.shape
    words = (k + 63) // 64
    planes = np.empty((n, words, 8), dtype=np.uint64)
    pixel_sum = np.empty(n, dtype=np.int64)
    word_range = np.empty((n, 2), dtype=np.int64)
    on_grid = np.empty(n, dtype=np.bool_)
    _run("_pixel_planes", x.size * 8, threads, x, perm, grid_tol, planes, pixel_sum, word_range, on_grid)
    return planes, pixel_sum, word_range, on_grid


def _plane_work(planes: np.ndarray, units: int) -> int:
    """Plane words a bit-plane layer may touch (all words: zero words are skipped, but an upper bound
    is cheaper to compute than the exact count and decides the same for one image or many)."""
    return planes.size * units


def plane_bits(
    planes: np.ndarray,
    word_range: np.ndarray,
    pixel_sum: np.ndarray,
    pt: np.ndarray,
    c: np.ndarray,
    alpha: int,
    beta: int,
    threads: int,
) -> np.ndarray:
    """Packed output words of a binarized bit-plane layer (see :func:`_plane_bits`)."""
    n, units = planes.shape[0], pt.shape[1]
    work = _plane_work(planes, units)
    unit_block = units
    if n < 4 * threads and threads > 1 and work >= PARALLEL_MIN_WORDS:  # few images: split the units
        unit_block = max(64, -(-units // (threads * 64)) * 64)
    out = np.empty((n, (units + 63) // 64), dtype=np.uint64)
    _run("_plane_bits", work, threads, planes, word_range, pixel_sum, pt, c, alpha, beta, unit_block, out)
    return out


def plane_sums(planes: np.ndarray, word_range: np.ndarray, pt: np.ndarray, threads: int) -> np.ndarray:
    """G[n, u] = sum_j 2^j popcount(planes[n, :, j] AND p[u]) as int64 (N, U)."""
    out = np.empty((planes.shape[0], pt.shape[1]), dtype=np.int64)
    _run("_plane_sums", _plane_work(planes, pt.shape[1]), threads, planes, word_range, pt, out)
    return out


_warm = False  # set by warm_up


def warm_up() -> None:
    """Compile (or load from the cache) every kernel once, serial and parallel, on tiny inputs."""
    global _warm
    if _warm:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", numba.NumbaWarning)
        a = np.zeros((5, 2), dtype=np.uint64)
        w = np.zeros((70, 2), dtype=np.uint64)
        threshold = np.zeros(70, dtype=np.int32)
        x = np.zeros((5, 100), dtype=np.float32)
        perm = np.arange(100, dtype=np.int64)
        planes, pixel_sum, word_range, on_grid = pixel_planes(x, perm, 1e-5, 1)
        pt = np.zeros((2, 70), dtype=np.uint64)
        c = np.zeros(70, dtype=np.int64)
        for table in (_SERIAL, _PARALLEL):
            table["_xnor_bits"](a, w, threshold, np.empty((5, 2), dtype=np.uint64))
            table["_xnor_counts"](a, w, np.empty((5, 70), dtype=np.int32))
            table["_pixel_planes"](x, perm, 1e-5, planes, pixel_sum, word_range, on_grid)
            table["_plane_bits"](planes, word_range, pixel_sum, pt, c, 4, -2, 64, np.empty((5, 2), dtype=np.uint64))
            table["_plane_sums"](planes, word_range, pt, np.empty((5, 70), dtype=np.int64))
    _warm = True
