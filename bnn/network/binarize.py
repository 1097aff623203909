"""Binarization primitives: deterministic sign, the straight-through estimator, stochastic sign.

Courbariaux, Hubara, Soudry, El-Yaniv, Bengio (2016), "Binarized Neural Networks: Training
Deep Neural Networks with Weights and Activations Constrained to +1 or -1", arXiv:1602.02830.

* Deterministic binarization (paper eq. 1): ``x_b = sign(x)``, with sign(0) = +1.
* Straight-through estimator (paper eq. 4, "the STE with gradient cancellation"):
  ``q = sign(r)``, ``dL/dr = dL/dq * 1{|r| <= 1}``; the gradient of the hard tanh
  ``Htanh(x) = clip(x, -1, 1)``. larq calls this ``ste_sign``.
* Identity STE: ``dL/dr = dL/dq`` (no cancellation), for showing why cancellation matters.
* Stochastic binarization (paper eq. 2): ``x_b = +1`` with probability
  ``hard_sigmoid(x) = clip((x + 1) / 2, 0, 1)``, else -1; used while training only.

NaN stays NaN through :func:`sign` and both straight-through binarizers, deterministic and
stochastic: a run whose weights have gone NaN must show it.
"""

from __future__ import annotations

import torch

EXACT_COUNT = 2**24  # float32 counts every whole number below this exactly


def sign(x: torch.Tensor) -> torch.Tensor:
    """sign(x) in {-1, +1} with sign(0) = +1; NaN propagates."""
    if x.device.type == "cpu" and x.numel() < EXACT_COUNT:
        # the common case in one fast pass: torch.sign is right unless some entry is ±0 or NaN
        # (it gives 0 for those), which the count of nonzero signs, signs · signs, tells (whole
        # numbers all along the sum, so exact in float32)
        signs = torch.sign(x)
        in_memory_order = sorted(range(signs.dim()), key=lambda dim: -signs.stride(dim))  # e.g. channels-last
        flat = signs.permute(in_memory_order).reshape(-1)  # a view of a dense tensor, no copy
        if float(torch.dot(flat, flat)) == x.numel():
            return signs
    # not torch.sign: recent PyTorch returns sign(NaN) = 0, which would hide a diverged run; and
    # not torch.where(x >= 0, 1.0, -1.0): on a CPU it is ~5x slower than these vectorized passes
    one_or_nan = x.clamp(-1.0, 1.0).mul_(0.0).add_(1.0)  # NaN stays NaN, inf gives 1
    return torch.copysign(one_or_nan, x + 0.0)  # x + 0.0 turns -0.0 into +0.0: sign(-0.0) = +1


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """clip((x + 1) / 2, 0, 1): the probability of +1 in stochastic binarization."""
    return ((x + 1) / 2).clamp(0, 1)


class _SteSign(torch.autograd.Function):
    """Forward ``sign(x)``; backward ``grad * 1{|x| <= 1}`` (cancel) or ``grad`` (identity)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, cancel: bool) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.cancel = cancel
        return sign(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        if not ctx.cancel:
            return grad_output, None
        (x,) = ctx.saved_tensors
        return grad_output * (x.abs() <= 1).to(grad_output.dtype), None


class _SteStochasticSign(torch.autograd.Function):
    """Forward: +1 with probability hard_sigmoid(x); backward as :class:`_SteSign`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, cancel: bool) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.cancel = cancel
        draw = torch.rand_like(x)
        signs = torch.where(draw < hard_sigmoid(x), 1.0, -1.0).to(x.dtype)
        return torch.where(x.isnan(), x, signs)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        return _SteSign.backward(ctx, grad_output)


def ste_sign(x: torch.Tensor, cancel: bool = True) -> torch.Tensor:
    """Binarize with sign(x) (sign(0) = +1) and the straight-through estimator.

    Backward, with cancellation (paper eq. 4): ``dL/dx = dL/dq * 1{|x| <= 1}``.
    Without (identity STE): ``dL/dx = dL/dq``.
    """
    return _SteSign.apply(x, cancel)


def stochastic_ste_sign(x: torch.Tensor, cancel: bool = True) -> torch.Tensor:
    """+1 with probability hard_sigmoid(x), else -1 (paper eq. 2), NaN kept; STE backward as ste_sign."""
    return _SteStochasticSign.apply(x, cancel)


def binarize(x: torch.Tensor, *, stochastic: bool = False, cancel: bool = True) -> torch.Tensor:
    """ste_sign or stochastic_ste_sign; callers pass ``stochastic`` only while training."""
    return stochastic_ste_sign(x, cancel) if stochastic else ste_sign(x, cancel)
