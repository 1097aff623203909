"""A binarized network built from a :class:`~bnn.config.model_settings.ModelConfig`, with its insides exposed.

Every layer is ``linear map (BinaryLinear / BinaryConv2d) -> [2x2 max-pool] -> [BatchNorm] ->
activation -> [dropout]``, the layout of Courbariaux et al. (2016, arXiv:1602.02830) and of
their Theano MNIST code. The activation is ``sign`` with the straight-through estimator when
the layer binarizes its activations; otherwise the model's real activation for hidden layers
and the identity for the output layer (whose outputs are the class scores).

The model takes MNIST pixels in [0, 1], shape (N, 1, 28, 28) or (N, 784), and scales them itself
(see :class:`~bnn.config.model_settings.InputConfig`), so every caller feeds the same thing. Layer names
and shapes are the architecture plan's (:func:`bnn.config.architecture.plan`).

:meth:`BinaryNet.trace` returns, per layer, the input it saw, the pre-activation (after
BatchNorm, before the sign) and the post-activation, which is what the app draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config.architecture import LayerPlan, plan
from ..config.model_settings import LayerConfig, ModelConfig
from .binarize import binarize, sign
from .layers import BinaryConv2d, BinaryLinear, channels_last


@dataclass
class LayerTrace:
    name: str
    inputs: torch.Tensor  # what the linear map received
    pre: torch.Tensor  # after the linear map, pool and BatchNorm: what the sign sees
    post: torch.Tensor  # after the activation (±1 when binarized)
    binarized: bool  # whether post is sign(pre)


class InputStage(nn.Module):
    """Scale [0, 1] pixels to [-1, 1] ("pm1") or keep them ("01"); optional sign and dropout."""

    def __init__(self, scale: str, binarize_input: bool, dropout: float) -> None:
        super().__init__()
        self.scale = scale
        self.binarize_input = binarize_input
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == "pm1":
            x = x * 2 - 1
        if self.binarize_input:
            x = sign(x)  # no gradient is needed below the first layer
        return self.dropout(x)

    @property
    def outputs_signs(self) -> bool:
        """Whether every output is ±1 (sign of the pixels, no dropout now)."""
        return self.binarize_input and not (self.training and isinstance(self.dropout, nn.Dropout))


class Activation(nn.Module):
    """sign with STE (deterministic, or stochastic while training) or a real activation."""

    def __init__(self, binarized: bool, real: str, *, stochastic: bool, ste_cancel: bool) -> None:
        super().__init__()
        self.binarized = binarized
        self.real = real
        self.stochastic = stochastic
        self.ste_cancel = ste_cancel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.binarized:
            return binarize(x, stochastic=self.stochastic and self.training, cancel=self.ste_cancel)
        if self.real == "hardtanh":
            return nn.functional.hardtanh(x)
        if self.real == "relu":
            return torch.relu(x)
        return x

    def extra_repr(self) -> str:
        return "sign" if self.binarized else self.real


class Block(nn.Module):
    """One layer: linear map -> [pool] -> [BatchNorm] -> activation -> [dropout]."""

    def __init__(
        self,
        layer_plan: LayerPlan,
        layer: LayerConfig,
        linear: BinaryLinear | BinaryConv2d,
        activation: Activation,
        model_cfg: ModelConfig,
    ) -> None:
        super().__init__()
        self.plan = layer_plan  # name and shapes
        self.name = layer_plan.name
        self.config = layer
        self.flatten_input = layer_plan.flatten_input
        self.linear = linear
        self.pool = nn.MaxPool2d(2) if layer.kind == "conv" and layer.pool else nn.Identity()
        if layer.batch_norm:
            norm_cls = nn.BatchNorm2d if layer.kind == "conv" else nn.BatchNorm1d
            self.norm: nn.Module = norm_cls(layer.units, eps=model_cfg.bn_eps, momentum=model_cfg.bn_momentum)
        else:
            self.norm = nn.Identity()
        self.activation = activation
        self.dropout = nn.Dropout(layer.dropout) if layer.dropout > 0 else nn.Identity()

    def pre_activation(self, x: torch.Tensor, signs_in: bool = False) -> torch.Tensor:
        """After the linear map, pool and BatchNorm; ``signs_in``: every entry of ``x`` is ±1."""
        if self.flatten_input:
            x = x.flatten(1)
        z = self.linear(x, signs_in)
        if self.config.kind == "conv":
            # feature maps channels-last (the same numbers): on a CPU the 2x2 max-pool is 4-14x faster in
            # that layout (3.2 vs 14.8 ms for 100x32x28x28 here); the next conv and BatchNorm keep it
            z = channels_last(z)
        return self.norm(self.pool(z))

    def forward(self, x: torch.Tensor, signs_in: bool = False) -> torch.Tensor:
        return self.dropout(self.activation(self.pre_activation(x, signs_in)))

    @property
    def outputs_signs(self) -> bool:
        """Whether every output is ±1 (binarized activations, no dropout now): the next layer's ``signs_in``."""
        return self.activation.binarized and not (self.training and isinstance(self.dropout, nn.Dropout))


