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


BF16_EXACT_INTEGERS = 256  # bfloat16's 8 significant bits hold every whole number up to 256, the even ones up to 512


def signs_sums_exact_in_bf16(in_channels: int, kernel_taps: int) -> bool:
    """Whether every output of a convolution of ±1 inputs with ±1 weights, a sum of up to
    ``in_channels * kernel_taps`` ±1 terms, is exact in bfloat16: up to 256 terms always; up to
    512 when every sum has an even count of terms (an even count of channels: zero padding only
    removes whole taps), for a sum of an even count of ±1 terms is even."""
    terms = in_channels * kernel_taps
    return terms <= BF16_EXACT_INTEGERS or (in_channels % 2 == 0 and terms <= 2 * BF16_EXACT_INTEGERS)


class _SignsConv(torch.autograd.Function):
    """``conv2d(x, w) + bias`` for ±1 ``x`` and ``w`` whose sums are exact in bfloat16: forward in
    bfloat16 (float32 sums inside; the same numbers as float32); backward exactly as autograd
    differentiates the float32 ``conv2d`` (the same call, the same numbers)."""

    @staticmethod
    def forward(ctx, x, w, bias, stride, padding, dilation, groups):  # type: ignore[override]
        ctx.save_for_backward(x, w)
        ctx.conv = (stride, padding, dilation, groups)
        ctx.bias_shape = None if bias is None else list(bias.shape)
        product = F.conv2d(x.to(torch.bfloat16), w.to(torch.bfloat16), None, stride, padding, dilation, groups)
        product = product.float()
        return product if bias is None else product.add_(bias.view(1, -1, 1, 1))

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conv
        wanted = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.bias_shape is not None]
        grad_x, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad, x, w, ctx.bias_shape, stride, padding, dilation, False, [0, 0], groups, wanted
        )
        return grad_x, grad_w, grad_b, None, None, None, None


def signs_conv(conv: nn.Conv2d, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor | None:
    """``conv``'s map of ±1 ``x`` with ±1 weights ``w`` by :class:`_SignsConv` (on a CPU, 2-D,
    exact in bfloat16: 1.4x faster for `best`'s second conv here, 3.3 -> 2.3 ms a step), or None
    when it does not apply."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or not isinstance(conv.padding, tuple):
        return None
    if conv.padding_mode != "zeros" or not signs_sums_exact_in_bf16(conv.in_channels // conv.groups, w[0, 0].numel()):
        return None
    return _SignsConv.apply(x, w, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)


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

    def forward(self, x: torch.Tensor, signs_in: bool = False) -> torch.Tensor:
        """With ``signs_in`` (every input ±1) and binary weights, the exact bfloat16 product
        (:func:`signs_conv`) where it applies; else the float convolution."""
        weight = self.forward_weight()
        if signs_in and self.binarize_weights:
            product = signs_conv(self, x, weight)
            if product is not None:
                return product
        return self._conv_forward(x, weight, self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", binarize_weights={self.binarize_weights}"


class _ChannelsLast(torch.autograd.Function):
    """``x`` with its maps channels-last; the gradient goes back in ``x``'s own layout."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.was_contiguous = x.is_contiguous()
        return x.contiguous(memory_format=torch.channels_last)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return grad.contiguous() if ctx.was_contiguous else grad


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """Feature maps ``x`` (N, C, H, W) laid out channels-last (the same numbers), their gradient
    handed back in ``x``'s layout: a conv that wrote ``x`` in the usual layout takes its gradient
    in that layout too. For `best`'s first conv, whose weight gradient is the same bit for bit
    either way, that is 0.6 + 1.3 ms (its backward, the copy) instead of 2.7 ms a step here."""
    return _ChannelsLast.apply(x)


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
