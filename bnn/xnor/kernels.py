"""Fused XNOR-popcount kernels compiled with numba: a whole run of packed layers in one compiled call.

A binarized layer is ``popcount(a XOR w) <= threshold`` per unit (BatchNorm, bias and sign folded
into the integer threshold, see :mod:`bnn.xnor.export`); the bit-plane first layer is
``alpha * sum_j 2^j popcount(B_j AND P) + beta * sum(k) >= c``; a binarized convolution is
``s * max_pool(d) >= T`` per channel, ``d`` summed over the taps inside the image (XNOR on packed
channel words, or exact integers on 8-bit pixels for a first conv). Each step does the XOR (AND), the
popcount, the accumulation and the threshold in one loop nest and writes the unit's bit straight
into the next layer's uint64 words, so nothing is unpacked between layers and no intermediate
array is built. :mod:`bnn.xnor.reference` computes the same with numpy; the tests compare the two
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

Why numba: it installs as a wheel from PyPI (numba + llvmlite, LLVM inside; no compiler needed on
the machine), compiles for the CPU it runs on, and exposes LLVM's ``llvm.ctpop``, atomics and
vector instructions through :func:`numba.extending.intrinsic` (numba itself does not compile
``np.bitwise_count``): LLVM turns ``ctpop`` into ``vpopcntq`` where the CPU has it and into a fast
SWAR/shuffle sequence elsewhere. A C extension would need a build per platform. Compiled code is
cached on disk (``cache=True``) when a cache directory is writable and compiled in memory otherwise;
:func:`warm_up` compiles everything once (the packed model calls it when it is built or loaded), so
the first inference does not pay the JIT.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from types import FunctionType
from typing import Any

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
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


# --- LLVM intrinsics --------------------------------------------------------------------------


@intrinsic
def _popcount64(typingctx: Any, x: types.Type) -> Any:
    """LLVM's ``ctpop`` on a 64-bit integer, returned as int64 (int64 + uint64 would be float64)."""
    if not (isinstance(x, types.Integer) and x.bitwidth == 64):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ctpop = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(ctpop, [args[0]])

    return types.int64(x), codegen


def _item_pointer(context: Any, builder: Any, array_type: Any, array: Any, index_type: Any, index: Any) -> Any:
    ary = context.make_array(array_type)(context, builder, array)
    index = context.cast(builder, index, index_type, types.intp)
    return cgutils.get_item_pointer(context, builder, array_type, ary, [index], wraparound=False)


def _is_int64_vector(array: Any) -> bool:
    return isinstance(array, types.Array) and array.ndim == 1 and array.dtype == types.int64


@intrinsic
def _fetch_add(typingctx: Any, array: types.Type, index: types.Type, value: types.Type) -> Any:
    """``old = array[index]; array[index] += value; return old`` atomically (sequentially consistent:
    what the thread wrote before is visible to whoever reads the new value)."""
    if not (_is_int64_vector(array) and isinstance(index, types.Integer) and isinstance(value, types.Integer)):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = _item_pointer(context, builder, signature.args[0], args[0], signature.args[1], args[1])
        add = context.cast(builder, args[2], signature.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, add, "seq_cst")

    return types.int64(array, index, value), codegen


@intrinsic
def _atomic_read(typingctx: Any, array: types.Type, index: types.Type) -> Any:
    """``array[index]`` read atomically (acquire: what was written before the increment is visible)."""
    if not (_is_int64_vector(array) and isinstance(index, types.Integer)):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = _item_pointer(context, builder, signature.args[0], args[0], signature.args[1], args[1])
        return builder.load_atomic(ptr, "acquire", 8)

    return types.int64(array, index), codegen


