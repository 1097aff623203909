"""bnn.network.layers: BinaryLinear / BinaryConv2d use sign(W) forward and train the latent W."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from bnn.network.binarize import sign
from bnn.network.layers import (
    BinaryConv2d,
    BinaryLinear,
    binary_layers,
    clip_latent_weights,
    sign_product,
    signs_sums_exact_in_bf16,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_linear_forward_uses_sign_of_latent_weights():
    layer = BinaryLinear(7, 5)
    x = torch.randn(3, 7)
    expected = F.linear(x, sign(layer.weight.detach()), layer.bias.detach())
    assert torch.allclose(layer(x), expected, atol=1e-6)
    assert set(layer.forward_weight().detach().unique().tolist()) <= {-1.0, 1.0}
    # and not the real weights (glorot weights are far from ±1)
    assert not torch.allclose(layer(x), F.linear(x, layer.weight, layer.bias), atol=1e-3)


def test_linear_without_binarization_is_plain_linear():
    layer = BinaryLinear(7, 5, binarize_weights=False)
    x = torch.randn(3, 7)
    assert torch.allclose(layer(x), F.linear(x, layer.weight, layer.bias), atol=1e-6)


def test_latent_weight_receives_the_straight_through_gradient():
    layer = BinaryLinear(4, 3)
    with torch.no_grad():
        layer.weight.mul_(5)  # some |W| > 1: the weight STE is the identity (no cancellation)
    x = torch.randn(6, 4)
    upstream = torch.randn(6, 3)
    layer(x).backward(upstream)
    # y = x sign(W)^T + b  =>  dL/dW = upstream^T x, passed straight to the latent W
    assert torch.allclose(layer.weight.grad, upstream.T @ x, atol=1e-5)
    assert torch.allclose(layer.bias.grad, upstream.sum(0), atol=1e-5)


def test_glorot_and_uniform1_init_bounds_and_zero_bias():
    layer = BinaryLinear(300, 100)
    bound = math.sqrt(6 / 400)
    assert layer.weight.abs().max() <= bound
    assert layer.weight.abs().max() > 0.9 * bound
    assert torch.count_nonzero(layer.bias) == 0
    wide = BinaryLinear(300, 100, latent_init="uniform1")
    assert 0.95 < wide.weight.abs().max() <= 1.0
    assert BinaryLinear(3, 2, bias=False).bias is None


def test_conv_forward_uses_sign_and_keeps_size():
    conv = BinaryConv2d(2, 4, 3)
    x = torch.randn(2, 2, 9, 9)
    out = conv(x)
    assert out.shape == (2, 4, 9, 9)
    expected = F.conv2d(x, sign(conv.weight.detach()), conv.bias.detach(), padding=1)
    assert torch.allclose(out, expected, atol=1e-5)
    assert (conv.fan_in, conv.fan_out) == (2 * 9, 4 * 9)
    assert BinaryConv2d(1, 2, 5)(torch.randn(1, 1, 8, 8)).shape == (1, 2, 8, 8)


def test_conv_latent_weight_gets_gradient():
    conv = BinaryConv2d(1, 2, 3)
    x = torch.randn(1, 1, 5, 5)
    conv(x).sum().backward()
    wb = sign(conv.weight.detach()).requires_grad_(True)
    F.conv2d(x, wb, conv.bias.detach(), padding=1).sum().backward()
    assert torch.allclose(conv.weight.grad, wb.grad, atol=1e-5)


def test_clip_latent_weights_clips_only_binarized_layers():
    model = nn.Sequential(
        BinaryLinear(4, 4),
        BinaryLinear(4, 4, binarize_weights=False),
        BinaryConv2d(1, 2),
        nn.Linear(4, 4),
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.linspace(-3, 3, p.numel()).reshape(p.shape))
    before = [p.detach().clone() for p in model.parameters()]
    clip_latent_weights(model)
    assert model[0].weight.abs().max() == 1.0
    assert torch.equal(model[0].weight, before[0].clamp(-1, 1))
    assert torch.equal(model[2].weight, model[2].weight.clamp(-1, 1)) and model[2].weight.abs().max() == 1.0
    assert torch.equal(model[1].weight, before[2])  # real-valued layer untouched
    assert torch.equal(model[3].weight, before[6])  # plain nn.Linear untouched
    assert torch.equal(model[0].bias, before[1])  # biases are not clipped
    assert len(binary_layers(model)) == 3
    clip_latent_weights(model, bound=0.5)
    assert model[0].weight.abs().max() == 0.5


def _signs(*shape: int) -> torch.Tensor:
    return sign(torch.randn(*shape))


def test_sign_product_is_the_float_product_and_its_gradients():
    x, w = _signs(37, 300).requires_grad_(), _signs(20, 300).requires_grad_()
    product = sign_product(x, w)
    assert torch.equal(product, x.detach() @ w.detach().t())  # whole numbers: exact both ways
    grad = torch.randn(37, 20)
    product.backward(grad)
    assert torch.allclose(x.grad, grad @ w.detach()) and torch.allclose(w.grad, grad.t() @ x.detach())


def test_sign_product_keeps_the_nan_of_a_row_or_column():
    x, w = _signs(5, 16), _signs(4, 16)
    x[1, 3] = float("nan")
    w[2, 0] = float("nan")
    nan = sign_product(x, w).isnan()
    assert nan[1].all() and nan[:, 2].all() and nan.sum() == 4 + 5 - 1


def test_a_linear_layer_told_its_inputs_are_signs_gives_the_same_outputs():
    layer = BinaryLinear(300, 20)
    x = _signs(64, 300)
    assert torch.allclose(layer(x, signs_in=True), layer(x), atol=1e-5, rtol=0)
    layer.bias = None
    assert torch.equal(layer(x, signs_in=True), layer(x))


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("in_channels", [32, 3])  # best's second conv (288 terms, even); 27 terms
def test_a_conv_told_its_inputs_are_signs_gives_the_same_numbers_and_gradients(in_channels, channels_last):
    torch.manual_seed(0)
    layer = BinaryConv2d(in_channels, 64)
    nn.init.uniform_(layer.bias, -1, 1)  # a real bias: added after the exact sum, one rounding as in float32
    x = _signs(50, in_channels, 14, 14)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)  # as best's maps reach it
    grad = torch.randn(50, 64, 14, 14)
    results = []
    for signs_in in (True, False):
        layer.zero_grad()
        xi = x.clone().requires_grad_()
        out = layer(xi, signs_in=signs_in)
        out.backward(grad)
        results.append((out, xi.grad, layer.weight.grad.clone(), layer.bias.grad.clone(), out.stride()))
    (fast, *fast_grads, fast_strides), (plain, *plain_grads, plain_strides) = results
    # the exact sum plus the bias, rounded once: float64 holds every such sum and bias exactly enough
    exact = F.conv2d(x.double(), sign(layer.weight.detach()).double(), layer.bias.detach().double(), padding=1)
    assert torch.equal(fast, exact.float()) and fast_strides == plain_strides  # the same layout too
    if channels_last:  # how best's maps reach its second conv: the float conv is bit for bit the same
        assert torch.equal(fast, plain)
    else:  # the float conv starts its sums from the bias, and rounds partial sums: last bits differ
        assert torch.allclose(fast, plain, rtol=0, atol=1e-4)
    assert all(torch.equal(a, b) for a, b in zip(fast_grads, plain_grads))  # the same backward call


def test_bfloat16_holds_a_sum_of_signs_only_up_to_its_integers():
    assert signs_sums_exact_in_bf16(32, 9)  # 288 terms, an even count: even sums up to 288
    assert not signs_sums_exact_in_bf16(33, 9)  # 297 terms, odd: 257 would round
    assert not signs_sums_exact_in_bf16(64, 9)  # 576 > 512
    assert signs_sums_exact_in_bf16(28, 9) and signs_sums_exact_in_bf16(1, 9)
    assert torch.tensor(257.0).bfloat16().float() != 257 and torch.tensor(510.0).bfloat16().float() == 510
