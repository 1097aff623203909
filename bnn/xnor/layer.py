"""One layer of a packed BinaryNet: its kinds, saved arrays, the layouts the engines read, its float parts.

A :class:`PackedLayer` holds what :func:`bnn.xnor.export_packed` folds out of a float layer (packed
±1 weight bits, integer thresholds, and the float parameters a real-valued or fallback layer needs)
and derives from them what the engines of :class:`bnn.xnor.model.PackedModel` read: transposed
weight words, conv thresholds, pixel masks, bit-plane constants, a float-output lookup table, the
float32 weights and BatchNorm of the fallback. Also the errors of packed models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .packing import popcount, unpack_bits, words_for

KINDS = ("xnor", "bitplane", "conv", "pixelconv", "float")
REAL_ACTIVATIONS = ("hardtanh", "relu", "identity")
_MAX_TABLE = 1 << 18  # entries of a float-output layer's lookup table (1 MB)
DERIVED_ARRAYS = ("table",)  # saved for readers without torch, computed from the other arrays


class XnorExportError(ValueError):
    """The model cannot be exported to (or run as) a packed XNOR model; the message says why."""


class PackedFileError(XnorExportError):
    """A file is not a packed BNN Playground model, or is corrupt or of an unknown version."""


@dataclass
class PackedLayer:
    """One layer of a :class:`PackedModel`.

    kind: "xnor" (dense, packed ±1 input and weights), "bitplane" (dense first layer on 8-bit pixels),
    "conv" (XNOR convolution on packed ±1 channels), "pixelconv" (convolution on 8-bit pixels, exact
    integers) or "float" (float32 fallback, dense or conv). output: "bits" (sign activation) or "float".
    ``arrays`` holds what is saved: ``weight_bits`` (units, words) uint64, ``threshold`` int32, ``flip``
    uint8, and for layers that need float arithmetic ``bias``, ``bn_mean``, ``bn_var``, ``bn_weight``,
    ``bn_bias`` float32, ``weight`` float32 (real weights, (units, fan-in)), ``perm`` (bit-plane pixel order)
    and ``table`` float32 (K + 1, units): a float-output XNOR layer's every output, by popcount.
    Dense layers: +1 iff popcount <= threshold, rows of units with a folded negative gamma negated
    (``flip``). Convolutions: +1 iff s * d >= threshold with s = -1 where ``flip`` (d the dot product,
    the largest of the pool window). Weight bits are in the order their input is packed: pixels
    (C, k, k) for "pixelconv" and "float" convolutions, taps then channel words for "conv", and for a
    dense "xnor" layer after a convolution positions then channel words (the flatten of NCHW reordered).
    ``in_shape``: (C, H, W) of a spatial input (convolutions and the dense layer after them);
    ``kernel`` (0 for dense) and ``pool`` (2x2 max-pool) describe a convolution.
    """

    name: str
    kind: str
    in_features: int
    out_features: int
    output: str
    activation: str  # "sign", "hardtanh", "relu" or "identity"
    eps: float | None
    arrays: dict[str, np.ndarray]
    in_shape: tuple[int, int, int] | None = None
    kernel: int = 0
    pool: bool = False

    def describe(self) -> dict[str, Any]:
        """The layer's shape and role (for tables and the file header)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "in_features": self.in_features,
            "out_features": self.out_features,
            "output": self.output,
            "activation": self.activation,
            "in_shape": None if self.in_shape is None else list(self.in_shape),
            "kernel": self.kernel,
            "pool": self.pool,
        }

    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def nbytes(self) -> int:
        """Bytes of the layer's parameters; the saved output ``table`` is derived from them and not counted."""
        return int(sum(arr.nbytes for key, arr in self.arrays.items() if key not in DERIVED_ARRAYS))

    @property
    def words(self) -> int:
        """uint64 words per image of the packed input: positions x channel words for a spatial input."""
        if self.in_shape is None:
            return words_for(self.in_features)
        channels, height, width = self.in_shape
        return height * width * words_for(channels)

    @property
    def fan_in(self) -> int:
        """Inputs of one unit: C * k * k for a convolution."""
        return self.in_shape[0] * self.kernel**2 if self.kernel else self.in_features

    @property
    def out_shape(self) -> tuple[int, int, int] | None:
        """(C, H, W) of a convolution's output (after its pool), None for a dense layer."""
        if not self.kernel:
            return None
        _, height, width = self.in_shape
        step = 2 if self.pool else 1
        return (self.out_features, height // step, width // step)

    @property
    def out_size(self) -> int:
        """Outputs per image."""
        return int(np.prod(self.out_shape)) if self.kernel else self.out_features

    def weight_shape(self) -> tuple[int, int]:
        """Shape of ``weight_bits``."""
        if self.kind == "conv":
            return self.out_features, self.kernel**2 * words_for(self.in_shape[0])
        if self.kind == "xnor" and self.in_shape is not None:
            return self.out_features, self.words
        return self.out_features, words_for(self.fan_in)

    def conv_thresholds(self) -> np.ndarray:
        """A convolution's T then s (int64, 2 x units): +1 iff s * d >= T."""
        if "conv_t" not in self._cache:
            signs = 1 - 2 * self.arrays["flip"].astype(np.int64)
            self._cache["conv_t"] = np.concatenate([self.arrays["threshold"].astype(np.int64), signs])
        return self._cache["conv_t"]

    def conv_wt(self) -> np.ndarray:
        """An XNOR convolution's weight words as (taps * channel words, units), units innermost."""
        if "conv_wt" not in self._cache:
            self._cache["conv_wt"] = np.ascontiguousarray(self.arrays["weight_bits"].T)
        return self._cache["conv_wt"]

    def pixel_masks(self) -> np.ndarray:
        """A convolution on pixels: (C * k * k, units) int32, -1 where the weight is +1, else 0."""
        if "masks" not in self._cache:
            bits = unpack_bits(self.arrays["weight_bits"], self.fan_in)
            self._cache["masks"] = np.ascontiguousarray(np.where(bits, -1, 0).astype(np.int32).T)
        return self._cache["masks"]

    def pixel_levels(self, input_scale: str) -> tuple[int, int]:
        """(q_mul, q_add): 255 times the scaled pixel is ``q_mul * k + q_add`` for the level k."""
        return (2, -255) if input_scale == "pm1" else (1, 0)

    # runtime views, built once
    def weight_rows(self) -> np.ndarray:
        """Weight bits (units, words), contiguous uint64: the fused XNOR kernel's layout."""
        if "rows" not in self._cache:
            self._cache["rows"] = np.ascontiguousarray(self.arrays["weight_bits"], dtype=np.uint64)
        return self._cache["rows"]

    def wt(self) -> np.ndarray:
        """Weight bits transposed to (words, units), contiguous: the kernels' layout."""
        if "wt" not in self._cache:
            self._cache["wt"] = np.ascontiguousarray(self.arrays["weight_bits"].T)
        return self._cache["wt"]

    def signed_weights(self) -> torch.Tensor:
        """The model's forward weights as float32, (units, in_features) or (units, C, k, k), pixel order natural."""
        if "w_float" not in self._cache:
            if "weight" in self.arrays:
                w = self.arrays["weight"].astype(np.float32)
            else:
                bits = unpack_bits(self.arrays["weight_bits"], self.fan_in)
                w = np.where(bits, np.float32(1), np.float32(-1))
                if "flip" in self.arrays and not self.kernel:  # dense rows were negated, conv weights not
                    w[self.arrays["flip"].astype(bool)] *= -1
                if "perm" in self.arrays:
                    natural = np.empty_like(w)
                    natural[:, self.arrays["perm"].astype(np.int64)] = w
                    w = natural
            if self.kernel:
                w = w.reshape(self.out_features, self.in_shape[0], self.kernel, self.kernel)
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
            self._cache["perm"] = self.arrays["perm"].astype(np.int64)
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
        call). The export saves it in the file (array ``table``), so readers without torch (the
        page's engine, the C export) give the very same scores; a file without it gets it made
        here. None when the table would exceed ``_MAX_TABLE`` entries."""
        if "table" not in self._cache:
            k, units = self.in_features, self.out_features
            table = None
            if "table" in self.arrays:  # saved by the export: every reader of the file uses these very floats
                table = self.arrays["table"]  # its shape and dtype are checked with the model's structure
                self._cache["columns"] = np.arange(units)
            elif self.kind == "xnor" and self.output == "float" and (k + 1) * units <= _MAX_TABLE:
                z = (k - 2 * np.arange(k + 1, dtype=np.int64)).astype(np.float32)[:, None]
                z = np.ascontiguousarray(np.broadcast_to(z, (k + 1, units)))
                if "bias" in self.arrays:
                    z += self.arrays["bias"]
                with torch.inference_mode():
                    pre = self.normalize(torch.from_numpy(z))
                    table = activate(pre, self.activation).numpy().astype(np.float32)
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


def activate(pre: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "hardtanh":
        return F.hardtanh(pre)
    if activation == "relu":
        return torch.relu(pre)
    return pre
