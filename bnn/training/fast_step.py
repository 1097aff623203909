"""The lean training step: a binarized network's forward and backward with the cheapest exact
arithmetic, and bfloat16 backward products where the run's ``precision`` setting asks for them.

Courbariaux et al. (2016, arXiv:1602.02830) train with binary weights ``W_b = sign(W)`` (and
binary activations) in the forward pass and real-valued gradients in the backward pass. Which
arithmetic gives which numbers:

* A product of signs, ``x @ W_b.T`` with every ``x`` and ``W_b`` entry in {-1, +1}, is a sum of
  ±1 terms: a whole number, exact in 8-bit integer arithmetic with int32 sums (``torch._int_mm``)
  and exact in float32. Same numbers in both (:func:`signs_product`).
* The first layer's inputs are pixels. An MNIST pixel is ``p / 255`` with ``p`` an integer in
  [0, 255], so the scaled pixel is ``x = (a p + b) / 255`` with whole ``a``, ``b`` ("pm1":
  ``x = 2 p / 255 - 1``, a = 2, b = -255; "01": a = 1, b = 0). With ``q = p - 128`` (an int8),
  ``sum_k x_k w_k = (a sum_k q_k w_k + (128 a + b) sum_k w_k) / 255``: integer sums, exact, and one
  rounding at the division (:func:`pixel_product`). float32 rounds ``x`` and every partial sum
  instead, so the two agree to float32's rounding (relative 1e-6), not bit for bit.
* The backward products (the input gradient ``g @ W_b`` and the weight gradient ``g.T @ x``)
  multiply real gradients. ``precision="fp32"`` computes them in float32; ``"bf16"`` rounds the
  gradient ``g`` to bfloat16 (8 significant bits; ±1, and the pixel integers ``a p + b``, are exact
  in bfloat16), multiplies with float32 sums and rounds the product to bfloat16 (the CPU's
  AVX-512 BF16 instructions do this 2-3x faster than float32). The gradient's direction moves by
  about 2**-8 relative; Adam's per-weight normalisation leaves the step sizes alone.

:class:`LeanForward` is what :class:`bnn.training.loop.Trainer` calls for a training forward pass: it walks
the model's blocks as :meth:`bnn.network.models.BinaryNet.forward` does (the same modules: BatchNorm,
activation with its hooks, dropout) and uses :func:`pixel_product` / :func:`signs_product` for the
dense layers that can take them, the layer's own forward for every other layer (conv, real).
Evaluation and inference use the model's own forward.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config.train_settings import PRECISIONS  # noqa: F401 (the choices, re-exported)
from ..network.binarize import EXACT_COUNT, sign

PIXEL_LEVELS = 255  # an 8-bit pixel p / 255
PIXEL_SCALES = {"pm1": (2, -PIXEL_LEVELS), "01": (1, 0)}  # scale -> (a, b): x = (a p + b) / 255


def grad_dtype(precision: str) -> torch.dtype:
    """The dtype the backward products multiply in: float32 ("fp32") or bfloat16 ("bf16")."""
    return torch.bfloat16 if precision == "bf16" else torch.float32


def _matmul(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``a @ b`` with both operands in ``dtype`` (float32 sums), returned as float32."""
    if dtype == torch.float32:
        return a @ b.to(dtype)
    return (a.to(dtype) @ b.to(dtype)).float()