class BinaryNet(nn.Module):
    """MLP or small CNN described by ``config``; returns class scores of shape (N, classes)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.input_stage = InputStage(config.input.scale, config.input.binarize, config.input.dropout)
        blocks = []
        for index, (layer_plan, layer) in enumerate(zip(plan(config), config.layers)):
            is_output = index == len(config.layers) - 1
            if layer.kind == "conv":
                linear: BinaryLinear | BinaryConv2d = BinaryConv2d(
                    layer_plan.input_shape[0],
                    layer.units,
                    layer.kernel_size,
                    binarize_weights=layer.binarize_weights,
                    bias=config.bias,
                    latent_init=config.latent_init,
                )
            else:
                linear = BinaryLinear(
                    layer_plan.input_shape[0],
                    layer.units,
                    binarize_weights=layer.binarize_weights,
                    bias=config.bias,
                    latent_init=config.latent_init,
                )
            activation = Activation(
                layer.binarize_activations,
                "identity" if is_output else config.real_activation,
                stochastic=config.stochastic,
                ste_cancel=config.ste_cancel,
            )
            blocks.append(Block(layer_plan, layer, linear, activation, config))
        self.blocks = nn.ModuleList(blocks)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        channels, height, width = self.config.image_shape
        return self.input_stage(x.reshape(-1, channels, height, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._prepare(x)
        signs = self.input_stage.outputs_signs
        for block in self.blocks:
            x = block(x, signs)
            signs = block.outputs_signs
        return x

    @torch.no_grad()
    def trace(self, x: torch.Tensor) -> list[LayerTrace]:
        """Per layer: inputs, pre- and post-activations for the batch ``x``, in eval mode."""
        was_training = self.training
        self.eval()
        try:
            traces = []
            h = self._prepare(x)
            signs = self.input_stage.outputs_signs
            for block in self.blocks:
                inputs = h.flatten(1) if block.flatten_input else h
                pre = block.pre_activation(h, signs)
                h = block.activation(pre)
                signs = block.outputs_signs
                traces.append(LayerTrace(block.name, inputs, pre, h, block.activation.binarized))
            return traces
        finally:
            self.train(was_training)

    def linear_layers(self) -> list[BinaryLinear | BinaryConv2d]:
        return [block.linear for block in self.blocks]

    def latent_weights(self) -> dict[str, torch.Tensor]:
        """Real-valued latent weights per layer (detached)."""
        return {block.name: block.linear.weight.detach() for block in self.blocks}

    def binary_weights(self) -> dict[str, torch.Tensor]:
        """Weights the forward pass uses: sign(W) for binarized layers, W otherwise (detached)."""
        return {block.name: block.linear.forward_weight().detach() for block in self.blocks}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """argmax of the scores; ties (binarized outputs) go to the lowest class, as in Keras."""
        was_training = self.training
        self.eval()
        try:
            return self(x).argmax(dim=1)
        finally:
            self.train(was_training)


def build_model(config: ModelConfig, device: torch.device | str | None = None) -> BinaryNet:
    model = BinaryNet(config)
    return model.to(device) if device is not None else model
