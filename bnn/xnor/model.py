"""A packed BinaryNet MLP and its forward pass: XNOR-popcount layers, the bit-plane first layer, float fallback.

Courbariaux et al. (2016, arXiv:1602.02830, section 3): with ±1 weights and activations a dot product
is an XNOR and a popcount. :class:`PackedModel` runs a model exported by :func:`bnn.xnor.export_packed`
with the fused compiled kernels (``engine="fused"``, :mod:`bnn.xnor.kernels`) or with the numpy
reference (``engine="numpy"``, :mod:`bnn.xnor.reference`); both give the same bits and scores.
docs/xnor.md explains the arithmetic and how it was measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import kernels, reference
from .packing import pack_bits, popcount, unpack_bits, words_for

GRID_TOL = 1e-5  # |255 x - k| above this: the image is not 8-bit, first layer runs in float32
ENGINES = ("fused", "numpy")
REAL_ACTIVATIONS = ("hardtanh", "relu", "identity")
_MIN_CHUNK = 2  # fewest images a worker thread of the numpy engine gets
_CHUNK = 256  # images per pass through the network (numpy engine)
_FUSED_CHUNK = 16384  # images per compiled call (fused engine): bounds the scratch arrays
_MAX_TABLE = 1 << 18  # entries of a float-output layer's lookup table (1 MB)


class XnorExportError(ValueError):
    """The model cannot be exported to (or run as) a packed XNOR model; the message says why."""


class PackedFileError(XnorExportError):
    """A file is not a packed BNN Playground model, or is corrupt or of an unknown version."""


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
        return words_for(self.in_features)

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


def _packed_if_bits(state: np.ndarray) -> np.ndarray:
    return pack_bits(state) if state.dtype == bool else state


def _activate(pre: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "hardtanh":
        return F.hardtanh(pre)
    if activation == "relu":
        return torch.relu(pre)
    return pre


class PackedModel:
    """A packed BinaryNet MLP. :meth:`predict` / :meth:`scores` take pixels in [0, 1].

    ``threads``: threads for a call (default ``torch.get_num_threads()``, so the packed and the float
    engine get the same cores). ``engine``: "fused" (compiled kernels) or "numpy" (the reference).
    """

    def __init__(
        self,
        layers: list[PackedLayer],
        *,
        input_scale: str,
        input_binarize: bool,
        image_shape: tuple[int, int, int],
        threads: int | None = None,
        engine: str = "fused",
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        self.layers = layers
        self.input_scale = input_scale
        self.input_binarize = input_binarize
        self.image_shape = tuple(int(v) for v in image_shape)
        self.threads = threads
        self.engine = engine
        self._programs: dict[tuple[int, int], kernels.Program] = {}
        _validate_structure(self)
        if engine == "fused":
            kernels.warm_up()  # compile (or load) once here, not in the first inference

    # --- facts ------------------------------------------------------------------------------
    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

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

    def with_engine(self, engine: str) -> PackedModel:
        """The same layers (arrays shared, not copied) run by another engine."""
        return PackedModel(
            self.layers,
            input_scale=self.input_scale,
            input_binarize=self.input_binarize,
            image_shape=self.image_shape,
            threads=self.threads,
            engine=engine,
        )

    def __repr__(self) -> str:
        shape = "-".join([str(self.in_features)] + [str(layer.out_features) for layer in self.layers])
        kinds = ",".join(layer.kind for layer in self.layers)
        return f"PackedModel({shape}, kinds={kinds}, engine={self.engine}, {self.nbytes:,} bytes)"

    # --- inference ----------------------------------------------------------------------------
    def predict(self, images: Any) -> np.ndarray:
        """Class index per image (int64); ties go to the lowest class, like ``torch.argmax``."""
        return np.argmax(self.scores(images), axis=1).astype(np.int64)

    def scores(self, images: Any) -> np.ndarray:
        """Class scores (N, classes) float32: the float model's outputs (±1 if binarized)."""
        x = self._as_input(images)
        threads = self._threads()
        if self.engine == "fused":
            if len(x) <= _FUSED_CHUNK:
                return self._forward_fused(x, threads)[-1]
            chunks = range(0, len(x), _FUSED_CHUNK)
            return np.concatenate([self._forward_fused(x[i : i + _FUSED_CHUNK], threads)[-1] for i in chunks])
        threads = max(1, min(threads, len(x) // _MIN_CHUNK))
        if threads <= 1:
            return self._forward_chunked(x)
        parts = np.array_split(x, threads)
        return np.concatenate(list(reference.get_pool().map(self._forward_chunked, parts)), axis=0)

    def layer_outputs(self, images: Any) -> list[np.ndarray]:
        """Every layer's activations: int8 ±1 for binarized layers, float32 otherwise."""
        x = self._as_input(images)
        if self.engine == "fused":
            outs = self._forward_fused(x, self._threads(), keep_all=True)
        else:
            outs = self._forward(x, keep_all=True)
        return [o if o.dtype == np.float32 else np.where(o, 1, -1).astype(np.int8) for o in outs]

    def _threads(self) -> int:
        return max(1, int(self.threads if self.threads is not None else torch.get_num_threads()))

    def _as_input(self, images: Any) -> np.ndarray:
        if isinstance(images, torch.Tensor):
            images = images.detach().cpu().numpy()
        x = np.asarray(images, dtype=np.float32)
        k = self.in_features
        if x.size % k != 0:
            raise ValueError(f"images must hold a multiple of {k} pixels, got shape {x.shape}")
        return np.ascontiguousarray(x.reshape(-1, k))

    def _input_state(self, x: np.ndarray) -> np.ndarray:
        """The first layer's input: sign bits (bool) with ``input_binarize``, else the float pixels."""
        if self.input_binarize:
            scaled = x * np.float32(2) - np.float32(1) if self.input_scale == "pm1" else x
            return scaled >= 0  # sign(0) = +1
        return x

    @staticmethod
    def _scores_of(last: np.ndarray) -> np.ndarray:
        return np.where(last, np.float32(1), np.float32(-1)) if last.dtype == bool else last

    # --- the fused engine: packed words flow from kernel to kernel -----------------------------
    def _forward_fused(self, x: np.ndarray, threads: int, keep_all: bool = False) -> list[np.ndarray]:
        """Run all layers with :mod:`bnn.xnor.kernels`; returned outputs are bool (N, U) for bits,
        float32 otherwise (every layer with ``keep_all``, else the last)."""
        outs = self._run_layers(0, len(self.layers), self._input_state(x), threads)
        layers = self.layers if keep_all else self.layers[-1:]
        outs = outs if keep_all else outs[-1:]
        outs = [unpack_bits(o, layer.out_features) if o.dtype == np.uint64 else o for o, layer in zip(outs, layers)]
        outs[-1] = self._scores_of(outs[-1])
        return outs

    def _run_layers(self, start: int, stop: int, state: np.ndarray, threads: int) -> list[np.ndarray]:
        """Layers [start, stop) on ``state`` (pixels, bool bits or packed uint64 words): each layer's
        output, packed words for bits and float32 otherwise. Runs of packed layers go to one compiled
        call (:func:`kernels.run`); float layers run in torch between them."""
        outs: list[np.ndarray] = []
        index = start
        while index < stop:
            layer = self.layers[index]
            if layer.kind == "float":
                if state.dtype == np.uint64:
                    state = unpack_bits(state, layer.in_features)
                state = _packed_if_bits(self._run_float(layer, self._float_input(state, index == 0)))
                outs.append(state)
                index += 1
                continue
            end = self._segment_end(index, stop)
            inputs = state if layer.kind == "bitplane" or state.dtype == np.uint64 else pack_bits(state)
            result = kernels.run(self._program(index, end), inputs, threads)
            segment = list(result.outputs)
            last = self.layers[end - 1]
            if last.output == "float" and last.kind == "xnor":
                segment[-1] = self._xnor_float(last, segment[-1])
            elif last.output == "float":
                alpha, beta, gamma, _ = last.plane_constants(self.input_scale)
                segment[-1] = self._plane_float(last, segment[-1], result.pixel_sum[:, None], alpha, beta, gamma)
            if result.on_grid is not None and not result.on_grid.all():
                # not 8-bit images: the float32 first layer, as the float model computes it, then the rest
                off_grid = ~result.on_grid
                rest = self._run_float(layer, self._float_input(np.ascontiguousarray(state[off_grid]), True))
                rest = _packed_if_bits(rest)
                for out, part in zip(segment, [rest, *self._run_layers(index + 1, end, rest, threads)], strict=True):
                    out[off_grid] = part
            outs.extend(segment)
            state = segment[-1]
            index = end
        return outs

    def _segment_end(self, start: int, stop: int) -> int:
        """End of the run of packed layers from ``start``: XNOR layers follow while the layer before
        outputs bits (only the first layer may be a bit-plane layer)."""
        end = start + 1
        while end < stop and self.layers[end - 1].output == "bits" and self.layers[end].kind == "xnor":
            end += 1
        return end

    def _program(self, start: int, end: int) -> kernels.Program:
        """The compiled-kernel program of layers [start, end), built once."""
        key = (start, end)
        if key not in self._programs:
            steps, perm, alpha, beta = [], None, 0, 0
            for layer in self.layers[start:end]:
                bits = layer.output == "bits"
                if layer.kind == "bitplane":
                    alpha, beta, _, c = layer.plane_constants(self.input_scale)
                    kind = kernels.PLANE_BITS if bits else kernels.PLANE_SUMS
                    steps.append(kernels.Step(kind, layer.out_features, layer.wt(), c if bits else None))
                    perm = layer.perm_index()
                else:
                    kind = kernels.XNOR_BITS if bits else kernels.XNOR_COUNTS
                    threshold = layer.arrays["threshold"] if bits else None
                    steps.append(kernels.Step(kind, layer.out_features, layer.weight_rows(), threshold))
            in_features = self.layers[start].in_features
            self._programs[key] = kernels.program(
                steps, in_features=in_features, perm=perm, grid_tol=GRID_TOL, alpha=alpha, beta=beta
            )
        return self._programs[key]

    # --- the numpy reference engine ------------------------------------------------------------
    def _forward_chunked(self, x: np.ndarray) -> np.ndarray:
        """Scores, _CHUNK images at a time (bounded temporaries, cache-sized scratch)."""
        if len(x) <= _CHUNK:
            return self._forward(x)[-1]
        return np.concatenate([self._forward(x[i : i + _CHUNK])[-1] for i in range(0, len(x), _CHUNK)])

    def _forward(self, x: np.ndarray, keep_all: bool = False) -> list[np.ndarray]:
        """Run all layers with :mod:`bnn.xnor.reference`; outputs are bool (N, U) for bits,
        float32 (N, U) otherwise."""
        outs: list[np.ndarray] = []
        state = self._input_state(x)
        for index, layer in enumerate(self.layers):
            if layer.kind == "xnor":
                result = self._run_xnor(layer, pack_bits(state))
            elif layer.kind == "bitplane":
                result = self._run_bitplane(layer, state)
            else:
                result = self._run_float(layer, self._float_input(state, index == 0))
            state = result
            if keep_all:
                outs.append(result)
        if not keep_all:
            outs.append(state)
        outs[-1] = self._scores_of(outs[-1])
        return outs

    def _run_xnor(self, layer: PackedLayer, packed: np.ndarray) -> np.ndarray:
        counts = reference.xor_popcount(packed, layer.wt())
        if layer.output == "bits":
            return counts <= layer.arrays["threshold"]
        return self._xnor_float(layer, counts)

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
        planes = reference.bit_planes(pixels)  # (N, 8, words)
        ksum = pixels.sum(axis=1, dtype=np.int64)[:, None]
        alpha, beta, gamma, c = layer.plane_constants(self.input_scale)
        if layer.output == "bits":
            # alpha*G + beta*sum(k) >= c, all integers below 2^24: exact in float32
            scaled_g = reference.plane_popcount(planes, layer.wt(), alpha)
            return scaled_g >= (c[None, :] - beta * ksum).astype(np.float32)
        g = reference.plane_popcount(planes, layer.wt()).astype(np.int64)
        return self._plane_float(layer, g, ksum, alpha, beta, gamma)

    # --- float parts shared by both engines -----------------------------------------------------
    def _xnor_float(self, layer: PackedLayer, counts: np.ndarray) -> np.ndarray:
        """Real-valued outputs of an XNOR layer from its popcounts: table look-up or float32 math."""
        table = layer.output_table()
        if table is not None:
            return table[counts, layer._cache["columns"]]
        dots = np.int32(layer.in_features) - 2 * counts.astype(np.int32)
        z = dots.astype(np.float32)
        if "bias" in layer.arrays:
            z += layer.arrays["bias"]  # float32(dot + bias), as F.linear at batch size 1
        return self._finish(layer, z)

    def _plane_float(
        self, layer: PackedLayer, g: np.ndarray, ksum: np.ndarray, alpha: int, beta: int, gamma: np.ndarray
    ) -> np.ndarray:
        """Outputs of a bit-plane layer from the exact integer E = alpha*G + beta*sum(k) + gamma."""
        e = alpha * g + beta * ksum + gamma[None, :]
        z = e / 255.0
        if "bias" in layer.arrays:
            z = z + layer.arrays["bias"].astype(np.float64)
        return self._finish(layer, z.astype(np.float32))

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

    def _run_float(self, layer: PackedLayer, x: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            z = F.linear(x, layer.signed_weights(), layer.torch_param("bias"))
            pre = layer.normalize(z)
            if layer.output == "bits":
                return (pre >= 0).numpy()
            return _activate(pre, layer.activation).numpy().astype(np.float32, copy=False)


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
        units, words = layer.out_features, words_for(layer.in_features)
        if layer.kind not in ("xnor", "bitplane", "float") or layer.output not in ("bits", "float"):
            raise bad(f"{layer.name}: kind {layer.kind!r} / output {layer.output!r}")
        if (layer.output == "bits") != (layer.activation == "sign") or layer.activation not in (
            ("sign",) + REAL_ACTIVATIONS
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
