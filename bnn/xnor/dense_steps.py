"""The dense steps of the fused kernels: bit-planes of 8-bit pixels, the bit-plane first layer, XNOR layers.

A binarized dense layer is ``popcount(a XOR w) <= threshold`` per unit (BatchNorm, bias and sign
folded into the integer threshold, see :mod:`bnn.xnor.export`); the bit-plane first layer is
``alpha * sum_j 2^j popcount(B_j AND P) + beta * sum(k) >= c``. Each function computes one chunk
(images x units) of a step for :mod:`bnn.xnor.kernels`; :mod:`bnn.xnor.numpy_kernels` computes the same
with numpy.
"""

import numpy as np

from .intrinsics import _bit_plane, _compile, _popcount64


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


_planes_chunk = _compile(_planes_chunk)
_plane_sums_block = _compile(_plane_sums_block)
_plane_chunk = _compile(_plane_chunk)
_xnor_chunk = _compile(_xnor_chunk)