@intrinsic
def _bit_plane(typingctx: Any, levels: types.Type, start: types.Type, plane: types.Type) -> Any:
    """The uint64 whose bit b is bit ``plane`` of ``levels[start + b]`` (64 uint8 levels): the 64
    bytes shifted so that bit sits on top, then their sign bits (``vpmovb2m`` on AVX-512,
    ``pmovmskb`` on AVX2)."""
    ok = isinstance(levels, types.Array) and levels.ndim == 1 and levels.dtype == types.uint8
    if not (ok and isinstance(start, types.Integer) and isinstance(plane, types.Integer)):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = _item_pointer(context, builder, signature.args[0], args[0], signature.args[1], args[1])
        byte, vector = ir.IntType(8), ir.VectorType(ir.IntType(8), 64)
        loaded = builder.load(builder.bitcast(ptr, vector.as_pointer()), align=1)
        shift = builder.trunc(context.cast(builder, args[2], signature.args[2], types.int64), byte)
        shift = builder.sub(ir.Constant(byte, 7), shift)
        splat = builder.insert_element(ir.Constant(vector, ir.Undefined), shift, ir.Constant(ir.IntType(32), 0))
        splat = builder.shuffle_vector(
            splat, ir.Constant(vector, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), 64), None)
        )
        top = builder.icmp_signed("<", builder.shl(loaded, splat), ir.Constant(vector, None))
        return builder.bitcast(top, ir.IntType(64))

    return types.uint64(levels, start, plane), codegen


# --- one chunk of a step ----------------------------------------------------------------------


def _planes_chunk(x, perm, grid_tol, planes, ranges, on_grid, levels, i0, i1):  # pragma: no cover
    """Images [i0, i1): 8-bit levels ``k = rint(255 x)`` in ``perm`` order -> bit-planes (N, W, 8):
    plane j of word q holds bit j of pixels 64q..64q+63. Also ``ranges`` (N, 3): sum(k) and the range
    [first, last) of words with a nonzero pixel; and whether the image is on the k/255 grid
    (``|255 x - k| <= grid_tol`` and 0 <= k <= 255, NaN off). ``levels``: K + 64 W bytes of scratch."""
    k_in = x.shape[1]
    words = planes.shape[1]
    natural = levels[:k_in]
    ordered = levels[k_in : k_in + words * 64]
    for i in range(i0, i1):
        ok = True
        total = 0
        for p in range(k_in):
            value = x[i, p]
            level = np.rint(value * np.float32(255.0))
            good = (abs(np.float64(value) * 255.0 - np.float64(level)) <= grid_tol) & (level >= 0) & (level <= 255)
            ok &= good
            v = np.uint8(level) if good else np.uint8(0)
            natural[p] = v
            total += np.int64(v)
        for p in range(k_in):
            ordered[p] = natural[perm[p]]
        for p in range(k_in, words * 64):
            ordered[p] = 0
        lo = words
        hi = 0
        for q in range(words):
            any_bit = np.uint64(0)
            for j in range(8):
                bits = _bit_plane(ordered, q * 64, j)
                planes[i, q, j] = bits
                any_bit |= bits
            if any_bit != 0:
                lo = min(lo, q)
                hi = q + 1
        ranges[i, 0] = total
        ranges[i, 1] = lo
        ranges[i, 2] = max(lo, hi)
        on_grid[i] = ok


def _plane_sums_block(planes, ranges, pt, i, u0, u1, g):  # pragma: no cover - compiled
    """g[u - u0] = sum_j 2^j popcount(planes[i, :, j] AND p[u]) for u in [u0, u1); ``pt`` (W, U).

    Units run innermost over a slice of the row (indices from 0, so LLVM knows they are not
    negative and vectorizes with plain loads, not gathers): each weight word is loaded once for
    all 8 planes, and words without a nonzero pixel are skipped."""
    m = u1 - u0
    for u in range(m):
        g[u] = 0
    for q in range(ranges[i, 1], ranges[i, 2]):
        b0 = planes[i, q, 0]
        b1 = planes[i, q, 1]
        b2 = planes[i, q, 2]
        b3 = planes[i, q, 3]
        b4 = planes[i, q, 4]
        b5 = planes[i, q, 5]
        b6 = planes[i, q, 6]
        b7 = planes[i, q, 7]
        row = pt[q, u0:u1]
        for u in range(m):
            p = row[u]
            g[u] += (
                _popcount64(b0 & p)
                + (_popcount64(b1 & p) << 1)
                + (_popcount64(b2 & p) << 2)
                + (_popcount64(b3 & p) << 3)
                + (_popcount64(b4 & p) << 4)
                + (_popcount64(b5 & p) << 5)
                + (_popcount64(b6 & p) << 6)
                + (_popcount64(b7 & p) << 7)
            )