def weight_gradient(grad: torch.Tensor, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``grad.T @ x`` (the weight gradient of ``x @ W.T``; ``grad`` (N, M) float32, ``x`` (N, K) any
    real dtype), with float32 sums; in bfloat16 on the batch-centred inputs.

    In bfloat16, ``sum_n g_nm x_nk`` is computed as ``sum_n g_nm (x_nk - mean_n x_nk)`` plus
    ``(sum_n g_nm) mean_n x_nk`` (one product over N + 1 rows, the sums and means as the extra
    row), every operand rounded to bfloat16. The same number, but the rounding errors now scale
    with how much an input varies over the batch: behind BatchNorm ``sum_n g_nm`` is 0 (the batch
    mean is subtracted), so the true gradient of a weight whose input is constant over the batch
    (a background pixel, a saturated unit) is 0, and so it stays; rounding ``g`` alone would
    leave ``x_k sum_n (round(g_nm) - g_nm)`` there, noise that Adam's normalisation turns into
    full-size steps (which flip binary weights at random)."""
    if dtype == torch.float32:
        return grad.t() @ x.to(dtype)
    return _centred_product(gradient_rows(grad, dtype), x)


def gradient_rows(grad: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(N + 1, M) in ``dtype``: the rows of ``grad`` (N, M) rounded to ``dtype``, then their sum
    (float32 sums), written once (the first N rows are also the rounded ``grad`` itself)."""
    n = len(grad)
    rows = grad.new_empty((n + 1, grad.shape[1]), dtype=dtype)
    rows[:n].copy_(grad)
    rows[n:].copy_(grad.sum(0, keepdim=True))
    return rows


def _centred_product(rows: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``rows.T @ [x - mean; mean]`` (the bfloat16 weight gradient of :func:`weight_gradient`):
    ``x - mean`` computed in float32 and written once in ``rows``' dtype, as float32."""
    n = len(x)
    mean = x.sum(0, keepdim=True, dtype=torch.float32).div_(n)
    # one product over N + 1 rows: the batch's (g, x - mean) and the row (sum_n g, mean)
    inputs = torch.empty((n + 1, x.shape[1]), dtype=rows.dtype)
    torch.sub(x, mean, out=inputs[:n])
    inputs[n:].copy_(mean)
    return (rows.t() @ inputs).float()


def weight_signs(
    w: torch.Tensor, row_sums: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """``sign(w)`` (sign(0) = +1, paper eq. 1) as int8, None, and (``row_sums``) the sum of each
    row's signs as float32 (whole numbers, exact); or, when a row of ``w`` (M, K) has a NaN (a
    diverged run), the signs with NaN as +1, a float (M,) that is NaN at those rows and 0
    elsewhere, for the product to add (a NaN weight makes its outputs NaN, as in the float
    product), and row sums that are NaN at those rows.

    One vectorized ``torch.sign`` suffices unless some entry is ±0 or NaN (it gives 0 there),
    which the count of nonzero signs, ``signs · signs`` (whole numbers, exact in float32), tells;
    then :func:`bnn.network.binarize.sign`'s careful passes. The row sums come from the float32
    signs already at hand (summing the int8 ones would first copy them to float32: 0.6 ms a step
    for `fast`'s first layer)."""
    signs = torch.sign(w)
    if w.numel() < EXACT_COUNT and w.is_contiguous():
        flat = signs.view(-1)
        if float(torch.dot(flat, flat)) == w.numel():
            return signs.to(torch.int8), None, signs.sum(1) if row_sums else None
    careful = sign(w)  # ±1, NaN kept
    sums = careful.sum(1)
    nan_rows = sums.mul(0.0)
    if not bool(nan_rows.isnan().any()):
        nan_rows = None
    return careful.nan_to_num(nan=1.0).to(torch.int8), nan_rows, sums if row_sums else None


class _SignsProduct(torch.autograd.Function):
    """``x @ sign(w).T`` for ±1 ``x`` in int8 (exact); the latent ``w`` gets the gradient of
    ``sign(w)`` (identity straight-through); backward products in ``dtype``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:  # type: ignore[override]
        x8 = x.to(torch.int8)
        w8, nan_rows, _ = weight_signs(w)
        ctx.save_for_backward(x8, w8)
        ctx.dtype = dtype
        product = torch._int_mm(x8, w8.t()).to(x.dtype)
        # a NaN in a row of x (a diverged run) makes that row's outputs NaN, as in the float product
        product.add_(x.sum(1, keepdim=True).mul_(0.0))
        return product if nan_rows is None else product.add_(nan_rows)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x8, w8 = ctx.saved_tensors
        if ctx.dtype == torch.float32:
            grad_x = _matmul(grad, w8, ctx.dtype) if ctx.needs_input_grad[0] else None
            grad_w = weight_gradient(grad, x8, ctx.dtype) if ctx.needs_input_grad[1] else None
            return grad_x, grad_w, None
        # the gradient rounded once, for both products
        rows = gradient_rows(grad, ctx.dtype)
        grad_x = (rows[: len(grad)] @ w8.to(ctx.dtype)).float() if ctx.needs_input_grad[0] else None
        grad_w = _centred_product(rows, x8) if ctx.needs_input_grad[1] else None
        return grad_x, grad_w, None


def signs_product(x: torch.Tensor, w: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """``x @ sign(w).T`` where every entry of ``x`` (N, K) is -1 or +1 (or NaN) and ``w`` (M, K)
    are a layer's latent weights, which get the gradient of ``sign(w)`` straight through (the
    identity STE of :meth:`bnn.network.layers.BinaryLinear.forward_weight`).

    Forward exact: a sum of ±1 terms in 8-bit integers with int32 sums (the same whole numbers
    as float32 gives). Backward: ``grad_x = g @ sign(w)`` and ``grad_w = g.T @ x`` in float32
    (``precision="fp32"``) or with bfloat16 operands (``"bf16"``; ±1 are exact there, ``g`` is
    rounded to 8 significant bits). Courbariaux et al. 2016, Algorithm 1: binary forward, real
    gradients."""
    return _SignsProduct.apply(x, w, grad_dtype(precision))


class _PixelProduct(torch.autograd.Function):
    """``x @ sign(w).T`` for 8-bit pixels ``x = (a p + b) / 255`` (given as ``q = p - 128``)."""

    @staticmethod
    def forward(ctx, q: torch.Tensor, w: torch.Tensor, a: int, b: int, dtype: torch.dtype) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(q)
        ctx.a, ctx.b, ctx.dtype = a, b, dtype
        w8, _, column_sums = weight_signs(w, row_sums=True)  # sum_k w_k, exact (NaN at a NaN row)
        sums = torch._int_mm(q, w8.t()).to(w.dtype)  # sum_k q_k w_k, exact
        return sums.mul_(a).add_(column_sums, alpha=128 * a + b).div_(PIXEL_LEVELS)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (q,) = ctx.saved_tensors
        if not ctx.needs_input_grad[1]:
            return None, None, None, None, None
        # a p + b = a q + 128 a + b, whole numbers; x = (a p + b) / 255
        levels = q.to(grad.dtype).mul_(ctx.a).add_(128 * ctx.a + ctx.b)
        if ctx.dtype == torch.float32:
            grad_w = grad.t() @ levels.div_(PIXEL_LEVELS)  # float32: the scaled pixels, as the model has them
        else:
            grad_w = weight_gradient(grad, levels, ctx.dtype).div_(PIXEL_LEVELS)
        return None, grad_w, None, None, None


def pixel_codes(pixels: torch.Tensor) -> torch.Tensor | None:
    """``q = p - 128`` (int8, same shape) where every entry of ``pixels`` is exactly ``p / 255`` in
    float32 for a whole ``p`` in [0, 255] (MNIST as loaded, shifted or not), else None."""
    if pixels.dtype != torch.float32 or pixels.device.type != "cpu":
        return None
    levels = pixels.mul(PIXEL_LEVELS).round_()
    low, high = torch.aminmax(levels)
    if not (0 <= float(low) and float(high) <= PIXEL_LEVELS and bool((levels.div(PIXEL_LEVELS) == pixels).all())):
        return None
    return levels.sub_(128).to(torch.int8)


def pixel_product(q: torch.Tensor, w: torch.Tensor, scale: str = "pm1", precision: str = "fp32") -> torch.Tensor:
    """``x @ sign(w).T`` for the scaled 8-bit pixels ``x = (a p + b) / 255`` (``scale`` "pm1": 2p/255 - 1,
    "01": p/255), given as ``q = p - 128`` (int8, (N, K)), and latent weights ``w`` (M, K), which get
    the gradient of ``sign(w)`` straight through.

    Exact up to one rounding: ``(a sum q w + (128 a + b) sum w) / 255``, integer sums in int8/int32.
    Backward: the weight gradient ``g.T @ x`` in float32 or, ``precision="bf16"``, as
    ``(g.T @ (a p + b)) / 255`` with bfloat16 operands (the integers ``a p + b`` exact); the pixels
    get no gradient."""
    a, b = PIXEL_SCALES[scale]
    return _PixelProduct.apply(q, w, a, b, grad_dtype(precision))


class LeanForward(nn.Module):
    """A training forward pass of ``model`` (a :class:`bnn.network.models.BinaryNet`) with the lean
    products: the first dense layer on 8-bit pixels by :func:`pixel_product`, every dense layer
    with ±1 inputs and binary weights by :func:`signs_product`, the backward products in
    ``precision``; every other part is the model's own module. Called on pixels in [0, 1] like
    the model; the scores are the model's to float32 rounding."""

    def __init__(self, model: nn.Module, precision: str = "fp32") -> None:
        super().__init__()
        self.model = model
        self.precision = precision

    def _pixels_product(self, pixels: torch.Tensor) -> torch.Tensor | None:
        """The first block's linear map by :func:`pixel_product`, or None when it does not apply."""
        model = self.model
        stage, block = model.input_stage, model.blocks[0]
        if stage.binarize_input or isinstance(stage.dropout, nn.Dropout) and model.training:
            return None
        if block.config.kind != "dense" or not block.linear.binarize_weights or stage.scale not in PIXEL_SCALES:
            return None
        q = pixel_codes(pixels.reshape(len(pixels), -1))
        if q is None:
            return None
        product = pixel_product(q, block.linear.weight, stage.scale, self.precision)
        return product if block.linear.bias is None else product + block.linear.bias

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        model = self.model
        if pixels.device.type != "cpu" or pixels.dtype != torch.float32:
            return model(pixels)  # the integer products are CPU kernels; elsewhere the float ones
        channels, height, width = model.config.image_shape
        pixels = pixels.reshape(-1, channels, height, width)
        x = None
        z = self._pixels_product(pixels)
        if z is None:
            x = model.input_stage(pixels)
        signs = model.input_stage.outputs_signs
        for block in model.blocks:
            if z is None:
                linear = block.linear
                if block.config.kind == "dense" and signs and linear.binarize_weights:
                    product = signs_product(x.flatten(1), linear.weight, self.precision)
                    z = product if linear.bias is None else product + linear.bias
                else:
                    x = block(x, signs)
                    signs = block.outputs_signs
                    continue
            x = block.dropout(block.activation(block.norm(block.pool(z))))
            signs, z = block.outputs_signs, None
        return x
