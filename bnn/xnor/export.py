"""Export a trained BinaryNet (MLP or CNN) to a :class:`~bnn.xnor.model.PackedModel`: packed weights, folded thresholds.

A hidden unit computes ``sign(BN(dot + bias))`` with sign(0) = +1 (:func:`bnn.network.binarize.sign`).
BatchNorm (eval statistics), bias and sign fold into one integer per unit, found by a binary search
over the reachable dot values that evaluates the model's own float32 ``F.batch_norm``, so ties and
float32 rounding are reproduced exactly; a negative gamma is folded by negating the unit's weight
bits (dense) or by comparing ``-d`` (convolutions, whose 2x2 max-pool sits before BatchNorm and
sign: the pooled bit is the threshold of the window's largest dot product). The first layer on
8-bit pixels becomes a bit-plane layer (dense) or an integer convolution (exact arithmetic). Layers
that are not binarized become float32 fallback layers. Courbariaux et al. (2016, arXiv:1602.02830,
section 3); the details are in docs/xnor.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .layer import REAL_ACTIVATIONS, PackedLayer, XnorExportError
from .model import PackedModel
from .packing import center_out_permutation, pack_bits, words_for

MAX_PLANE_INPUTS = 16000  # bit-plane integers (<= 1020 * K) stay below 2^24: exact in float32


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
    if not isinstance(norm, (nn.BatchNorm1d, nn.BatchNorm2d)):
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


def export_packed(model: nn.Module, *, threads: int | None = None, engine: str = "fused") -> PackedModel:
    """Pack a trained :class:`~bnn.network.models.BinaryNet` (see the module docstring and docs/xnor.md).

    Raises :class:`XnorExportError` for BatchNorm without running statistics and NaN/infinite
    parameters. Layers that are not binarized become float32 fallback layers.
    """
    from ..network.models import BinaryNet

    if not isinstance(model, BinaryNet):
        raise XnorExportError(f"expected a BinaryNet, got {type(model).__name__}")
    config = model.config
    if config.input.scale not in ("pm1", "01"):
        raise XnorExportError(f"unknown input scale {config.input.scale!r}")
    image_shape = tuple(int(v) for v in config.image_shape)
    in_features = int(np.prod(image_shape))
    spatial: tuple[int, int, int] | None = image_shape  # (C, H, W) of the input while it is an image
    layers: list[PackedLayer] = []
    input_is_bits = config.input.binarize
    input_is_pixels = not config.input.binarize
    with torch.no_grad():
        for index, block in enumerate(model.blocks):
            inputs = (in_features, spatial, input_is_bits, input_is_pixels)
            layer = _pack_block(block, index, inputs, image_shape)
            layers.append(layer)
            spatial = layer.out_shape
            in_features = layer.out_size
            input_is_bits, input_is_pixels = layer.output == "bits", False
    return PackedModel(
        layers,
        input_scale=config.input.scale,
        input_binarize=config.input.binarize,
        image_shape=image_shape,
        threads=threads,
        engine=engine,
    )


def _layer_kind(
    conv: bool, binary_w: bool, binarized_out: bool, input_is_bits: bool, input_is_pixels: bool, in_features: int
) -> str:
    """The packed kind of a layer: "xnor" / "conv" (binary weights on bits), "bitplane" / "pixelconv"
    (binary weights on 8-bit pixels), else "float" (a float32 fallback)."""
    if conv:
        if binary_w and binarized_out:
            return "conv" if input_is_bits else "pixelconv" if input_is_pixels else "float"
        return "float"
    if binary_w and input_is_bits:
        return "xnor"
    if binary_w and input_is_pixels and in_features <= MAX_PLANE_INPUTS:
        return "bitplane"
    return "float"


def _pack_block(
    block: nn.Module, index: int, inputs: tuple[int, tuple[int, int, int] | None, bool, bool], image_shape: tuple
) -> PackedLayer:
    """One block of the model as a packed layer; ``inputs``: (its input features, the input's (C, H, W)
    while it is an image, whether the input is bits, whether it is the pixels)."""
    in_features, spatial, input_is_bits, input_is_pixels = inputs
    name, linear = block.name, block.linear
    conv = block.config.kind == "conv"
    weight = _as_f32(linear.weight, f"{name} weights", copy=False)
    in_shape = spatial if conv or index > 0 else None
    if weight.ndim != (4 if conv else 2) or int(np.prod(weight.shape[1:])) != (
        spatial[0] * weight.shape[-1] ** 2 if conv else in_features
    ):
        raise XnorExportError(f"{name}: weight shape {weight.shape} does not fit {in_features} inputs")
    units = weight.shape[0]
    bias = _as_f32(linear.bias, f"{name} bias")
    bn, eps = _bn_arrays(block.norm, name)
    binarized_out = bool(block.activation.binarized)
    activation = "sign" if binarized_out else block.activation.real
    if activation not in ("sign",) + REAL_ACTIVATIONS:
        raise XnorExportError(f"{name}: unsupported activation {activation!r}")
    binary_w = bool(linear.binarize_weights)
    kind = _layer_kind(conv, binary_w, binarized_out, input_is_bits, input_is_pixels, in_features)
    w_pos = weight.reshape(units, -1) >= 0  # sign(W) = +1, sign(0) = +1; pixels (C, k, k) for a conv
    float_part = dict(bn) if bias is None else {**bn, "bias": bias}
    layer = PackedLayer(
        name=name,
        kind=kind,
        in_features=in_features,
        out_features=units,
        output="bits" if binarized_out else "float",
        activation=activation,
        eps=eps,
        arrays={},
        in_shape=in_shape,
        kernel=int(weight.shape[-1]) if conv else 0,
        pool=bool(conv and block.config.pool),
    )
    if kind == "float":
        layer.arrays.update(
            {"weight_bits": pack_bits(w_pos)} if binary_w else {"weight": weight.reshape(units, -1).copy()}
        )
        layer.arrays.update(float_part)
    elif conv:
        _conv_arrays(layer, kind, w_pos, float_part, spatial[0])
    else:
        _dense_arrays(layer, kind, w_pos, float_part, image_shape)
    layer._cache.clear()
    if kind == "xnor" and not binarized_out:
        table = layer.output_table()  # torch's own float32 outputs, saved for readers without torch
        if table is not None:
            layer.arrays["table"] = table.copy()
        layer._cache.clear()
    return layer


def _conv_arrays(layer: PackedLayer, kind: str, w_pos: np.ndarray, float_part: dict, channels: int) -> None:
    """A binarized convolution's arrays: its thresholds folded, and its weight bits (XNOR conv: taps, then
    each position's channels in words, the float part folded away; conv on pixels: in pixel order (C, k, k),
    BN/bias kept for images off the 8-bit grid)."""
    arrays = layer.arrays
    arrays.update(float_part)  # BN/bias needed while folding
    _fold_conv(layer, kind)
    if kind == "conv":
        taps = w_pos.reshape(layer.out_features, channels, -1).transpose(0, 2, 1)
        arrays["weight_bits"] = pack_bits(taps).reshape(layer.out_features, -1)
        for key in float_part:
            del arrays[key]
    else:
        arrays["weight_bits"] = pack_bits(w_pos)


def _dense_arrays(layer: PackedLayer, kind: str, w_pos: np.ndarray, float_part: dict, image_shape: tuple) -> None:
    """A binarized dense layer's arrays (XNOR or bit-plane): its thresholds folded when it outputs bits
    (rows negated where the fold flips the sign), its weight bits (a bit-plane layer's in centre-out pixel
    order; after a convolution, each position's channels in words)."""
    arrays, units = layer.arrays, layer.out_features
    if kind == "bitplane":
        perm = center_out_permutation(image_shape)
        w_pos = w_pos[:, perm]
        arrays["perm"] = perm.astype("<u2" if layer.in_features < 65536 else "<i4")
    arrays.update(float_part)  # BN/bias needed while folding
    if layer.output == "bits":
        flip = _fold_layer(layer, kind)
        w_pos ^= flip[:, None]  # negated rows: dot -> -dot
        arrays["flip"] = flip.astype(np.uint8)
        if kind == "xnor":  # float part no longer needed
            for key in float_part:
                del arrays[key]
    if kind == "xnor" and layer.in_shape is not None:  # after a convolution: NCHW flatten -> positions x channels
        channels, height, width = layer.in_shape
        by_position = w_pos.reshape(units, channels, height * width).transpose(0, 2, 1)
        arrays["weight_bits"] = pack_bits(by_position).reshape(units, height * width * words_for(channels))
    else:
        arrays["weight_bits"] = pack_bits(w_pos)


def _fold_conv(layer: PackedLayer, kind: str) -> None:
    """Fold a binarized convolution into ``threshold`` and ``flip``: +1 iff s * d >= threshold, s = -1 where
    ``flip``. d is the dot product (XNOR convolution) or the exact integer E with dot = E / 255 (pixels);
    as a 2x2 max-pool comes before BatchNorm, the pooled d is the window's largest, and the fold is over
    every integer d (a position at the border, with padded taps, reaches fewer values, of either parity)."""
    k = layer.fan_in
    bias = layer.arrays.get("bias")
    if kind == "conv":
        v_max = k

        def z_of(d: np.ndarray) -> np.ndarray:
            z = d.astype(np.float32)
            return z + bias if bias is not None else z

    else:
        v_max = 255 * k
        z_of = _pixel_pre_activation(bias)

    t, flip = _fold_thresholds(layer, z_of, -v_max, v_max)
    layer.arrays["threshold"] = np.where(flip, -t, t).astype("<i4")  # falling: +1 iff d <= t  <=>  -d >= -t
    layer.arrays["flip"] = flip.astype(np.uint8)


def _pixel_pre_activation(bias: np.ndarray | None):
    """The first layer's pre-activation for the exact integer E of its dot product with the
    pixels (dot = E / 255): z = float32(E/255 + bias)."""

    def z_of(e: np.ndarray) -> np.ndarray:
        z = e.astype(np.float64) / 255.0
        if bias is not None:
            z = z + bias.astype(np.float64)
        return z.astype(np.float32)

    return z_of


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
        e_max = 255 * k
        t, flip = _fold_thresholds(layer, _pixel_pre_activation(bias), -e_max, e_max)
        # flipped rows negate E: +1 iff E <= t  <=>  -E >= -t
        threshold = np.where(flip, -t, t)
    layer.arrays["threshold"] = threshold.astype("<i4")
    return flip
