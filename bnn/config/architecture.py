"""The architecture plan of a model: per layer its name, shapes, parameter counts and MACs.

A :class:`~bnn.config.model_settings.ModelConfig` lists layers from input to output; :func:`plan` turns it
into one :class:`LayerPlan` per layer by arithmetic alone, so sizes are known before anything is
built (the paper's 37 M-parameter MLP is planned instantly, without PyTorch). Everything that
names layers or needs their shapes reads the plan: :class:`bnn.network.models.BinaryNet` builds its
blocks from it, :func:`bnn.network.summary.model_summary` counts from it, :func:`bnn.config.schema.validate`
checks the model's size with it, and the diagnosis and the Train page name layers with it.

Layers are named ``dense1``, ``dense2``, ``conv1`` ... by kind, counted from the input, and the
last one is ``output``. A conv layer keeps height and width ("same" padding, stride 1) and
halves them with its optional 2x2 max-pool; the first dense layer flattens a (C, H, W) input.
MACs (multiply-accumulates) are counted on the linear map's output, before pooling: dense
``in * out``, conv ``H * W * C_out * C_in * k * k``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class LayerSpec(Protocol):
    """What a plan reads of one layer's settings (a :class:`bnn.config.model_settings.LayerConfig`)."""

    kind: str
    units: int
    kernel_size: int
    pool: bool
    binarize_weights: bool
    binarize_activations: bool
    batch_norm: bool


class ModelSpec(Protocol):
    """What a plan reads of a model's settings (a :class:`bnn.config.model_settings.ModelConfig`, which
    imports this module: a protocol, not an import, keeps the two modules out of a circle)."""

    layers: Sequence[LayerSpec]
    bias: bool

    @property
    def image_shape(self) -> tuple[int, ...]: ...

    @property
    def input(self): ...


@dataclass(frozen=True)
class LayerPlan:
    name: str  # "dense1", "conv2", "output": the one spelling of a layer's name
    kind: str  # "dense" or "conv"
    input_shape: tuple[int, ...]  # of one image as the linear map receives it (flattened for dense)
    linear_shape: tuple[int, ...]  # of one image after the linear map, before any pool
    output_shape: tuple[int, ...]  # of one image at the layer's output
    flatten_input: bool  # the layer flattens a (C, H, W) input before its linear map
    weights: int  # entries of the weight matrix / kernel
    biases: int  # one per unit when the model has biases
    batch_norm_params: int  # BatchNorm's gamma and beta, one each per unit
    batch_norm_buffers: int  # BatchNorm's running mean and variance (buffers, not parameters)
    macs: int  # multiply-accumulates for one input image
    binarize_weights: bool  # the forward pass uses sign(W)
    binary_input: bool  # the layer's input is ±1 (at evaluation time: dropout is the identity)
    binarize_activations: bool  # the layer's output goes through sign
    batch_norm: bool
    kernel_size: int | None = None  # conv only
    pool: bool = False  # conv only: 2x2 max-pool after the convolution

    @property
    def n_params(self) -> int:
        return self.weights + self.biases + self.batch_norm_params

    @property
    def binary_macs(self) -> int:
        """The MACs that are XNOR-popcounts: all of them when both weights and input are ±1."""
        return self.macs if self.binarize_weights and self.binary_input else 0


def layer_names(model: ModelSpec) -> tuple[str, ...]:
    """``dense1``, ``conv2``, ..., ``output``: the layers' names, input to output."""
    counts: dict[str, int] = {}
    names = []
    for index, layer in enumerate(model.layers):
        counts[layer.kind] = counts.get(layer.kind, 0) + 1
        names.append("output" if index == len(model.layers) - 1 else f"{layer.kind}{counts[layer.kind]}")
    return tuple(names)


def plan(model: ModelSpec) -> tuple[LayerPlan, ...]:
    """One :class:`LayerPlan` per layer of ``model``, input to output.

    ``model`` must have passed :func:`bnn.config.schema.layer_problems`; a conv layer after a dense
    one has no (C, H, W) input and raises ValueError."""
    shape: tuple[int, ...] = tuple(model.image_shape)
    binary_input = bool(model.input.binarize)
    plans = []
    for name, layer in zip(layer_names(model), model.layers):
        units = layer.units
        if layer.kind == "conv":
            if len(shape) != 3:
                raise ValueError(f"{name}: a conv layer needs a (C, H, W) input, got {shape}")
            channels, height, width = shape
            input_shape = shape
            weights = units * channels * layer.kernel_size**2
            linear_shape: tuple[int, ...] = (units, height, width)
            output_shape: tuple[int, ...] = (units, height // 2, width // 2) if layer.pool else linear_shape
            kernel_size: int | None = layer.kernel_size
        else:
            input_shape = (math.prod(shape),)
            weights = input_shape[0] * units
            linear_shape = output_shape = (units,)
            kernel_size = None
        batch_norm = bool(layer.batch_norm)
        plans.append(
            LayerPlan(
                name=name,
                kind=layer.kind,
                input_shape=input_shape,
                linear_shape=linear_shape,
                output_shape=output_shape,
                flatten_input=len(shape) != len(input_shape),
                weights=weights,
                biases=units if model.bias else 0,
                batch_norm_params=2 * units if batch_norm else 0,
                batch_norm_buffers=2 * units if batch_norm else 0,
                # every output value of the linear map is one dot product over a weight row
                macs=math.prod(linear_shape) * (weights // units if units else 0),
                binarize_weights=bool(layer.binarize_weights),
                binary_input=binary_input,
                binarize_activations=bool(layer.binarize_activations),
                batch_norm=batch_norm,
                kernel_size=kernel_size,
                pool=layer.kind == "conv" and bool(layer.pool),
            )
        )
        shape = output_shape
        binary_input = bool(layer.binarize_activations)
    return tuple(plans)
