"""The pure-numpy XNOR-popcount kernels: the reference the fused kernels (:mod:`bnn.xnor.kernels`) match.

Same arithmetic as the fused kernels, written as numpy array operations: XOR (AND for bit-planes),
``np.bitwise_count``, then a reduction, each step building an intermediate array. Weights are
transposed, ``(words, units)``, so every numpy inner loop runs over thousands of units; scratch
buffers are reused per thread. The engine's ``engine="numpy"`` runs on these.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .packing import U64, popcount, words_for

GROUP_WORDS = 1 << 18  # uint64 words of XOR scratch per group of images (2 MB)

_local = threading.local()


def _scratch(name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A reusable per-thread buffer (avoids page faults of fresh multi-MB allocations)."""
    buffers = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = {}
    size = math.prod(shape)
    dtype = np.dtype(dtype)
    buf = buffers.get((name, dtype))
    if buf is None or buf.size < size:
        buf = buffers[(name, dtype)] = np.empty(max(size, 1), dtype=dtype)
    return buf[:size].reshape(shape)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="xnor")
        return _pool


def xor_popcount(a: np.ndarray, wt: np.ndarray) -> np.ndarray:
    """popcount(a[n] XOR w[u]) for all n, u; ``a`` (N, words), ``wt`` (words, U) -> (N, U)."""
    n_img, words = a.shape
    units = wt.shape[1]
    out_dtype = np.uint16 if words * 64 < 65536 else np.int32
    out = np.empty((n_img, units), dtype=out_dtype)
    group = max(1, GROUP_WORDS // max(1, words * units))
    for i0 in range(0, n_img, group):
        i1 = min(n_img, i0 + group)
        x = _scratch("x", (i1 - i0, words, units), U64)
        np.bitwise_xor(a[i0:i1, :, None], wt[None], out=x)
        c = _scratch("c", x.shape, np.uint8)
        popcount(x, out=c)
        np.add.reduce(c, axis=1, dtype=out_dtype, out=out[i0:i1])
    return out


_POW2 = (2.0 ** np.arange(8)).astype(np.float32)


def plane_popcount(planes: np.ndarray, pt: np.ndarray, scale: int = 1) -> np.ndarray:
    """scale * G[n, u] as float32, G = sum_j 2^j popcount(planes[n, j] AND p[u]).

    ``planes`` (N, 8, words), ``pt`` (words, U). Only the range of words holding a nonzero
    bit in a group of images is touched. The weighted plane sum runs as a float32 matmul,
    exact because every value is an integer below 2^24 (checked by the caller).
    """
    n_img, n_planes, words = planes.shape
    units = pt.shape[1]
    weights = _POW2[:n_planes] * np.float32(scale)
    out = np.zeros((n_img, units), dtype=np.float32)
    nonzero_words = planes.any(axis=1)  # (N, words)
    i0 = 0
    while i0 < n_img:
        # grow the group while the scratch stays within budget
        i1 = i0 + 1
        lo_hi = _word_range(nonzero_words[i0])
        while i1 < n_img:
            cand = _merge_range(lo_hi, _word_range(nonzero_words[i1]))
            if (i1 + 1 - i0) * n_planes * max(1, cand[1] - cand[0]) * units > GROUP_WORDS:
                break
            lo_hi = cand
            i1 += 1
        w0, w1 = lo_hi
        if w1 > w0:
            x = _scratch("x", (i1 - i0, n_planes, w1 - w0, units), U64)
            np.bitwise_and(planes[i0:i1, :, w0:w1, None], pt[None, None, w0:w1, :], out=x)
            c = _scratch("c", x.shape, np.uint8)
            popcount(x, out=c)
            s16 = _scratch("s16", (i1 - i0, n_planes, units), np.uint16)
            np.add.reduce(c, axis=2, dtype=np.uint16, out=s16)
            s = _scratch("s", s16.shape, np.float32)
            s[...] = s16
            np.matmul(weights, s, out=out[i0:i1])
        i0 = i1
    return out


def bit_planes(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels (N, K) -> bit-planes packed as (N, 8, words) uint64, plane j = bit j."""
    n_img, k = pixels.shape
    out = np.zeros((n_img, 8, words_for(k) * 8), dtype=np.uint8)
    bit = np.empty_like(pixels)
    for j in range(8):
        np.bitwise_and(pixels, np.uint8(1 << j), out=bit)
        out[:, j, : (k + 7) // 8] = np.packbits(bit.view(bool), axis=1, bitorder="little")
    return out.view(U64)


def _word_range(mask: np.ndarray) -> tuple[int, int]:
    idx = np.flatnonzero(mask)
    return (int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, 0)


def _merge_range(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    if a[1] <= a[0]:
        return b
    if b[1] <= b[0]:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]))


def xnor_conv(a: np.ndarray, wt: np.ndarray, channels: int, ksize: int) -> np.ndarray:
    """Dot products (N, H, W, U) int64 of a binary convolution (stride 1, 'same' zero padding).

    ``a`` (N, H, W, Cw): each pixel's ``channels`` ±1 inputs packed in Cw words; ``wt`` (taps, Cw, U).
    A tap inside the image adds ``C - 2 * popcount(a XOR w)``; a padded tap adds 0, as the zero
    padding of the float model does."""
    n, height, width, words = a.shape
    p = ksize // 2
    padded = np.zeros((n, height + 2 * p, width + 2 * p, words), dtype=U64)
    padded[:, p : p + height, p : p + width] = a
    inside = np.zeros((height + 2 * p, width + 2 * p), dtype=np.int64)
    inside[p : p + height, p : p + width] = 1
    d = np.zeros((n, height, width, wt.shape[2]), dtype=np.int64)
    for dy in range(ksize):
        for dx in range(ksize):
            window = padded[:, dy : dy + height, dx : dx + width, :, None]
            counts = popcount(np.bitwise_xor(window, wt[dy * ksize + dx])).sum(axis=3, dtype=np.int64)
            d += inside[dy : dy + height, dx : dx + width, None] * (channels - 2 * counts)
    return d


def pixel_conv(q: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact integer convolution (N, H, W, U) of pixel levels ``q`` (N, C, H, W) with ±1 weights
    ``w`` (U, C, k, k), 'same' zero padding, stride 1."""
    ksize = w.shape[-1]
    p = ksize // 2
    padded = np.pad(q.astype(np.int64), ((0, 0), (0, 0), (p, p), (p, p)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (ksize, ksize), axis=(2, 3))  # (N, C, H, W, k, k)
    return np.einsum("nchwyx,ucyx->nhwu", windows, w.astype(np.int64))


def max_pool(d: np.ndarray) -> np.ndarray:
    """2x2 max-pool (floor) of (N, H, W, U)."""
    n, height, width, units = d.shape
    h2, w2 = height // 2, width // 2
    return d[:, : 2 * h2, : 2 * w2].reshape(n, h2, 2, w2, 2, units).max(axis=(2, 4))
