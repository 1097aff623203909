"""Binarized linear and convolution layers with real-valued latent weights.

Each layer keeps real-valued *latent* weights ``W`` (the paper's "real-valued weights that the
gradient updates") and, when ``binarize_weights`` is on, computes its forward pass with
``W_b = sign(W)`` (sign(0) = +1). The gradient reaches ``W`` straight through the sign, as in
the authors' Theano code, and :func:`clip_latent_weights` keeps ``W`` in [-1, 1]: it is called
explicitly after every ``optimizer.step()`` (Courbariaux et al. 2016, arXiv:1602.02830, Alg. 1).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .binarize import ste_sign


def _init_latent(weight: torch.Tensor, fan_in: int, fan_out: int, scheme: str) -> None:
    """ "glorot": U(-a, a), a = sqrt(6 / (fan_in + fan_out)); "uniform1": U(-1, 1)."""
    bound = 1.0 if scheme == "uniform1" else math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        weight.uniform_(-bound, bound)


class _SignProduct(torch.autograd.Function):
    """``x @ w.T`` for ``x`` and ``w`` in {-1, +1}, computed in 8-bit integers; backward as a float matmul."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, w)
        product = torch._int_mm(x.to(torch.int8), w.to(torch.int8).t()).to(x.dtype)
        # a NaN in a row of x or of w (a diverged run) makes that row's or column's outputs NaN, as in
        # the float product: NaN * 0 is NaN, every other sum * 0 is 0
        return product.add_(x.sum(1, keepdim=True).mul_(0.0)).add_(w.sum(1).mul_(0.0))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, w = ctx.saved_tensors
        grad_x = grad @ w if ctx.needs_input_grad[0] else None
        grad_w = grad.t() @ x if ctx.needs_input_grad[1] else None
        return grad_x, grad_w


def sign_product(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``x @ w.T`` where every entry of ``x`` (N, K) and ``w`` (M, K) is -1 or +1 (or NaN).

    A product of signs is an integer sum of ±1 terms, exact in float32 up to 2**24 terms and
    exact in 8-bit integer arithmetic (int32 sums), which CPUs do several times faster
    (``torch._int_mm``, e.g. VNNI instructions): the same numbers, sooner. Elsewhere (a GPU,
    float64) it is the float product."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or x.dim() != 2:
        return x @ w.t()
    return _SignProduct.apply(x, w)


class BinaryLinear(nn.Linear):
    """``y = x @ W_b.T + b`` with ``W_b = sign(W)`` when ``binarize_weights`` else ``W``.

    Called with ``signs_in=True`` (the caller knows every input is ±1: the previous layer's
    binarized activations, no dropout between) and binary weights, the product is a
    :func:`sign_product` of signs."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        binarize_weights: bool = True,
        bias: bool = True,
        latent_init: str = "glorot",
    ) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.binarize_weights = binarize_weights
        _init_latent(self.weight, in_features, out_features, latent_init)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    @property
    def fan_in(self) -> int:
        return self.in_features

    @property
    def fan_out(self) -> int:
        return self.out_features

    def forward_weight(self) -> torch.Tensor:
        """The weight the forward pass uses (sign(W) with an identity STE, or W)."""
        return ste_sign(self.weight, cancel=False) if self.binarize_weights else self.weight

    def forward(self, x: torch.Tensor, signs_in: bool = False) -> torch.Tensor:
        if not (signs_in and self.binarize_weights):
            return F.linear(x, self.forward_weight(), self.bias)
        product = sign_product(x, self.forward_weight())
        return product if self.bias is None else product + self.bias

    def extra_repr(self) -> str:
        return super().extra_repr() + f", binarize_weights={self.binarize_weights}"


class BinaryConv2d(nn.Conv2d):
    """2-D convolution with ``sign(W)`` when ``binarize_weights``; 'same' padding, stride 1."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        binarize_weights: bool = True,
        bias: bool = True,
        latent_init: str = "glorot",
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
        self.binarize_weights = binarize_weights
        _init_latent(self.weight, self.fan_in, self.fan_out, latent_init)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    @property
    def fan_in(self) -> int:
        return self.in_channels * self.kernel_size[0] * self.kernel_size[1]

    @property
    def fan_out(self) -> int:
        return self.out_channels * self.kernel_size[0] * self.kernel_size[1]

    def forward_weight(self) -> torch.Tensor:
        return ste_sign(self.weight, cancel=False) if self.binarize_weights else self.weight

    def forward(self, x: torch.Tensor, signs_in: bool = False) -> torch.Tensor:  # noqa: ARG002 (float conv always)
        return self._conv_forward(x, self.forward_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", binarize_weights={self.binarize_weights}"


BINARY_LAYER_TYPES = (BinaryLinear, BinaryConv2d)


def binary_layers(model: nn.Module) -> list[BinaryLinear | BinaryConv2d]:
    return [m for m in model.modules() if isinstance(m, BINARY_LAYER_TYPES)]


@torch.no_grad()
def clip_latent_weights(model: nn.Module, bound: float = 1.0) -> None:
    """Clip the latent weights of every weight-binarized layer to [-bound, bound].

    Call after ``optimizer.step()``; without it the latent weights grow without limit and a
    sign flip needs ever larger updates (paper section 1.3, "clip the real-valued weights").
    """
    for layer in binary_layers(model):
        if layer.binarize_weights:
            layer.weight.clamp_(-bound, bound)