def _plane_chunk(planes, ranges, pt, c, alpha, beta, bits, out, sums, g, i0, i1, u0, u1):  # pragma: no cover
    """Images [i0, i1) x units [u0, u1) of a bit-plane layer: bits ``alpha*G + beta*sum(k) >= c[u]``
    (exact integers) into ``out`` (N, words), or G itself into ``sums`` (N, U)."""
    m = u1 - u0
    for i in range(i0, i1):
        _plane_sums_block(planes, ranges, pt, i, u0, u1, g)
        if not bits:
            row = sums[i, u0:u1]
            for u in range(m):
                row[u] = g[u]
            continue
        base = beta * ranges[i, 0]
        for j in range(u0 // 64, (u1 + 63) // 64):
            acc = np.uint64(0)
            for u in range(j * 64, min(u1, j * 64 + 64)):
                if alpha * g[u - u0] + base >= c[u]:
                    acc |= np.uint64(1) << np.uint64(u - j * 64)
            out[i, j] = acc


def _xnor_chunk(a, w, threshold, bits, out, sums, i0, i1, u0, u1):  # pragma: no cover - compiled
    """Images [i0, i1) x units [u0, u1) (u0 a multiple of 64) of an XNOR layer: bit u of
    ``out[n]`` = popcount(a[n] XOR w[u]) <= threshold[u], or the popcount itself into ``sums``.

    Output word outer: its 64 weight rows stay in L1 while the images go by, four at a time, so
    every weight word loaded serves four images from registers."""
    words = a.shape[1]
    for j in range(u0 // 64, (u1 + 63) // 64):
        v0 = j * 64
        v1 = min(u1, v0 + 64)
        i = i0
        while i + 4 <= i1:
            acc0 = np.uint64(0)
            acc1 = np.uint64(0)
            acc2 = np.uint64(0)
            acc3 = np.uint64(0)
            for u in range(v0, v1):
                c0 = 0
                c1 = 0
                c2 = 0
                c3 = 0
                for k in range(words):
                    wk = w[u, k]
                    c0 += _popcount64(a[i, k] ^ wk)
                    c1 += _popcount64(a[i + 1, k] ^ wk)
                    c2 += _popcount64(a[i + 2, k] ^ wk)
                    c3 += _popcount64(a[i + 3, k] ^ wk)
                if bits:
                    t = threshold[u]
                    bit = np.uint64(1) << np.uint64(u - v0)
                    if c0 <= t:
                        acc0 |= bit
                    if c1 <= t:
                        acc1 |= bit
                    if c2 <= t:
                        acc2 |= bit
                    if c3 <= t:
                        acc3 |= bit
                else:
                    sums[i, u] = c0
                    sums[i + 1, u] = c1
                    sums[i + 2, u] = c2
                    sums[i + 3, u] = c3
            if bits:
                out[i, j] = acc0
                out[i + 1, j] = acc1
                out[i + 2, j] = acc2
                out[i + 3, j] = acc3
            i += 4
        rest = i
        for i in range(rest, i1):
            acc = np.uint64(0)
            for u in range(v0, v1):
                c = 0
                for k in range(words):
                    c += _popcount64(a[i, k] ^ w[u, k])
                if not bits:
                    sums[i, u] = c
                elif c <= threshold[u]:
                    acc |= np.uint64(1) << np.uint64(u - v0)
            if bits:
                out[i, j] = acc


def _group(r, q, pool, out_width):  # pragma: no cover - compiled
    """The 4 positions a group computes, as (y0, x0, ..., y3, x3): a 2x2 pool window, or (no pool) 4
    neighbours in row r from column 4q (clamped to the last column: a position may come twice)."""
    if pool:
        return 2 * r, 2 * q, 2 * r, 2 * q + 1, 2 * r + 1, 2 * q, 2 * r + 1, 2 * q + 1
    last = out_width - 1
    return r, min(4 * q, last), r, min(4 * q + 1, last), r, min(4 * q + 2, last), r, min(4 * q + 3, last)


def _store_group(d0, d1, d2, d3, threshold, units, out, i, r, q, pool, out_width, out_words):  # pragma: no cover
    """Threshold a group's 4 dot-product vectors: the pooled maximum into one position, else 4 positions."""
    if pool:
        for u in range(units):
            d0[u] = max(max(d0[u], d1[u]), max(d2[u], d3[u]))
        _threshold_bits(d0, threshold, units, out, i, (r * out_width + q) * out_words)
        return
    for j, d in enumerate((d0, d1, d2, d3)):
        x = 4 * q + j
        if x < out_width:
            _threshold_bits(d, threshold, units, out, i, (r * out_width + x) * out_words)


def _threshold_bits(best, threshold, units, out, i, base):  # pragma: no cover - compiled
    """Bit u of words out[i, base:] = s[u] * best[u] >= T[u] (``threshold`` holds T then s)."""
    for j in range((units + 63) // 64):
        word = np.uint64(0)
        for u in range(j * 64, min(units, j * 64 + 64)):
            if threshold[units + u] * best[u] >= threshold[u]:
                word |= np.uint64(1) << np.uint64(u - j * 64)
        out[i, base + j] = word


def _outside_popcounts(wt, y, x, height, width, in_words, ksize, acc):  # pragma: no cover - compiled
    """acc[u] -= popcount(w[u]) over the taps of the window at (y, x) that fall on the zero border:
    there the padded input word is 0, so they counted popcount(0 XOR w), which the float model's zero
    padding does not have. Returns the taps inside the image."""
    units = wt.shape[1]
    p = ksize // 2
    inside = 0
    for dy in range(ksize):
        for dx in range(ksize):
            yy = y + dy - p
            xx = x + dx - p
            if 0 <= yy < height and 0 <= xx < width:
                inside += 1
                continue
            for c in range(in_words):
                t = (dy * ksize + dx) * in_words + c
                for u in range(units):
                    acc[u] -= _popcount64(wt[t, u])
    return inside


def _group_box(r, q, pool, out_width, ksize):  # pragma: no cover - compiled
    """Rows [y0, y1) and columns [x0, x1) of the zero-bordered image that a group's taps read."""
    if pool:
        return 2 * r, 2 * r + 1 + ksize, 2 * q, 2 * q + 1 + ksize
    return r, r + ksize, 4 * q, min(4 * q + 3, out_width - 1) + ksize


def _interior(r, q, pool, out_width, height, width, ksize):  # pragma: no cover - compiled
    """Every tap of the group's positions lies inside the image (no zero border)."""
    y0, y1, x0, x1 = _group_box(r, q, pool, out_width, ksize)
    p = ksize // 2
    return y0 >= p and y1 <= height + p and x0 >= p and x1 <= width + p


def _reuse(out, i, r, q, pool, out_width, out_words, cached, hit):  # pragma: no cover - compiled
    """On a hit, copy the cached output words to the group's positions; else remember the group's words
    (the positions of a uniform group are equal, so its first one speaks for all)."""
    first = r * out_width + (q if pool else 4 * q)
    if not hit:
        for j in range(out_words):
            cached[j] = out[i, first * out_words + j]
        return
    for position in range(first, first + (1 if pool else min(4, out_width - 4 * q))):
        for j in range(out_words):
            out[i, position * out_words + j] = cached[j]


def _conv_chunk(a, wt, threshold, out, geometry, i0, i1, r0, r1):  # pragma: no cover - compiled
    """Images [i0, i1) x output rows [r0, r1) of a binarized XNOR convolution (stride 1, 'same' zero padding,
    optional 2x2 max-pool): ``d = C * taps_inside - 2 * popcounts`` (a padded position adds 0, as in the
    float model), the pool keeps the largest ``d`` of its window, and the unit is +1 iff
    ``s[u] * d >= T[u]`` (``threshold`` holds T then s). Bits go to ``out`` (N, OH * OW * ceil(U/64)).

    The image is copied into a zero-bordered buffer, so every tap reads a word (border taps are taken
    back by :func:`_outside_popcounts`); four positions (a pool window) go together, so each weight
    word loaded serves four positions from registers. The scratch vectors are allocated here: LLVM then
    knows they alias nothing and vectorizes the unit loops. A group inside the image whose taps all read
    the same words (a blank background) has the output of the last such group with those words: it is
    remembered and copied, exactly."""
    channels, height, width, ksize, pool = geometry
    units = wt.shape[1]
    in_words = (channels + 63) // 64
    out_words = (units + 63) // 64
    p = ksize // 2
    padded_w = width + 2 * p
    out_width = width // 2 if pool else width
    groups = out_width if pool else (out_width + 3) // 4
    padded = np.zeros(((height + 2 * p) * padded_w, in_words), np.uint64)
    d0 = np.empty(units, np.int64)
    d1 = np.empty(units, np.int64)
    d2 = np.empty(units, np.int64)
    d3 = np.empty(units, np.int64)
    key = np.empty(in_words, np.uint64)
    cached = np.empty(out_words, np.uint64)
    known = False
    for i in range(i0, i1):
        for y in range(height):
            for x in range(width):
                for c in range(in_words):
                    padded[(y + p) * padded_w + x + p, c] = a[i, (y * width + x) * in_words + c]
        for r in range(r0, r1):
            for q in range(groups):
                uniform = _interior(r, q, pool, out_width, height, width, ksize)
                if uniform:
                    by0, by1, bx0, bx1 = _group_box(r, q, pool, out_width, ksize)
                    first = by0 * padded_w + bx0
                    for yy in range(by0, by1):
                        for xx in range(bx0, bx1):
                            for c in range(in_words):
                                uniform &= padded[yy * padded_w + xx, c] == padded[first, c]
                    if uniform:
                        same = known
                        for c in range(in_words):
                            same &= key[c] == padded[first, c]
                        if same:
                            _reuse(out, i, r, q, pool, out_width, out_words, cached, True)
                            continue
                y0, x0, y1, x1, y2, x2, y3, x3 = _group(r, q, pool, out_width)
                for u in range(units):
                    d0[u] = 0
                    d1[u] = 0
                    d2[u] = 0
                    d3[u] = 0
                for dy in range(ksize):
                    for dx in range(ksize):
                        for c in range(in_words):
                            t = (dy * ksize + dx) * in_words + c
                            a0 = padded[(y0 + dy) * padded_w + x0 + dx, c]
                            a1 = padded[(y1 + dy) * padded_w + x1 + dx, c]
                            a2 = padded[(y2 + dy) * padded_w + x2 + dx, c]
                            a3 = padded[(y3 + dy) * padded_w + x3 + dx, c]
                            for u in range(units):
                                w = wt[t, u]
                                d0[u] += _popcount64(a0 ^ w)
                                d1[u] += _popcount64(a1 ^ w)
                                d2[u] += _popcount64(a2 ^ w)
                                d3[u] += _popcount64(a3 ^ w)
                for y, x, d in ((y0, x0, d0), (y1, x1, d1), (y2, x2, d2), (y3, x3, d3)):
                    inside = ksize * ksize
                    if y < p or x < p or y >= height - p or x >= width - p:
                        inside = _outside_popcounts(wt, y, x, height, width, in_words, ksize, d)
                    k = channels * inside
                    for u in range(units):
                        d[u] = k - 2 * d[u]
                _store_group(d0, d1, d2, d3, threshold, units, out, i, r, q, pool, out_width, out_words)
                if uniform:
                    for c in range(in_words):
                        key[c] = padded[first, c]
                    known = True
                    _reuse(out, i, r, q, pool, out_width, out_words, cached, False)


def _pixel_conv_chunk(x, grid_tol, on_grid, masks, threshold, out, geometry, i0, i1, r0, r1):  # pragma: no cover
    """Images [i0, i1) x output rows [r0, r1) of a convolution on 8-bit pixels, in exact integers: the
    levels ``k = rint(255 x)`` (on the grid: ``|255 x - k| <= grid_tol``, 0 <= k <= 255) become
    ``q = q_mul * k + q_add`` (255 times the scaled pixel) in a zero-bordered image (padding is 0, as
    in the float model), ``E = 2 * sum(q at +1 weights) - sum(q)`` (``masks`` (taps * C, U) int32: -1
    where the weight is +1, else 0), then pool and threshold as :func:`_conv_chunk`, four positions at a
    time, blank groups copied as there. int32 is exact: |E| <= 255 * C * k * k."""
    channels, height, width, ksize, pool, q_mul, q_add = geometry
    units = masks.shape[1]
    out_words = (units + 63) // 64
    p = ksize // 2
    padded_h = height + 2 * p
    padded_w = width + 2 * p
    out_width = width // 2 if pool else width
    groups = out_width if pool else (out_width + 3) // 4
    levels = np.zeros((channels, padded_h, padded_w), np.int32)
    s0 = np.empty(units, np.int32)
    s1 = np.empty(units, np.int32)
    s2 = np.empty(units, np.int32)
    s3 = np.empty(units, np.int32)
    d0 = np.empty(units, np.int64)
    d1 = np.empty(units, np.int64)
    d2 = np.empty(units, np.int64)
    d3 = np.empty(units, np.int64)
    key = np.empty(channels, np.int32)
    cached = np.empty(out_words, np.uint64)
    known = False
    for i in range(i0, i1):
        ok = True
        for c in range(channels):
            for y in range(height):
                for xx in range(width):
                    value = x[i, (c * height + y) * width + xx]
                    level = np.rint(value * np.float32(255.0))
                    good = (abs(np.float64(value) * 255.0 - np.float64(level)) <= grid_tol) & (level >= 0)
                    good &= level <= 255
                    ok &= good
                    k = np.int32(level) if good else np.int32(0)
                    levels[c, y + p, xx + p] = np.int32(q_mul) * k + np.int32(q_add)
        if r0 == 0:
            on_grid[i] = ok
        for r in range(r0, r1):
            for q in range(groups):
                uniform = _interior(r, q, pool, out_width, height, width, ksize)
                if uniform:
                    by0, by1, bx0, bx1 = _group_box(r, q, pool, out_width, ksize)
                    for c in range(channels):
                        for yy in range(by0, by1):
                            for xx in range(bx0, bx1):
                                uniform &= levels[c, yy, xx] == levels[c, by0, bx0]
                    if uniform:
                        same = known
                        for c in range(channels):
                            same &= key[c] == levels[c, by0, bx0]
                        if same:
                            _reuse(out, i, r, q, pool, out_width, out_words, cached, True)
                            continue
                y0, x0, y1, x1, y2, x2, y3, x3 = _group(r, q, pool, out_width)
                for u in range(units):
                    s0[u] = 0
                    s1[u] = 0
                    s2[u] = 0
                    s3[u] = 0
                t0 = t1 = t2 = t3 = 0
                for c in range(channels):
                    for dy in range(ksize):
                        for dx in range(ksize):
                            t = (c * ksize + dy) * ksize + dx
                            v0 = levels[c, y0 + dy, x0 + dx]
                            v1 = levels[c, y1 + dy, x1 + dx]
                            v2 = levels[c, y2 + dy, x2 + dx]
                            v3 = levels[c, y3 + dy, x3 + dx]
                            t0 += v0
                            t1 += v1
                            t2 += v2
                            t3 += v3
                            for u in range(units):
                                m = masks[t, u]
                                s0[u] += m & v0
                                s1[u] += m & v1
                                s2[u] += m & v2
                                s3[u] += m & v3
                for u in range(units):
                    d0[u] = 2 * np.int64(s0[u]) - t0
                    d1[u] = 2 * np.int64(s1[u]) - t1
                    d2[u] = 2 * np.int64(s2[u]) - t2
                    d3[u] = 2 * np.int64(s3[u]) - t3
                _store_group(d0, d1, d2, d3, threshold, units, out, i, r, q, pool, out_width, out_words)
                if uniform:
                    for c in range(channels):
                        key[c] = levels[c, by0, bx0]
                    known = True
                    _reuse(out, i, r, q, pool, out_width, out_words, cached, False)


# --- the program --------------------------------------------------------------------------------


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


def _compile(fn: Any, parallel: bool = False) -> Any:
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


_planes_chunk = _compile(_planes_chunk)
_plane_sums_block = _compile(_plane_sums_block)
_plane_chunk = _compile(_plane_chunk)
_xnor_chunk = _compile(_xnor_chunk)
_group = _compile(_group)
_group_box = _compile(_group_box)
_interior = _compile(_interior)
_reuse = _compile(_reuse)
_threshold_bits = _compile(_threshold_bits)
_store_group = _compile(_store_group)
_outside_popcounts = _compile(_outside_popcounts)
_conv_chunk = _compile(_conv_chunk)
_pixel_conv_chunk = _compile(_pixel_conv_chunk)
_split_size = _compile(_split_size)
_blocks = _compile(_blocks)
_step_chunk = _compile(_step_chunk)
_chunk_count = _compile(_chunk_count)
_SERIAL = _compile(_program)
_PARALLEL = _compile(_program, parallel=True)
_launch_lock = threading.Lock()  # one parallel region at a time (numba's thread count is process-wide)


# --- programs: building and running -----------------------------------------------------------


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
