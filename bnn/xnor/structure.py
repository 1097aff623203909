"""Whether a packed model holds together (:func:`check_structure`): each layer fits the one before and
holds exactly the arrays its kind needs. A packed file is untrusted input: :class:`bnn.xnor.model.PackedModel`
checks its layers with this before it runs them."""

from __future__ import annotations

import numpy as np

from .layer import KINDS, REAL_ACTIVATIONS, PackedFileError, PackedLayer


def _bad(message: str) -> PackedFileError:
    return PackedFileError(f"inconsistent packed model: {message}")


def check_structure(
    layers: list[PackedLayer], input_scale: str, input_binarize: bool, image_shape: tuple[int, int, int]
) -> None:
    """Raise :class:`PackedFileError` unless the layers fit together and the arrays fit them."""
    if input_scale not in ("pm1", "01"):
        raise _bad(f"input scale {input_scale!r}")
    if not layers:
        raise _bad("no layers")
    fan_in = int(np.prod(image_shape))
    shape: tuple[int, ...] | None = image_shape  # of a spatial input, None for a flat one
    for index, layer in enumerate(layers):
        _check_place(layer, index, fan_in, shape, input_binarize)
        _check_arrays(layer)
        fan_in, shape = layer.out_size, layer.out_shape
    if layers[-1].out_features < 2 or layers[-1].kernel:
        raise _bad("the output layer is not a dense layer of at least 2 classes")


def _check_place(
    layer: PackedLayer, index: int, fan_in: int, shape: tuple[int, ...] | None, input_binarize: bool
) -> None:
    """The layer fits where it is: its inputs, shape, kind, output and activation."""
    if layer.in_features != fan_in:
        raise _bad(f"{layer.name} expects {layer.in_features} inputs, gets {fan_in}")
    conv = layer.kind in ("conv", "pixelconv") or layer.kernel > 0
    expect_shape = shape if conv or (index > 0 and shape is not None) else None
    if layer.in_shape != expect_shape or (conv and (layer.kernel < 1 or layer.kernel % 2 == 0)):
        raise _bad(f"{layer.name}: input shape {layer.in_shape} and kernel {layer.kernel} do not fit")
    if layer.kind not in KINDS or layer.output not in ("bits", "float"):
        raise _bad(f"{layer.name}: kind {layer.kind!r} / output {layer.output!r}")
    if (layer.output == "bits") != (layer.activation == "sign") or layer.activation not in (
        ("sign",) + REAL_ACTIVATIONS
    ):
        raise _bad(f"{layer.name}: activation {layer.activation!r} with output {layer.output!r}")
    if layer.kind in ("bitplane", "pixelconv") and (index != 0 or input_binarize):
        raise _bad(f"{layer.name}: first layer on pixels that does not see the pixels")
    if layer.kind in ("xnor", "conv") and index == 0 and not input_binarize:
        raise _bad(f"{layer.name}: XNOR layer on real pixels")
    if layer.kind in ("conv", "pixelconv") and layer.output != "bits":
        raise _bad(f"{layer.name}: a packed convolution outputs bits")


def _expected_arrays(layer: PackedLayer) -> dict[str, tuple[tuple[int, ...], str]]:
    """Array name -> (shape, dtype) of every array ``layer`` must hold."""
    a = layer.arrays
    units = layer.out_features
    expect: dict[str, tuple[tuple[int, ...], str]] = {}
    if "weight" in a:
        expect["weight"] = ((units, layer.fan_in), "<f4")
    else:
        expect["weight_bits"] = (layer.weight_shape(), "<u8")
    if layer.kind != "float" and layer.output == "bits":
        expect["threshold"] = ((units,), "<i4")
        expect["flip"] = ((units,), "|u1")
    if layer.kind == "bitplane":
        expect["perm"] = ((layer.in_features,), a["perm"].dtype.str if "perm" in a else "<u2")
    for key in ("bias", "bn_mean", "bn_var", "bn_weight", "bn_bias"):
        if key in a:
            expect[key] = ((units,), "<f4")
    if "table" in a and layer.kind == "xnor" and layer.output == "float":
        expect["table"] = ((layer.in_features + 1, units), "<f4")
    needs_float = layer.kind not in ("xnor", "conv") or layer.output == "float"
    if needs_float and ("bn_mean" in a) != ("bn_var" in a):
        raise _bad(f"{layer.name}: BatchNorm statistics incomplete")
    if needs_float and "bn_mean" in a and layer.eps is None:
        raise _bad(f"{layer.name}: BatchNorm without eps")
    return expect


def _check_arrays(layer: PackedLayer) -> None:
    """The layer holds exactly the arrays its kind needs, of the right shapes and dtypes."""
    a = layer.arrays
    expect = _expected_arrays(layer)
    for key, (array_shape, dtype) in expect.items():
        if key not in a:
            raise _bad(f"{layer.name}: missing array {key}")
        if tuple(a[key].shape) != array_shape or np.dtype(a[key].dtype) != np.dtype(dtype):
            raise _bad(f"{layer.name}: {key} is {a[key].dtype}{a[key].shape}, expected {dtype}{array_shape}")
    extra = set(a) - set(expect)
    if extra:
        raise _bad(f"{layer.name}: unexpected arrays {sorted(extra)}")
    if "perm" in a and not np.array_equal(np.sort(a["perm"].astype(np.int64)), np.arange(layer.in_features)):
        raise _bad(f"{layer.name}: pixel order is not a permutation")
