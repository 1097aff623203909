"""Bit-packed XNOR-popcount inference for a trained :class:`~bnn.models.BinaryNet` (MLP).

Courbariaux et al. (2016, arXiv:1602.02830, section 3) point out that once weights and
activations are ±1, a dot product is an XNOR followed by a popcount. This module turns a
trained model into that form and runs it with numpy:

* **Packing.** A ±1 vector of length ``K`` becomes ``ceil(K / 64)`` little-endian ``uint64``
  words, bit ``i % 64`` of word ``i // 64`` set when element ``i`` is +1. Padding bits are 0 in
  weights *and* activations, so their XOR is 0 and they are never counted:
  ``dot = K - 2 * popcount(a XOR w)``, ``K`` the true length.
* **Threshold folding.** A hidden unit computes ``sign(BN(dot + bias))`` with sign(0) = +1
  (:func:`bnn.binarize.sign`). BatchNorm (eval: running mean/var, eps, gamma, beta), bias and
  sign are folded into one integer per unit: the unit is +1 iff ``popcount <= threshold``.
  The threshold is not computed from a formula but *found*: a binary search over the reachable
  integer dot values evaluates the model's own float32 ``F.batch_norm`` on
  ``float32(dot + bias)``; float rounding is monotone, so the +1 set is a prefix or a suffix of
  the dot values. This reproduces exactly which side of 0 every pre-activation falls, ties
  (pre == 0 gives +1) and float32 rounding included. Negative gamma (the +1 set is
  ``dot <= t``) is folded by negating that unit's weight bits (``dot -> -dot``), so inference
  has a single comparison; gamma == 0 gives a constant unit (threshold ``K``: always +1, or
  ``-1``: never). The exactness is relative to the float model evaluated with an exactly
  summed matmul, which is what PyTorch computes at batch size 1; batched float GEMMs add the
  bias inside the k-blocked accumulation and may round ``dot + bias`` one ulp differently, so
  in principle a pre-activation within an ulp of 0 can differ from a batched float run.
* **First layer, real pixels: bit-planes (exact).** MNIST pixels are ``k / 255`` with integer
  ``k`` in 0..255. The pixels are split into 8 bit-planes ``B_j`` and, with ``P`` the bits of
  the +1 weights, ``G = sum_i k_i [w_i = +1] = sum_j 2^j popcount(B_j AND P)``. Then
  ``sum_i w_i k_i = 2G - sum_i k_i``, and the first-layer dot is ``E / 255`` with the integer
  ``E = 4G - 2 sum(k) - 255 sum(w)`` for input scale "pm1" (``x*2-1 = (2k-255)/255``) or
  ``E = 2G - sum(k)`` for "01". Every step is integer arithmetic, so the dot is *exact* (the
  float model's own float32 sum over 784 terms is not); the threshold on ``E`` is found as
  above with ``z = float32(E / 255 + bias)``. Pixels are stored centre-out (a fixed
  permutation) so the blank border of a digit falls into whole zero words, which are skipped.
  Where the exact first-layer pre-activation is 0 (possible without BatchNorm and bias) the
  packed engine returns sign(0) = +1, while the float model's rounded 784-term sum lands on
  either side (and changes side with the batch size); with BatchNorm + bias, as in every
  preset, such ties practically never happen.
  Images that are not on the ``k / 255`` grid (``|255 x - k| > 1e-5``) go through a float32
  first layer instead (unpacked ±1 weights, the model's ``F.linear`` + BatchNorm), i.e. they
  are handled as the float model handles them. With ``InputConfig.binarize`` the first layer
  sees ``sign(scaled pixels)`` and is an ordinary XNOR layer.
* **Output layer.** Not binarized (the normal case): ``float32(dot + bias)`` through the
  model's float32 BatchNorm, the very arithmetic of the float model, so the scores and the
  class ranking agree with it (exactly at batch size 1). As the dot takes only K + 1 values,
  small layers (the output layer) evaluate this once per value into a table at first use
  and then just look scores up. Binarized (the "seed" bug): the
  scores are ±1 from the folded thresholds and ``argmax`` ties go to the lowest class, as
  ``torch.argmax`` does.
* **Layers that are not binarized get a float fallback, never a refusal.** A layer whose
  weights are real, or whose input is real (the previous layer's activations are not
  binarized), is computed in float32 with torch (``F.linear``, ``F.batch_norm``, the model's
  activation). Binary weights of such layers are still stored packed (unpacked to float32 on
  first use, not counted in ``nbytes``). CNNs (any conv layer) are refused with :class:`XnorExportError`.

Popcount: ``np.bitwise_count`` (numpy >= 2.0; a byte lookup table otherwise), chosen because it
measured fastest of bitwise_count, byte/16-bit lookup tables and SWAR with numpy or torch
(``python -m benchmarks.xnor`` prints the comparison). Weights are kept transposed,
``(words, units)``, so every numpy inner loop runs over thousands of units instead of 64 words;
word counts are reduced in uint16. A wide layer is run image by image (the XOR scratch of one
image, 2 MB for 4096 x 4096, is reused from a per-thread buffer: fresh multi-MB allocations
page-fault); narrow layers take several images per numpy call. Inputs go through the network in
chunks of 256 images, and batches are split across ``threads`` worker threads (numpy releases
the GIL), default ``torch.get_num_threads()`` so both engines get the same cores. A single
image runs in the calling thread: handing half a layer to a second thread cost more than it
saved on the 2-core test machine.

File format (:func:`save_packed` / :func:`load_packed`): the 8 magic bytes ``b"BNNXNOR\\x00"``,
a uint32 LE version, a uint32 LE header length, a JSON header (layers, array dtypes, shapes,
offsets, payload CRC32), zero padding to 8 bytes, then the raw little-endian arrays. No pickle.
"""

