"""A packed BinaryNet and its forward pass: XNOR-popcount dense and conv layers, the pixel first layer, float fallback.

Courbariaux et al. (2016, arXiv:1602.02830, section 3): with ±1 weights and activations a dot product
is an XNOR and a popcount. :class:`PackedModel` runs a model exported by :func:`bnn.xnor.export_packed`
with the fused compiled kernels (``engine="fused"``, :mod:`bnn.xnor.kernels`) or with the numpy
reference (``engine="numpy"``, :mod:`bnn.xnor.numpy_kernels`); both give the same bits and scores. Its
layers are :class:`~bnn.xnor.layer.PackedLayer`.
docs/xnor.md explains the arithmetic and how it was measured.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import kernels, programs
from . import numpy_kernels as reference
from .layer import PackedLayer, activate
from .packing import pack_bits, unpack_bits
from .structure import check_structure

GRID_TOL = 1e-5  # |255 x - k| above this: the image is not 8-bit, first layer runs in float32
ENGINES = ("fused", "numpy")
_MIN_CHUNK = 2  # fewest images a worker thread of the numpy engine gets
_CHUNK = 256  # images per pass through the network (numpy engine)
_FUSED_CHUNK = 16384  # images per compiled call (fused engine): bounds the scratch arrays


def _pack(bits: np.ndarray) -> np.ndarray:
    """bool (N, U) or spatial (N, H, W, C) -> packed words (N, words), channels packed per position."""
    return pack_bits(bits).reshape(len(bits), -1)


def _packed_if_bits(state: np.ndarray) -> np.ndarray:
    return _pack(state) if state.dtype == bool else state


def _unpack(words: np.ndarray, layer: PackedLayer) -> np.ndarray:
    """A layer's packed output words -> bool (N, U), or (N, H, W, C) for a convolution."""
    if layer.out_shape is None:
        return unpack_bits(words, layer.out_features)
    channels, height, width = layer.out_shape
    return unpack_bits(words.reshape(len(words), height, width, -1), channels)


def _public(out: np.ndarray) -> np.ndarray:
    """Spatial outputs in the float model's layout: bits (N, H, W, C) -> (N, C, H, W)."""
    return out.transpose(0, 3, 1, 2) if out.ndim == 4 and out.dtype == bool else out


