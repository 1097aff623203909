"""bnn.network.binarize: sign, the straight-through estimator, stochastic sign (paper eqs. 1, 2, 4)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from bnn.config.model_settings import LayerConfig, ModelConfig
from bnn.network.binarize import binarize, hard_sigmoid, sign, ste_sign, stochastic_ste_sign
from bnn.network.models import build_model

POINTS = torch.tensor([-3.0, -1.5, -1.0, -0.999, -0.5, -1e-8, 0.0, 1e-8, 0.5, 0.999, 1.0, 1.5, 3.0])


def test_sign_values_and_sign_zero_is_plus_one():
    x = torch.tensor([-2.0, -1e-30, -0.0, 0.0, 1e-30, 7.0])
    assert sign(x).tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0, 1.0]
    assert sign(x).dtype == x.dtype


def test_sign_propagates_nan_and_keeps_inf_sign():
    x = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0])
    out = sign(x)
    assert math.isnan(out[0])
    assert out[1:].tolist() == [1.0, -1.0, 1.0]


@pytest.mark.parametrize("special", [None, 0.0, -0.0, float("nan")])
def test_sign_of_a_big_tensor_with_one_special_entry(special):
    """The fast path (torch.sign, then a count of the nonzero signs) hands a tensor with a ±0 or a
    NaN anywhere to the careful one."""
    x = torch.randn(300, 301)
    x[x == 0] = 1.0
    if special is not None:
        x[123, 45] = special
    out = sign(x)
    expected = torch.where(x >= 0, 1.0, -1.0)
    assert torch.equal(out[x == x], expected[x == x])
    assert out.isnan().sum() == (1 if special is not None and math.isnan(special) else 0)


@pytest.mark.parametrize("binarizer", [ste_sign, stochastic_ste_sign], ids=["ste_sign", "stochastic"])
def test_binarizers_keep_nan_so_a_diverged_run_shows_it(binarizer):
    x = torch.tensor([float("nan"), 3.0, -3.0] * 50)
    out = binarizer(x)
    assert out[0::3].isnan().all()
    assert (out[1::3] == 1).all() and (out[2::3] == -1).all()


def test_hard_sigmoid_closed_form():
    x = torch.tensor([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0])
    assert hard_sigmoid(x).tolist() == [0.0, 0.0, 0.5, 0.75, 1.0, 1.0]


def test_ste_sign_forward_is_sign():
    assert torch.equal(ste_sign(POINTS), sign(POINTS))
    assert torch.equal(ste_sign(POINTS, cancel=False), sign(POINTS))


def _ste_grad(x: torch.Tensor, upstream: torch.Tensor, cancel: bool) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    ste_sign(x, cancel=cancel).backward(upstream)
    return x.grad


def test_ste_gradient_is_grad_times_indicator_abs_le_one():
    upstream = torch.linspace(-2.0, 3.0, len(POINTS))
    grad = _ste_grad(POINTS, upstream, cancel=True)
    expected = [g if abs(x) <= 1 else 0.0 for x, g in zip(POINTS.tolist(), upstream.tolist())]
    assert grad.tolist() == pytest.approx(expected, abs=0)
    # explicitly: exactly at ±1 the gradient passes (1{|x| <= 1}), beyond it is cancelled
    at = {x: g for x, g in zip(POINTS.tolist(), grad.tolist())}
    assert at[1.0] == pytest.approx(upstream[POINTS.tolist().index(1.0)].item())
    assert at[-1.0] == pytest.approx(upstream[POINTS.tolist().index(-1.0)].item())
    assert at[1.5] == 0.0 and at[-1.5] == 0.0 and at[3.0] == 0.0 and at[-3.0] == 0.0


def test_identity_ste_passes_gradient_unchanged():
    upstream = torch.randn(len(POINTS), generator=torch.Generator().manual_seed(1))
    assert torch.equal(_ste_grad(POINTS, upstream, cancel=False), upstream)


def test_ste_backward_equals_autograd_of_hardtanh():
    """micrograd-style: STE backward == d/dx Htanh(x) wherever Htanh is differentiable.

    At exactly ±1 Htanh has a kink: PyTorch's hardtanh picks the derivative 0 there, the paper's
    indicator 1{|r| <= 1} picks 1 (checked in the test above), so those two points are left out.
    """
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(2000, generator=g) * 2, torch.tensor([-0.999, 0.999, -1.001, 1.001, 0.0])])
    x = x[(x.abs() - 1).abs() > 1e-6]
    upstream = torch.randn(len(x), generator=g)
    xr = x.clone().requires_grad_(True)
    F.hardtanh(xr).backward(upstream)
    assert torch.equal(_ste_grad(x, upstream, cancel=True), xr.grad)
    # the forward passes differ (sign vs clip), only the backward is shared
    assert not torch.equal(ste_sign(x), F.hardtanh(x))


def test_ste_works_inside_a_graph_finite_differences_of_hardtanh_surrogate():
    """The gradient reaching W through sign(W @ x) equals the gradient of the Htanh surrogate."""
    g = torch.Generator().manual_seed(3)
    w = torch.randn(5, 4, generator=g) * 0.3
    x = torch.randn(4, generator=g)
    target = torch.randn(5, generator=g)
    w1 = w.clone().requires_grad_(True)
    ((ste_sign(w1 @ x) - target) ** 2).sum().backward()
    # by hand: dL/dq = 2 (q - t); dq/dr ~ 1{|r| <= 1}; dr/dW = x
    r = w @ x
    expected = (2 * (sign(r) - target) * (r.abs() <= 1).float()).unsqueeze(1) * x.unsqueeze(0)
    assert torch.allclose(w1.grad, expected, atol=1e-6)


def test_stochastic_sign_values_and_mean():
    x = torch.tensor([-2.0, -0.6, -0.2, 0.0, 0.3, 0.8, 1.5])
    torch.manual_seed(0)
    draws = stochastic_ste_sign(x.expand(40000, -1).contiguous())
    assert set(draws.unique().tolist()) <= {-1.0, 1.0}
    expected = 2 * hard_sigmoid(x) - 1
    # std of the mean of 40k ±1 draws is at most 1/200 = 0.005
    assert torch.allclose(draws.mean(0), expected, atol=0.025)
    assert draws[:, 0].eq(-1).all() and draws[:, -1].eq(1).all()  # probability 0 and 1


def test_stochastic_sign_gradient_is_ste():
    x = POINTS.clone().requires_grad_(True)
    stochastic_ste_sign(x).sum().backward()
    assert x.grad.tolist() == [1.0 if abs(v) <= 1 else 0.0 for v in POINTS.tolist()]
    x2 = POINTS.clone().requires_grad_(True)
    stochastic_ste_sign(x2, cancel=False).sum().backward()
    assert x2.grad.tolist() == [1.0] * len(POINTS)


def test_binarize_dispatch():
    x = torch.linspace(-0.9, 0.9, 1000)
    assert torch.equal(binarize(x), sign(x))
    torch.manual_seed(1)
    assert not torch.equal(binarize(x, stochastic=True), sign(x))


def test_stochastic_model_is_deterministic_in_eval_mode():
    cfg = ModelConfig(
        layers=(LayerConfig(64), LayerConfig(64), LayerConfig(10, binarize_activations=False)), stochastic=True
    )
    torch.manual_seed(0)
    model = build_model(cfg)
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    model.train()
    with torch.no_grad():
        a, b = model(x), model(x)
    assert not torch.equal(a, b)  # stochastic while training
    model.eval()
    with torch.no_grad():
        c, d = model(x), model(x)
    assert torch.equal(c, d)
    # eval-mode hidden activations are the deterministic sign of the pre-activations
    for layer in model.trace(x)[:-1]:
        assert torch.equal(layer.post, sign(layer.pre))