from __future__ import annotations

import json
import math
import os
import threading
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "XnorExportError",
    "PackedFileError",
    "PackedLayer",
    "PackedModel",
    "export_packed",
    "save_packed",
    "load_packed",
    "float_nbytes",
    "xnor_dot_example",
    "pack_signs",
    "xnor_dot",
    "popcount",
]

MAGIC = b"BNNXNOR\x00"
FORMAT_VERSION = 1
GRID_TOL = 1e-5  # |255 x - k| above this: the image is not 8-bit, first layer runs in float32
_GROUP_WORDS = 1 << 18  # uint64 words of XOR scratch per group of images (2 MB)
_MIN_CHUNK = 2  # fewest images a worker thread gets
_CHUNK = 256  # images per pass through the network
_MAX_TABLE = 1 << 18  # entries of a float-output layer's lookup table (1 MB)
_MAX_PLANE_INPUTS = 16000  # bit-plane integers (<= 1020 * K) stay below 2^24: exact in float32
_REAL_ACTIVATIONS = ("hardtanh", "relu", "identity")
_U64 = np.dtype("<u8")


class XnorExportError(ValueError):
    """The model cannot be exported to (or run as) a packed XNOR model; the message says why."""


class PackedFileError(XnorExportError):
    """A file is not a packed BNN Playground model, or is corrupt or of an unknown version."""


# --- popcount and packing ------------------------------------------------------------------

if hasattr(np, "bitwise_count"):

    def popcount(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Set bits of each uint64 word, as uint8 (``np.bitwise_count``)."""
        return np.bitwise_count(x, out=out)

else:  # numpy < 2.0: byte lookup table
    _BYTE_COUNTS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

    def popcount(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Set bits of each uint64 word, as uint8 (byte lookup table)."""
        x = np.ascontiguousarray(x, dtype=_U64)
        counts = _BYTE_COUNTS[x.view(np.uint8)].reshape(x.shape + (8,)).sum(axis=-1, dtype=np.uint8)
        if out is None:
            return counts
        out[...] = counts
        return out


def _words(k: int) -> int:
    return (k + 63) // 64


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Bool array (..., K) -> little-endian uint64 words (..., ceil(K/64)); padding bits 0."""
    bits = np.asarray(bits, dtype=bool)
    k = bits.shape[-1]
    lead = bits.shape[:-1]
    flat = bits.reshape(-1, k)
    packed = np.zeros((flat.shape[0], _words(k) * 8), dtype=np.uint8)
    packed[:, : (k + 7) // 8] = np.packbits(flat, axis=1, bitorder="little")
    return packed.view(_U64).reshape(lead + (_words(k),))


def unpack_bits(words: np.ndarray, k: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: uint64 words (..., W) -> bool (..., k)."""
    words = np.ascontiguousarray(words, dtype=_U64)
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
    x = np.bitwise_xor(np.asarray(a_words, dtype=_U64), np.asarray(b_words, dtype=_U64))
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
        "words": _words(k),
        "padding_bits": _words(k) * 64 - k,
        "a_words_hex": [f"{int(w):016x}" for w in a_words],
        "b_words_hex": [f"{int(w):016x}" for w in b_words],
    }


# --- thread-local scratch -------------------------------------------------------------------

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


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="xnor")
        return _pool


# --- kernels --------------------------------------------------------------------------------