class PackedModel:
    """A packed BinaryNet (MLP or CNN). :meth:`predict` / :meth:`scores` take pixels in [0, 1].

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
        self._programs: dict[tuple[int, int], programs.Program] = {}
        check_structure(layers, input_scale, input_binarize, self.image_shape)
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
        """Every layer's activations: int8 ±1 for binarized layers, float32 otherwise; (N, C, H, W)
        for convolutions, as the float model's."""
        x = self._as_input(images)
        if self.engine == "fused":
            outs = self._forward_fused(x, self._threads(), keep_all=True)
        else:
            outs = self._forward(x, keep_all=True)
        return [o if o.dtype == np.float32 else np.where(_public(o), 1, -1).astype(np.int8) for o in outs]

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
        """The first layer's input: sign bits (bool; (N, H, W, C) for a convolution) with
        ``input_binarize``, else the float pixels (N, K)."""
        if self.input_binarize:
            scaled = x * np.float32(2) - np.float32(1) if self.input_scale == "pm1" else x
            bits = scaled >= 0  # sign(0) = +1
            if self.layers[0].kernel:
                return np.ascontiguousarray(bits.reshape((-1,) + self.image_shape).transpose(0, 2, 3, 1))
            return bits
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
        outs = [_unpack(o, layer) if o.dtype == np.uint64 else o for o, layer in zip(outs, layers)]
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
                    state = _unpack(state, self.layers[index - 1])
                state = _packed_if_bits(self._run_float(layer, self._float_input(state, layer, index == 0)))
                outs.append(state)
                index += 1
                continue
            end = self._segment_end(index, stop)
            on_pixels = layer.kind in ("bitplane", "pixelconv")
            inputs = state if on_pixels or state.dtype == np.uint64 else _pack(state)
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
                rest = self._run_float(layer, self._float_input(np.ascontiguousarray(state[off_grid]), layer, True))
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
        while end < stop and self.layers[end - 1].output == "bits" and self.layers[end].kind in ("xnor", "conv"):
            end += 1
        return end

    def _program(self, start: int, end: int) -> programs.Program:
        """The compiled-kernel program of layers [start, end), built once."""
        key = (start, end)
        if key not in self._programs:
            steps, perm, alpha, beta = [], None, 0, 0
            for layer in self.layers[start:end]:
                bits = layer.output == "bits"
                if layer.kind in ("conv", "pixelconv"):
                    geometry = (*layer.in_shape, layer.kernel, int(layer.pool))
                    if layer.kind == "conv":
                        kind, weights = programs.CONV_BITS, layer.conv_wt()
                    else:
                        kind, weights = programs.PIXEL_CONV_BITS, layer.pixel_masks()
                        geometry += layer.pixel_levels(self.input_scale)
                    steps.append(programs.Step(kind, layer.out_features, weights, layer.conv_thresholds(), geometry))
                elif layer.kind == "bitplane":
                    alpha, beta, _, c = layer.plane_constants(self.input_scale)
                    kind = programs.PLANE_BITS if bits else programs.PLANE_SUMS
                    steps.append(programs.Step(kind, layer.out_features, layer.wt(), c if bits else None))
                    perm = layer.perm_index()
                else:
                    kind = programs.XNOR_BITS if bits else programs.XNOR_COUNTS
                    threshold = layer.arrays["threshold"] if bits else None
                    steps.append(programs.Step(kind, layer.out_features, layer.weight_rows(), threshold))
            first = self.layers[start]
            self._programs[key] = programs.program(
                steps,
                in_features=first.in_features,
                perm=perm,
                pixels=first.kind in ("bitplane", "pixelconv"),
                in_words=first.words,
                grid_tol=GRID_TOL,
                alpha=alpha,
                beta=beta,
            )
        return self._programs[key]

    # --- the numpy reference engine ------------------------------------------------------------
    def _forward_chunked(self, x: np.ndarray) -> np.ndarray:
        """Scores, _CHUNK images at a time (bounded temporaries, cache-sized scratch)."""
        if len(x) <= _CHUNK:
            return self._forward(x)[-1]
        return np.concatenate([self._forward(x[i : i + _CHUNK])[-1] for i in range(0, len(x), _CHUNK)])

    def _forward(self, x: np.ndarray, keep_all: bool = False) -> list[np.ndarray]:
        """Run all layers with :mod:`bnn.xnor.numpy_kernels`; outputs are bool (N, U) for bits,
        float32 (N, U) otherwise."""
        outs: list[np.ndarray] = []
        state = self._input_state(x)
        for index, layer in enumerate(self.layers):
            if layer.kind == "xnor":
                result = self._run_xnor(layer, _pack(state))
            elif layer.kind == "conv":
                result = self._run_conv(layer, _pack(state))
            elif layer.kind == "bitplane":
                result = self._run_bitplane(layer, state)
            elif layer.kind == "pixelconv":
                result = self._run_pixel_conv(layer, state)
            else:
                result = self._run_float(layer, self._float_input(state, layer, index == 0))
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

    def _run_conv(self, layer: PackedLayer, packed: np.ndarray) -> np.ndarray:
        """An XNOR convolution: bool (N, H, W, U)."""
        channels, height, width = layer.in_shape
        a = packed.reshape(len(packed), height, width, -1)
        wt = layer.conv_wt().reshape(layer.kernel**2, -1, layer.out_features)
        d = reference.xnor_conv(a, wt, channels, layer.kernel)
        return self._conv_bits(layer, d)

    @staticmethod
    def _conv_bits(layer: PackedLayer, d: np.ndarray) -> np.ndarray:
        """Pool the dot products (N, H, W, U), then +1 iff s * d >= T."""
        if layer.pool:
            d = reference.max_pool(d)
        t = layer.conv_thresholds()
        return t[layer.out_features :] * d >= t[: layer.out_features]

    def _run_pixel_conv(self, layer: PackedLayer, x: np.ndarray) -> np.ndarray:
        """A convolution on 8-bit pixels in exact integers (off-grid images: float32): bool (N, H, W, U)."""
        k, on_grid = self._levels(layer, x)
        if not on_grid.all():
            return self._merge_off_grid(layer, x, on_grid, self._run_pixel_conv)
        q_mul, q_add = layer.pixel_levels(self.input_scale)
        q = (q_mul * k.astype(np.int64) + q_add).reshape((-1,) + layer.in_shape)
        w = np.where(unpack_bits(layer.arrays["weight_bits"], layer.fan_in), 1, -1)
        d = reference.pixel_conv(q, w.reshape(layer.out_features, layer.in_shape[0], layer.kernel, layer.kernel))
        return self._conv_bits(layer, d)

    @staticmethod
    def _levels(layer: PackedLayer, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The 8-bit levels ``rint(255 x)`` and which images are on the k/255 grid."""
        k = np.rint(x * np.float32(255))
        on_grid = (np.abs(x.astype(np.float64) * 255 - k) <= GRID_TOL).all(axis=1) & (k >= 0).all(axis=1)
        on_grid &= (k <= 255).all(axis=1)
        return k, on_grid

    def _merge_off_grid(self, layer: PackedLayer, x: np.ndarray, on_grid: np.ndarray, packed_run: Any) -> np.ndarray:
        """Images on the grid through ``packed_run``, the others through the float32 first layer."""
        out = packed_run(layer, x[on_grid]) if on_grid.any() else None
        rest = self._run_float(layer, self._float_input(np.ascontiguousarray(x[~on_grid]), layer, True))
        merged = np.empty((len(x),) + rest.shape[1:], dtype=rest.dtype)
        merged[~on_grid] = rest
        if out is not None:
            merged[on_grid] = out
        return merged

    def _run_bitplane(self, layer: PackedLayer, x: np.ndarray) -> np.ndarray:
        k, on_grid = self._levels(layer, x)
        if not on_grid.all():
            return self._merge_off_grid(layer, x, on_grid, self._run_bitplane)
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

    def _float_input(self, state: np.ndarray, layer: PackedLayer, first: bool) -> torch.Tensor:
        """``state`` as the float model feeds ``layer``: ±1 or real values, (N, C, H, W) for a convolution,
        flattened in NCHW order for a dense layer."""
        if state.dtype == bool:
            x = torch.from_numpy(np.where(_public(state), np.float32(1), np.float32(-1)))
        elif first and self.input_scale == "pm1":
            x = torch.from_numpy(state) * 2 - 1
        else:
            x = torch.from_numpy(state)
        if layer.kernel:
            return x.reshape((-1,) + layer.in_shape)
        return x.reshape(len(x), -1)

    def _finish(self, layer: PackedLayer, z: np.ndarray) -> np.ndarray:
        """float32 z (N, U) -> the model's BatchNorm and activation (float or sign bits)."""
        pre = layer.normalize(torch.from_numpy(z))
        if layer.output == "bits":
            return (pre >= 0).numpy()
        return activate(pre, layer.activation).numpy().astype(np.float32, copy=False)

    def _run_float(self, layer: PackedLayer, x: torch.Tensor) -> np.ndarray:
        """The layer in float32 torch: bits as bool ((N, H, W, C) for a convolution), else float32
        ((N, C, H, W) for a convolution)."""
        with torch.inference_mode():
            if layer.kernel:
                z = F.conv2d(x, layer.signed_weights(), layer.torch_param("bias"), padding=layer.kernel // 2)
                z = F.max_pool2d(z, 2) if layer.pool else z
            else:
                z = F.linear(x, layer.signed_weights(), layer.torch_param("bias"))
            pre = layer.normalize(z)
            if layer.output == "bits":
                bits = pre >= 0
                return (bits.permute(0, 2, 3, 1) if layer.kernel else bits).contiguous().numpy()
            return activate(pre, layer.activation).numpy().astype(np.float32, copy=False)
