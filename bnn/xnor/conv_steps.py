"""The convolution steps of the fused kernels: binarized XNOR convolutions and the first convolution on pixels.

A binarized convolution is ``s * max_pool(d) >= T`` per channel, ``d`` summed over the taps inside
the image (XNOR on packed channel words, or exact integers on 8-bit pixels for a first conv). Each
chunk (images x output rows) computes four positions (a pool window) at a time and copies the output
of blank groups; :mod:`bnn.xnor.numpy_kernels` computes the same with numpy.
"""

import numpy as np

from .intrinsics import _compile, _popcount64


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


_group = _compile(_group)
_group_box = _compile(_group_box)
_interior = _compile(_interior)
_reuse = _compile(_reuse)
_threshold_bits = _compile(_threshold_bits)
_store_group = _compile(_store_group)
_outside_popcounts = _compile(_outside_popcounts)
_conv_chunk = _compile(_conv_chunk)
_pixel_conv_chunk = _compile(_pixel_conv_chunk)