def _xor_popcount(a: np.ndarray, wt: np.ndarray) -> np.ndarray:
    """popcount(a[n] XOR w[u]) for all n, u; ``a`` (N, words), ``wt`` (words, U) -> (N, U)."""
    n_img, words = a.shape
    units = wt.shape[1]
    out_dtype = np.uint16 if words * 64 < 65536 else np.int32
    out = np.empty((n_img, units), dtype=out_dtype)
    group = max(1, _GROUP_WORDS // max(1, words * units))
    for i0 in range(0, n_img, group):
        i1 = min(n_img, i0 + group)
        x = _scratch("x", (i1 - i0, words, units), _U64)
        np.bitwise_xor(a[i0:i1, :, None], wt[None], out=x)
        c = _scratch("c", x.shape, np.uint8)
        popcount(x, out=c)
        np.add.reduce(c, axis=1, dtype=out_dtype, out=out[i0:i1])
    return out


_POW2 = (2.0 ** np.arange(8)).astype(np.float32)


def _plane_popcount(planes: np.ndarray, pt: np.ndarray, scale: int = 1) -> np.ndarray:
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
            if (i1 + 1 - i0) * n_planes * max(1, cand[1] - cand[0]) * units > _GROUP_WORDS:
                break
            lo_hi = cand
            i1 += 1
        w0, w1 = lo_hi
        if w1 > w0:
            x = _scratch("x", (i1 - i0, n_planes, w1 - w0, units), _U64)
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


def _bit_planes(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels (N, K) -> bit-planes packed as (N, 8, words) uint64, plane j = bit j."""
    n_img, k = pixels.shape
    out = np.zeros((n_img, 8, _words(k) * 8), dtype=np.uint8)
    bit = np.empty_like(pixels)
    for j in range(8):
        np.bitwise_and(pixels, np.uint8(1 << j), out=bit)
        out[:, j, : (k + 7) // 8] = np.packbits(bit.view(bool), axis=1, bitorder="little")
    return out.view(_U64)


def _word_range(mask: np.ndarray) -> tuple[int, int]:
    idx = np.flatnonzero(mask)
    return (int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, 0)


def _merge_range(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    if a[1] <= a[0]:
        return b
    if b[1] <= b[0]:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]))


def _center_out_permutation(image_shape: tuple[int, ...]) -> np.ndarray:
    """Pixel order by (elliptic, digits are taller than wide) distance from the image centre,
    channel-major: the blank border of a digit lands in whole zero words, which are skipped.
    On MNIST test images this leaves ~55 of the 8 x 13 plane-words per image (natural order:
    ~75)."""
    if len(image_shape) != 3:
        return np.arange(int(np.prod(image_shape)))
    channels, height, width = image_shape
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    dist = (rows - (height - 1) / 2) ** 2 + ((cols - (width - 1) / 2) / 0.75) ** 2
    key = np.concatenate([dist.ravel() + c * 1e9 for c in range(channels)])
    return np.argsort(key, kind="stable")


# --- packed layers --------------------------------------------------------------------------


@dataclass
class PackedLayer:
    """One layer of a :class:`PackedModel`.

    kind: "xnor" (packed ±1 input and weights), "bitplane" (first layer on 8-bit pixels) or
    "float" (float32 fallback). output: "bits" (sign activation) or "float". ``arrays`` holds
    what is saved: ``weight_bits`` (units, words) uint64 (rows of units with a folded negative
    gamma are negated, see ``flip``), ``threshold`` int32, ``flip`` uint8, and for layers that
    need float arithmetic ``bias``, ``bn_mean``, ``bn_var``, ``bn_weight``, ``bn_bias`` float32,
    ``weight`` float32 (real weights) and ``perm`` (bit-plane pixel order).
    """

    name: str
    kind: str
    in_features: int
    out_features: int
    output: str
    activation: str  # "sign", "hardtanh", "relu" or "identity"
    eps: float | None
    arrays: dict[str, np.ndarray]

    def describe(self) -> dict[str, Any]:
        """The layer's shape and role (for tables and the file header)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "in_features": self.in_features,
            "out_features": self.out_features,
            "output": self.output,
            "activation": self.activation,
        }

    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def nbytes(self) -> int:
        return int(sum(arr.nbytes for arr in self.arrays.values()))

    @property
    def words(self) -> int:
        return _words(self.in_features)

    # runtime views, built once
    def wt(self) -> np.ndarray:
        """Weight bits transposed to (words, units), contiguous: the kernels' layout."""
        if "wt" not in self._cache:
            self._cache["wt"] = np.ascontiguousarray(self.arrays["weight_bits"].T)
        return self._cache["wt"]

    def signed_weights(self) -> torch.Tensor:
        """The model's forward weights as float32 (units, in_features), pixel order natural."""
        if "w_float" not in self._cache:
            if "weight" in self.arrays:
                w = self.arrays["weight"].astype(np.float32)
            else:
                bits = unpack_bits(self.arrays["weight_bits"], self.in_features)
                w = np.where(bits, np.float32(1), np.float32(-1))
                if "flip" in self.arrays:
                    w[self.arrays["flip"].astype(bool)] *= -1
                if "perm" in self.arrays:
                    natural = np.empty_like(w)
                    natural[:, self.arrays["perm"].astype(np.int64)] = w
                    w = natural
            self._cache["w_float"] = torch.from_numpy(np.ascontiguousarray(w))
        return self._cache["w_float"]

    def torch_param(self, key: str) -> torch.Tensor | None:
        if key not in self.arrays:
            return None
        cache_key = "t_" + key
        if cache_key not in self._cache:
            self._cache[cache_key] = torch.from_numpy(np.ascontiguousarray(self.arrays[key], dtype=np.float32))
        return self._cache[cache_key]

    def perm_index(self) -> np.ndarray:
        if "perm" not in self._cache:
            self._cache["perm"] = self.arrays["perm"].astype(np.intp)
        return self._cache["perm"]

    def plane_constants(self, input_scale: str) -> tuple[int, int, np.ndarray, np.ndarray | None]:
        """(alpha, beta, gamma, c): the exact first-layer integer is
        ``E = alpha*G + beta*sum(k) + gamma[u]``; a binarized unit is +1 iff
        ``alpha*G + beta*sum(k) >= c[u]`` (c = threshold - gamma)."""
        key = "plane_" + input_scale
        if key not in self._cache:
            ones = popcount(self.arrays["weight_bits"]).sum(axis=1, dtype=np.int64)
            weight_sum = 2 * ones - self.in_features  # sum of the stored ±1 weights per unit
            if input_scale == "pm1":
                alpha, beta, gamma = 4, -2, -255 * weight_sum
            else:
                alpha, beta, gamma = 2, -1, np.zeros_like(weight_sum)
            c = None
            if "threshold" in self.arrays:
                c = self.arrays["threshold"].astype(np.int64) - gamma
            self._cache[key] = (alpha, beta, gamma, c)
        return self._cache[key]

    def output_table(self) -> np.ndarray | None:
        """For a small XNOR layer with float outputs (the output layer): every possible output,
        ``table[p, u] = activation(BN(float32(K - 2p) + bias[u]))`` for popcount p in 0..K, made
        once with the model's own float32 ops (elementwise, so identical to computing them per
        call). None when the table would exceed ``_MAX_TABLE`` entries."""
        if "table" not in self._cache:
            k, units = self.in_features, self.out_features
            table = None
            if self.kind == "xnor" and self.output == "float" and (k + 1) * units <= _MAX_TABLE:
                z = (k - 2 * np.arange(k + 1, dtype=np.int64)).astype(np.float32)[:, None]
                z = np.ascontiguousarray(np.broadcast_to(z, (k + 1, units)))
                if "bias" in self.arrays:
                    z += self.arrays["bias"]
                with torch.inference_mode():
                    pre = self.normalize(torch.from_numpy(z))
                    table = _activate(pre, self.activation).numpy().astype(np.float32)
                self._cache["columns"] = np.arange(units)
            self._cache["table"] = table
        return self._cache["table"]

    # float part of the layer: z -> BatchNorm -> activation, the model's own float32 ops
    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        if "bn_mean" in self.arrays:
            return F.batch_norm(
                z,
                self.torch_param("bn_mean"),
                self.torch_param("bn_var"),
                self.torch_param("bn_weight"),
                self.torch_param("bn_bias"),
                False,
                0.0,
                float(self.eps),
            )
        return z


def _activate(pre: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "hardtanh":
        return F.hardtanh(pre)
    if activation == "relu":
        return torch.relu(pre)
    return pre


class PackedModel:
    """A packed BinaryNet MLP. :meth:`predict` / :meth:`scores` take pixels in [0, 1].

    ``threads``: worker threads for batches (default ``torch.get_num_threads()``).
    """

    def __init__(
        self,
        layers: list[PackedLayer],
        *,
        input_scale: str,
        input_binarize: bool,
        image_shape: tuple[int, int, int],
        threads: int | None = None,
    ) -> None:
        self.layers = layers
        self.input_scale = input_scale
        self.input_binarize = input_binarize
        self.image_shape = tuple(int(v) for v in image_shape)
        self.threads = threads
        _validate_structure(self)

    # --- facts ------------------------------------------------------------------------------
    @property
    def in_features(self) -> int:
        return int(np.prod(self.image_shape))

    @property
    def num_classes(self) -> int:
        return self.layers[-1].out_features

    @property
    def nbytes(self) -> int:
        """Bytes of the packed arrays (what :func:`save_packed` writes, without its header)."""
        return sum(layer.nbytes for layer in self.layers)

    def summary(self) -> list[dict[str, Any]]:
        """Per layer: name, kind, sizes, output, activation and packed bytes (for tables)."""
        return [{**layer.describe(), "bytes": layer.nbytes} for layer in self.layers]

    def __repr__(self) -> str:
        shape = "-".join([str(self.in_features)] + [str(layer.out_features) for layer in self.layers])
        kinds = ",".join(layer.kind for layer in self.layers)
        return f"PackedModel({shape}, kinds={kinds}, {self.nbytes:,} bytes)"

    # --- inference ----------------------------------------------------------------------------
    def predict(self, images: Any) -> np.ndarray:
        """Class index per image (int64); ties go to the lowest class, like ``torch.argmax``."""
        return np.argmax(self.scores(images), axis=1).astype(np.int64)

    def scores(self, images: Any) -> np.ndarray:
        """Class scores (N, classes) float32: the float model's outputs (±1 if binarized)."""
        x = self._as_input(images)
        threads = self.threads if self.threads is not None else torch.get_num_threads()
        threads = max(1, min(int(threads), len(x) // _MIN_CHUNK))
        if threads <= 1:
            return self._forward_chunked(x)
        parts = np.array_split(x, threads)
        return np.concatenate(list(_get_pool().map(self._forward_chunked, parts)), axis=0)

    def _forward_chunked(self, x: np.ndarray) -> np.ndarray:
        """Scores, _CHUNK images at a time (bounded temporaries, cache-sized scratch)."""
        if len(x) <= _CHUNK:
            return self._forward(x)[-1]
        return np.concatenate([self._forward(x[i : i + _CHUNK])[-1] for i in range(0, len(x), _CHUNK)])

    def layer_outputs(self, images: Any) -> list[np.ndarray]:
        """Every layer's activations: int8 ±1 for binarized layers, float32 otherwise."""
        outs = self._forward(self._as_input(images), keep_all=True)
        return [o if o.dtype == np.float32 else np.where(o, 1, -1).astype(np.int8) for o in outs]

    def _as_input(self, images: Any) -> np.ndarray:
        if isinstance(images, torch.Tensor):
            images = images.detach().cpu().numpy()
        x = np.asarray(images, dtype=np.float32)
        k = self.in_features
        if x.size % k != 0:
            raise ValueError(f"images must hold a multiple of {k} pixels, got shape {x.shape}")
        return np.ascontiguousarray(x.reshape(-1, k))

    def _forward(self, x: np.ndarray, keep_all: bool = False) -> list[np.ndarray]:
        """Run all layers; outputs are bool (N, U) for bits, float32 (N, U) otherwise."""
        outs: list[np.ndarray] = []
        if self.input_binarize:
            scaled = x * np.float32(2) - np.float32(1) if self.input_scale == "pm1" else x
            state: np.ndarray = scaled >= 0  # sign(0) = +1
        else:
            state = x  # float pixels in [0, 1]
        packed: np.ndarray | None = None
        for index, layer in enumerate(self.layers):
            if layer.kind == "xnor":
                if packed is None:
                    packed = pack_bits(state)
                result = self._run_xnor(layer, packed)
            elif layer.kind == "bitplane":
                result = self._run_bitplane(layer, state)
            else:
                result = self._run_float(layer, self._float_input(state, index == 0))
            packed = None
            state = result
            if keep_all:
                outs.append(result)
        if not keep_all:
            outs.append(state)
        last = outs[-1]
        if last.dtype == bool:  # binarized output layer: scores ±1
            outs[-1] = np.where(last, np.float32(1), np.float32(-1))
        return outs

    def _float_input(self, state: np.ndarray, first: bool) -> torch.Tensor:
        if state.dtype == bool:
            return torch.from_numpy(np.where(state, np.float32(1), np.float32(-1)))
        if first and self.input_scale == "pm1":
            return torch.from_numpy(state) * 2 - 1
        return torch.from_numpy(state)

    def _finish(self, layer: PackedLayer, z: np.ndarray) -> np.ndarray:
        """float32 z (N, U) -> the model's BatchNorm and activation (float or sign bits)."""
        pre = layer.normalize(torch.from_numpy(z))
        if layer.output == "bits":
            return (pre >= 0).numpy()
        return _activate(pre, layer.activation).numpy().astype(np.float32, copy=False)

    def _run_xnor(self, layer: PackedLayer, packed: np.ndarray) -> np.ndarray:
        counts = _xor_popcount(packed, layer.wt())
        if layer.output == "bits":
            return counts <= layer.arrays["threshold"]
        table = layer.output_table()
        if table is not None:
            return table[counts, layer._cache["columns"]]
        dots = np.int32(layer.in_features) - 2 * counts.astype(np.int32)
        z = dots.astype(np.float32)
        if "bias" in layer.arrays:
            z += layer.arrays["bias"]  # float32(dot + bias), as F.linear at batch size 1
        return self._finish(layer, z)

    def _run_bitplane(self, layer: PackedLayer, x: np.ndarray) -> np.ndarray:
        k = np.rint(x * np.float32(255))
        on_grid = (np.abs(x.astype(np.float64) * 255 - k) <= GRID_TOL).all(axis=1) & (k >= 0).all(axis=1)
        on_grid &= (k <= 255).all(axis=1)
        if not on_grid.all():
            out = self._run_bitplane(layer, x[on_grid]) if on_grid.any() else None
            rest = self._run_float(layer, self._float_input(np.ascontiguousarray(x[~on_grid]), True))
            merged = np.empty((len(x), layer.out_features), dtype=rest.dtype)
            merged[~on_grid] = rest
            if out is not None:
                merged[on_grid] = out
            return merged
        pixels = k.astype(np.uint8)[:, layer.perm_index()]
        planes = _bit_planes(pixels)  # (N, 8, words)
        ksum = pixels.sum(axis=1, dtype=np.int64)[:, None]
        alpha, beta, gamma, c = layer.plane_constants(self.input_scale)
        if layer.output == "bits":
            # alpha*G + beta*sum(k) >= c, all integers below 2^24: exact in float32
            scaled_g = _plane_popcount(planes, layer.wt(), alpha)
            return scaled_g >= (c[None, :] - beta * ksum).astype(np.float32)
        g = _plane_popcount(planes, layer.wt()).astype(np.int64)
        e = alpha * g + beta * ksum + gamma[None, :]
        z = e / 255.0
        if "bias" in layer.arrays:
            z = z + layer.arrays["bias"].astype(np.float64)
        return self._finish(layer, z.astype(np.float32))

    def _run_float(self, layer: PackedLayer, x: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            z = F.linear(x, layer.signed_weights(), layer.torch_param("bias"))
            pre = layer.normalize(z)
            if layer.output == "bits":
                return (pre >= 0).numpy()
            return _activate(pre, layer.activation).numpy().astype(np.float32, copy=False)


# --- export -----------------------------------------------------------------------------------


def float_nbytes(model: nn.Module) -> int:
    """float32 bytes of the model's parameters (weights, biases, BatchNorm gamma and beta)."""
    return int(sum(p.numel() for p in model.parameters())) * 4


def _as_f32(t: torch.Tensor | None, what: str, copy: bool = True) -> np.ndarray | None:
    if t is None:
        return None
    arr = t.detach().to("cpu", torch.float32).numpy()
    arr = arr.copy() if copy else arr
    if not np.isfinite(arr).all():
        raise XnorExportError(f"{what} holds NaN or infinite values: train the model again")
    return arr


def _bn_arrays(norm: nn.Module, name: str) -> tuple[dict[str, np.ndarray], float | None]:
    if isinstance(norm, nn.Identity):
        return {}, None
    if not isinstance(norm, nn.BatchNorm1d):
        raise XnorExportError(f"{name}: unsupported normalization {type(norm).__name__}")
    if not norm.track_running_stats or norm.running_mean is None or norm.running_var is None:
        raise XnorExportError(f"{name}: BatchNorm without running statistics cannot be folded")
    arrays = {
        "bn_mean": _as_f32(norm.running_mean, f"{name} BatchNorm running mean"),
        "bn_var": _as_f32(norm.running_var, f"{name} BatchNorm running variance"),
    }
    if norm.affine:
        arrays["bn_weight"] = _as_f32(norm.weight, f"{name} BatchNorm gamma")
        arrays["bn_bias"] = _as_f32(norm.bias, f"{name} BatchNorm beta")
    if not (arrays["bn_var"].astype(np.float64) + norm.eps > 0).all():
        raise XnorExportError(f"{name}: BatchNorm running variance + eps is not positive")
    return arrays, float(norm.eps)


def _sign_of_pre(layer: PackedLayer, z: np.ndarray) -> np.ndarray:
    """pre >= 0 for float32 z of shape (U,), through the layer's float32 BatchNorm."""
    with torch.inference_mode():
        return (layer.normalize(torch.from_numpy(z.astype(np.float32).reshape(1, -1))) >= 0).numpy()[0]


def _first_true(pred: Any, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per unit, the smallest integer v in (lo, hi] with pred(v) true; pred(lo) false, pred(hi)
    true, pred monotone (false...true). Vectorized bisection."""
    lo, hi = lo.astype(np.int64).copy(), hi.astype(np.int64).copy()
    while (hi - lo > 1).any():
        active = hi - lo > 1
        mid = np.where(active, (lo + hi) // 2, hi)
        ok = pred(mid)
        hi = np.where(active & ok, mid, hi)
        lo = np.where(active & ~ok, mid, lo)
    return hi


def _fold_thresholds(layer: PackedLayer, z_of: Any, v_min: int, v_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Find, per unit, where sign(BN(z(v))) changes over integers v in [v_min, v_max].

    Returns (t, flip): the unit is +1 iff v >= t (flip False) or iff v <= t (flip True).
    Constant units: flip False and t = v_min (always +1) or t = v_max + 1 (never).
    """
    units = layer.out_features
    lo_end = np.full(units, v_min, dtype=np.int64)
    hi_end = np.full(units, v_max, dtype=np.int64)
    pos_lo = _sign_of_pre(layer, z_of(lo_end))
    pos_hi = _sign_of_pre(layer, z_of(hi_end))
    rising = pos_hi & ~pos_lo
    falling = pos_lo & ~pos_hi

    # predicate "same side as the top end", false at v_min and true at v_max for changing units
    def same_as_top(v: np.ndarray) -> np.ndarray:
        return _sign_of_pre(layer, z_of(v)) == pos_hi

    boundary = _first_true(same_as_top, lo_end, hi_end)
    t = np.where(pos_hi, v_min, v_max + 1)  # constant units
    t = np.where(rising, boundary, t)  # +1 iff v >= boundary
    t = np.where(falling, boundary - 1, t)  # +1 iff v <= boundary - 1
    return t, falling


def export_packed(model: nn.Module, *, threads: int | None = None) -> PackedModel:
    """Pack a trained :class:`~bnn.models.BinaryNet` MLP (see the module docstring).

    Raises :class:`XnorExportError` for CNNs, BatchNorm without running statistics, and
    NaN/infinite parameters. Layers that are not binarized become float32 fallback layers.
    """
    from .models import BinaryNet

    if not isinstance(model, BinaryNet):
        raise XnorExportError(f"expected a BinaryNet, got {type(model).__name__}")
    config = model.config
    if config.is_cnn:
        convs = [b.name for b in model.blocks if b.config.kind == "conv"]
        raise XnorExportError(
            "the XNOR engine packs MLPs (dense layers) only; this model has convolution layers "
            f"({', '.join(convs)}). Use the float model for CNNs."
        )
    if config.input.scale not in ("pm1", "01"):
        raise XnorExportError(f"unknown input scale {config.input.scale!r}")
    image_shape = tuple(int(v) for v in config.image_shape)
    in_features = int(np.prod(image_shape))
    layers: list[PackedLayer] = []
    input_is_bits = config.input.binarize
    input_is_pixels = not config.input.binarize
    with torch.no_grad():
        for block in model.blocks:
            name = block.name
            linear = block.linear
            weight = _as_f32(linear.weight, f"{name} weights", copy=False)
            if weight.ndim != 2 or weight.shape[1] != in_features:
                raise XnorExportError(f"{name}: weight shape {weight.shape} does not fit {in_features} inputs")
            units = weight.shape[0]
            bias = _as_f32(linear.bias, f"{name} bias")
            bn, eps = _bn_arrays(block.norm, name)
            binarized_out = bool(block.activation.binarized)
            activation = "sign" if binarized_out else block.activation.real
            if activation not in ("sign",) + _REAL_ACTIVATIONS:
                raise XnorExportError(f"{name}: unsupported activation {activation!r}")
            binary_w = bool(linear.binarize_weights)
            if binary_w and input_is_bits:
                kind = "xnor"
            elif binary_w and input_is_pixels and in_features <= _MAX_PLANE_INPUTS:
                kind = "bitplane"
            else:
                kind = "float"
            arrays: dict[str, np.ndarray] = {}
            w_pos = weight >= 0  # sign(W) = +1, sign(0) = +1
            float_part = dict(bn)
            if bias is not None:
                float_part["bias"] = bias
            layer = PackedLayer(
                name=name,
                kind=kind,
                in_features=in_features,
                out_features=units,
                output="bits" if binarized_out else "float",
                activation=activation,
                eps=eps,
                arrays=arrays,
            )
            if kind == "float":
                if binary_w:
                    arrays["weight_bits"] = pack_bits(w_pos)
                else:
                    arrays["weight"] = weight.copy()
                arrays.update(float_part)
            else:
                if kind == "bitplane":
                    perm = _center_out_permutation(image_shape)
                    w_pos = w_pos[:, perm]
                    arrays["perm"] = perm.astype("<u2" if in_features < 65536 else "<i4")
                layer.arrays.update(float_part)  # BN/bias needed while folding
                if binarized_out:
                    flip = _fold_layer(layer, kind)
                    w_pos ^= flip[:, None]  # negated rows: dot -> -dot
                    arrays["flip"] = flip.astype(np.uint8)
                    if kind == "xnor":  # float part no longer needed
                        for key in float_part:
                            del arrays[key]
                arrays["weight_bits"] = pack_bits(w_pos)
            layer._cache.clear()
            layers.append(layer)
            in_features = units
            input_is_bits, input_is_pixels = binarized_out, False
    return PackedModel(
        layers,
        input_scale=config.input.scale,
        input_binarize=config.input.binarize,
        image_shape=image_shape,
        threads=threads,
    )


def _fold_layer(layer: PackedLayer, kind: str) -> np.ndarray:
    """Store the folded ``threshold`` in ``layer.arrays``; return the flip (negated-row) mask."""
    k = layer.in_features
    bias = layer.arrays.get("bias")
    if kind == "xnor":
        # v = j in 0..K with dot d = 2j - K; z = float32(d) + float32(bias) in float32
        def z_of(j: np.ndarray) -> np.ndarray:
            z = (2 * j - k).astype(np.float32)
            return z + bias if bias is not None else z

        t, flip = _fold_thresholds(layer, z_of, 0, k)
        # +1 iff j >= t  <=>  popcount p = K - j <= K - t; flipped rows: j' = K - j, p' = j,
        # +1 iff j <= t  <=>  p' <= t. Constant units: t = 0 -> K (always), t = K+1 -> -1 (never)
        threshold = np.where(flip, t, k - t)
    else:
        # v = E, the exact integer with first-layer dot = E / 255; z = float32(E/255 + bias)
        e_max = 255 * k

        def z_of(e: np.ndarray) -> np.ndarray:
            z = e.astype(np.float64) / 255.0
            if bias is not None:
                z = z + bias.astype(np.float64)
            return z.astype(np.float32)

        t, flip = _fold_thresholds(layer, z_of, -e_max, e_max)
        # flipped rows negate E: +1 iff E <= t  <=>  -E >= -t
        threshold = np.where(flip, -t, t)
    layer.arrays["threshold"] = threshold.astype("<i4")
    return flip


# --- structure checks, save and load ------------------------------------------------------------


def _validate_structure(packed: PackedModel) -> None:
    """Raise :class:`PackedFileError` unless the layers fit together and the arrays fit them."""

    def bad(message: str) -> PackedFileError:
        return PackedFileError(f"inconsistent packed model: {message}")

    if packed.input_scale not in ("pm1", "01"):
        raise bad(f"input scale {packed.input_scale!r}")
    if not packed.layers:
        raise bad("no layers")
    fan_in = int(np.prod(packed.image_shape))
    for index, layer in enumerate(packed.layers):
        a = layer.arrays
        if layer.in_features != fan_in:
            raise bad(f"{layer.name} expects {layer.in_features} inputs, gets {fan_in}")
        units, words = layer.out_features, _words(layer.in_features)
        if layer.kind not in ("xnor", "bitplane", "float") or layer.output not in ("bits", "float"):
            raise bad(f"{layer.name}: kind {layer.kind!r} / output {layer.output!r}")
        if (layer.output == "bits") != (layer.activation == "sign") or layer.activation not in (
            ("sign",) + _REAL_ACTIVATIONS
        ):
            raise bad(f"{layer.name}: activation {layer.activation!r} with output {layer.output!r}")
        if layer.kind == "bitplane" and (index != 0 or packed.input_binarize):
            raise bad(f"{layer.name}: bit-plane layer that does not see the pixels")
        if layer.kind == "xnor" and index == 0 and not packed.input_binarize:
            raise bad(f"{layer.name}: XNOR layer on real pixels")
        expect: dict[str, tuple[tuple[int, ...], str]] = {}
        if "weight" in a:
            expect["weight"] = ((units, layer.in_features), "<f4")
        else:
            expect["weight_bits"] = ((units, words), "<u8")
        if layer.kind != "float" and layer.output == "bits":
            expect["threshold"] = ((units,), "<i4")
            expect["flip"] = ((units,), "|u1")
        if layer.kind == "bitplane":
            expect["perm"] = ((layer.in_features,), a["perm"].dtype.str if "perm" in a else "<u2")
        for key in ("bias", "bn_mean", "bn_var", "bn_weight", "bn_bias"):
            if key in a:
                expect[key] = ((units,), "<f4")
        needs_float = layer.kind != "xnor" or layer.output == "float"
        if needs_float and ("bn_mean" in a) != ("bn_var" in a):
            raise bad(f"{layer.name}: BatchNorm statistics incomplete")
        if needs_float and "bn_mean" in a and layer.eps is None:
            raise bad(f"{layer.name}: BatchNorm without eps")
        for key, (shape, dtype) in expect.items():
            if key not in a:
                raise bad(f"{layer.name}: missing array {key}")
            if tuple(a[key].shape) != shape or np.dtype(a[key].dtype) != np.dtype(dtype):
                raise bad(f"{layer.name}: {key} is {a[key].dtype}{a[key].shape}, expected {dtype}{shape}")
        extra = set(a) - set(expect)
        if extra:
            raise bad(f"{layer.name}: unexpected arrays {sorted(extra)}")
        if "perm" in a and not np.array_equal(np.sort(a["perm"].astype(np.int64)), np.arange(layer.in_features)):
            raise bad(f"{layer.name}: pixel order is not a permutation")
        fan_in = units
    if packed.layers[-1].out_features < 2:
        raise bad("fewer than 2 classes")


def save_packed(packed: PackedModel, path: str | os.PathLike) -> int:
    """Write ``packed`` to ``path``; returns the file size in bytes."""
    entries = []
    chunks: list[bytes] = []
    offset = 0
    layers_meta = []
    for layer in packed.layers:
        arrays_meta = []
        for key, arr in layer.arrays.items():
            data = np.ascontiguousarray(arr)
            dtype = data.dtype.newbyteorder("<") if data.dtype.byteorder not in ("|", "<") else data.dtype
            raw = data.astype(dtype, copy=False).tobytes()
            pad = (-offset) % 8
            if pad:
                chunks.append(b"\x00" * pad)
                offset += pad
            arrays_meta.append(
                {
                    "key": key,
                    "dtype": np.dtype(dtype).str,
                    "shape": list(data.shape),
                    "offset": offset,
                    "nbytes": len(raw),
                }
            )
            chunks.append(raw)
            offset += len(raw)
        layers_meta.append({**layer.describe(), "eps": layer.eps, "arrays": arrays_meta})
        entries.extend(arrays_meta)
    payload = b"".join(chunks)
    header = {
        "format": "bnn-playground-xnor",
        "version": FORMAT_VERSION,
        "input_scale": packed.input_scale,
        "input_binarize": packed.input_binarize,
        "image_shape": list(packed.image_shape),
        "layers": layers_meta,
        "payload_nbytes": len(payload),
        "payload_crc32": zlib.crc32(payload),
    }
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head = MAGIC + FORMAT_VERSION.to_bytes(4, "little") + len(header_bytes).to_bytes(4, "little")
    pre = head + header_bytes
    pre += b"\x00" * ((-len(pre)) % 8)
    with open(path, "wb") as handle:
        handle.write(pre)
        handle.write(payload)
    return len(pre) + len(payload)


_ALLOWED_DTYPES = {"<u8", "<i4", "<f4", "|u1", "<u2"}


def load_packed(path: str | os.PathLike, *, threads: int | None = None) -> PackedModel:
    """Read a file written by :func:`save_packed`; :class:`PackedFileError` for anything else."""
    with open(path, "rb") as handle:
        data = handle.read()

    def bad(reason: str) -> PackedFileError:
        return PackedFileError(f"{os.fspath(path)} is not a BNN Playground packed model ({reason})")

    if len(data) < 16 or data[:8] != MAGIC:
        raise bad(f"it does not start with the magic bytes {MAGIC!r}")
    version = int.from_bytes(data[8:12], "little")
    if version != FORMAT_VERSION:
        raise PackedFileError(
            f"{os.fspath(path)} is a packed model of format version {version}; this code reads "
            f"version {FORMAT_VERSION}. Export the model again."
        )
    header_len = int.from_bytes(data[12:16], "little")
    if 16 + header_len > len(data):
        raise bad("the header is truncated")
    try:
        header = json.loads(data[16 : 16 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"the header is not valid JSON: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != "bnn-playground-xnor":
        raise bad("the header does not name the format")
    start = 16 + header_len
    start += (-start) % 8
    payload = data[start:]
    try:
        if len(payload) != header["payload_nbytes"]:
            raise bad(f"the payload is {len(payload)} bytes, the header says {header['payload_nbytes']} (truncated?)")
        if zlib.crc32(payload) != header["payload_crc32"]:
            raise bad("the payload checksum does not match (corrupt file)")
        layers = []
        for meta in header["layers"]:
            arrays = {}
            for entry in meta["arrays"]:
                dtype = str(entry["dtype"])
                if dtype not in _ALLOWED_DTYPES:
                    raise bad(f"array dtype {dtype!r} is not allowed")
                shape = tuple(int(v) for v in entry["shape"])
                count = math.prod(shape)
                off, nbytes = int(entry["offset"]), int(entry["nbytes"])
                if nbytes != count * np.dtype(dtype).itemsize or off < 0 or off + nbytes > len(payload):
                    raise bad(f"array {meta['name']}.{entry['key']} does not fit the payload")
                arr = np.frombuffer(payload, dtype=dtype, count=count, offset=off).reshape(shape).copy()
                arrays[str(entry["key"])] = arr
            layers.append(
                PackedLayer(
                    name=str(meta["name"]),
                    kind=str(meta["kind"]),
                    in_features=int(meta["in_features"]),
                    out_features=int(meta["out_features"]),
                    output=str(meta["output"]),
                    activation=str(meta["activation"]),
                    eps=None if meta["eps"] is None else float(meta["eps"]),
                    arrays=arrays,
                )
            )
        return PackedModel(
            layers,
            input_scale=str(header["input_scale"]),
            input_binarize=bool(header["input_binarize"]),
            image_shape=tuple(int(v) for v in header["image_shape"]),
            threads=threads,
        )
    except PackedFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"malformed header: {type(exc).__name__}: {exc}") from None
