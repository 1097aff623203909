"""Bit packing of ±1 vectors and the XNOR dot product (Courbariaux et al. 2016, arXiv:1602.02830, sec. 3).

A ±1 vector of length ``K`` becomes ``ceil(K / 64)`` little-endian ``uint64`` words, bit ``i % 64``
of word ``i // 64`` set when element ``i`` is +1. Padding bits are 0 in weights *and* activations,
so their XOR is 0 and never counted: ``dot = K - 2 * popcount(a XOR w)``, ``K`` the true length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

U64 = np.dtype("<u8")


def popcount(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Set bits of each uint64 word, as uint8 (``np.bitwise_count``, numpy >= 2.0)."""
    return np.bitwise_count(x, out=out)


def words_for(k: int) -> int:
    """uint64 words that hold ``k`` bits."""
    return (k + 63) // 64


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Bool array (..., K) -> little-endian uint64 words (..., ceil(K/64)); padding bits 0."""
    bits = np.asarray(bits, dtype=bool)
    k = bits.shape[-1]
    lead = bits.shape[:-1]
    flat = bits.reshape(-1, k)
    packed = np.zeros((flat.shape[0], words_for(k) * 8), dtype=np.uint8)
    packed[:, : (k + 7) // 8] = np.packbits(flat, axis=1, bitorder="little")
    return packed.view(U64).reshape(lead + (words_for(k),))


def unpack_bits(words: np.ndarray, k: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: uint64 words (..., W) -> bool (..., k)."""
    words = np.ascontiguousarray(words, dtype=U64)
    lead = words.shape[:-1]
    as_bytes = words.reshape(-1, words.shape[-1]).view(np.uint8)
    bits = np.unpackbits(as_bytes, axis=1, count=k, bitorder="little").astype(bool)
    return bits.reshape(lead + (k,))


def pack_signs(values: Any) -> np.ndarray:
    """±1 array (..., K) -> packed words (+1 -> bit 1, -1 -> bit 0). Raises on other values."""
    arr = np.asarray(values)
    if arr.size and not np.isin(arr, (-1, 1)).all():
        raise ValueError("pack_signs expects only -1 and +1")
    return pack_bits(arr > 0)


def xnor_dot(a_words: np.ndarray, b_words: np.ndarray, k: int) -> np.ndarray:
    """±1 dot products from packed words: ``K - 2 * popcount(a XOR b)`` summed over words."""
    x = np.bitwise_xor(np.asarray(a_words, dtype=U64), np.asarray(b_words, dtype=U64))
    return k - 2 * popcount(x).sum(axis=-1, dtype=np.int64)


def xnor_dot_example(a: Sequence[int], b: Sequence[int]) -> dict[str, Any]:
    """A ±1 dot product done the XNOR way, every step spelled out (for the UI walkthrough).

    +1 is stored as bit 1 and -1 as bit 0; a XOR b is 1 where the signs differ, so
    ``dot = (#equal) - (#different) = K - 2 * popcount(a XOR b)``. The packed words are padded
    with 0 bits up to a multiple of 64 in both vectors, so padding never reaches the popcount.
    """
    a_list, b_list = [int(v) for v in a], [int(v) for v in b]
    if len(a_list) != len(b_list):
        raise ValueError(f"a and b must have the same length, got {len(a_list)} and {len(b_list)}")
    if not a_list:
        raise ValueError("a and b must not be empty")
    if any(v not in (-1, 1) for v in a_list + b_list):
        raise ValueError("a and b may only contain -1 and +1")
    k = len(a_list)
    a_bits = [1 if v > 0 else 0 for v in a_list]
    b_bits = [1 if v > 0 else 0 for v in b_list]
    xor_bits = [x ^ y for x, y in zip(a_bits, b_bits)]
    count = sum(xor_bits)
    a_words, b_words = pack_signs(a_list), pack_signs(b_list)
    dot = int(xnor_dot(a_words, b_words, k))  # the packed computation; equals sum(a*b)
    return {
        "a": a_list,
        "b": b_list,
        "a_bits": a_bits,
        "b_bits": b_bits,
        "xor_bits": xor_bits,
        "xnor_bits": [1 - v for v in xor_bits],
        "popcount": count,
        "K": k,
        "dot": dot,
        "formula": f"dot = K - 2*popcount(a XOR b) = {k} - 2*{count} = {dot}",
        "words": words_for(k),
        "padding_bits": words_for(k) * 64 - k,
        "a_words_hex": [f"{int(w):016x}" for w in a_words],
        "b_words_hex": [f"{int(w):016x}" for w in b_words],
    }


def center_out_permutation(image_shape: tuple[int, ...]) -> np.ndarray:
    """Pixel order by (elliptic, digits are taller than wide) distance from the image centre,
    channel-major: the blank border of a digit lands in whole zero words, which the bit-plane
    kernels skip (on MNIST test images ~55 of the 8 x 13 plane-words per image; natural order ~75)."""
    if len(image_shape) != 3:
        return np.arange(int(np.prod(image_shape)))
    channels, height, width = image_shape
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    dist = (rows - (height - 1) / 2) ** 2 + ((cols - (width - 1) / 2) / 0.75) ** 2
    key = np.concatenate([dist.ravel() + c * 1e9 for c in range(channels)])
    return np.argsort(key, kind="stable")
