"""bnn.network.optim: schedules, Glorot lr scale, optimizer groups, Bop."""

from __future__ import annotations

import math

import pytest
import torch

from bnn.config.model_settings import LayerConfig, ModelConfig
from bnn.config.train_settings import TrainConfig
from bnn.network.layers import clip_latent_weights
from bnn.network.models import build_model
from bnn.network.optim import Bop, CombinedOptimizer, glorot_lr_scale, make_optimizer, scheduled_lr, set_lr

SMALL = ModelConfig(layers=(LayerConfig(16), LayerConfig(10, binarize_activations=False)))


def test_exponential_schedule_end_points_and_middle():
    train = TrainConfig(lr=3e-3, lr_end=3e-7, schedule="exponential")
    total = 101
    assert scheduled_lr(train, 0, total) == 3e-3
    assert scheduled_lr(train, total - 1, total) == pytest.approx(3e-7, rel=1e-9)
    assert scheduled_lr(train, 50, total) == pytest.approx(math.sqrt(3e-3 * 3e-7), rel=1e-9)
    assert scheduled_lr(train, 10 * total, total) == pytest.approx(3e-7, rel=1e-9)  # clamped
    lrs = [scheduled_lr(train, s, total) for s in range(total)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    ratios = [b / a for a, b in zip(lrs, lrs[1:])]
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-9)  # constant decay factor
    assert ratios[0] == pytest.approx(1e-4 ** (1 / 100), rel=1e-9)


def test_cosine_schedule():
    train = TrainConfig(lr=1.0, lr_end=0.1, schedule="cosine")
    assert scheduled_lr(train, 0, 11) == 1.0
    assert scheduled_lr(train, 10, 11) == pytest.approx(0.1, abs=1e-12)
    assert scheduled_lr(train, 5, 11) == pytest.approx(0.55, abs=1e-12)
    assert scheduled_lr(train, 2, 11) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.2)))


def test_constant_schedule_and_single_step():
    train = TrainConfig(lr=0.01, lr_end=1e-6, schedule="constant")
    assert {scheduled_lr(train, s, 50) for s in range(50)} == {0.01}
    exp = TrainConfig(lr=0.01, lr_end=1e-4, schedule="exponential")
    assert scheduled_lr(exp, 0, 1) == 0.01  # a one-step run starts (and ends) at lr


def test_glorot_scale_value():
    assert glorot_lr_scale(784, 4096) == pytest.approx(math.sqrt((784 + 4096) / 1.5))
    assert glorot_lr_scale(784, 4096) == pytest.approx(57.0380, abs=1e-4)
    assert glorot_lr_scale(1, 0.5) == pytest.approx(1.0)


def test_param_groups_and_set_lr_with_glorot_scale():
    torch.manual_seed(0)
    model = build_model(SMALL)
    opt = make_optimizer(model, TrainConfig(optimizer="adam", lr=0.01, glorot_lr_scale=True))
    assert isinstance(opt, torch.optim.Adam)
    rest, first, output = opt.param_groups
    assert first["params"][0] is model.blocks[0].linear.weight
    assert output["params"][0] is model.blocks[1].linear.weight
    assert first["lr_scale"] == pytest.approx(glorot_lr_scale(784, 16))
    assert output["lr_scale"] == pytest.approx(glorot_lr_scale(16, 10))
    assert rest["lr_scale"] == 1.0
    set_lr(opt, 1e-3)
    assert rest["lr"] == 1e-3
    assert first["lr"] == pytest.approx(1e-3 * glorot_lr_scale(784, 16))
    # every parameter is in exactly one group
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())


def test_optimizer_kinds():
    model = build_model(SMALL)
    sgd = make_optimizer(model, TrainConfig(optimizer="sgd", lr=0.1, momentum=0.7))
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.7
    assert isinstance(make_optimizer(model, TrainConfig(optimizer="adamax")), torch.optim.Adamax)
    plain = make_optimizer(model, TrainConfig(optimizer="adam", glorot_lr_scale=False))
    assert {g["lr_scale"] for g in plain.param_groups} == {1.0}


def test_bop_flips_exactly_where_moving_average_is_strong_and_agrees():
    w = torch.tensor([1.0, 1.0, -1.0, -1.0, 1.0, -1.0, 1.0, -1.0], requires_grad=True)
    bop = Bop([w], threshold=0.5, gamma=1.0)  # gamma 1: m equals the gradient
    w.grad = torch.tensor([0.9, -0.9, -0.9, 0.9, 0.4, -0.4, 0.5, -0.6])
    bop.step()
    # flip when |m| > 0.5 and sign(m) == sign(w)
    assert w.tolist() == [-1.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0, 1.0]


def test_bop_moving_average_accumulates():
    w = torch.tensor([1.0, -1.0], requires_grad=True)
    bop = Bop([w], threshold=0.3, gamma=0.25)
    w.grad = torch.tensor([1.0, 0.2])
    bop.step()  # m = [0.25, 0.05]: no flip yet
    assert w.tolist() == [1.0, -1.0]
    assert bop.state[w]["moving_grad"].tolist() == pytest.approx([0.25, 0.05])
    bop.step()  # m = 0.75 m + 0.25 g = [0.4375, 0.0875]: first flips
    assert w.tolist() == [-1.0, -1.0]
    assert bop.state[w]["moving_grad"].tolist() == pytest.approx([0.4375, 0.0875])
    bop.step()  # m[0] = 0.578 > 0 but w[0] is now -1: signs disagree, no flip back
    assert w.tolist() == [-1.0, -1.0]


def test_bop_in_a_model_keeps_weights_pm1_and_trains_the_rest():
    torch.manual_seed(0)
    model = build_model(SMALL)
    bias_before = model.blocks[0].norm.weight.detach().clone()
    opt = make_optimizer(model, TrainConfig(optimizer="bop", lr=0.01, bop_threshold=1e-8, bop_gamma=0.1))
    assert isinstance(opt, CombinedOptimizer)
    bop, adam = opt.optimizers
    assert isinstance(bop, Bop) and isinstance(adam, torch.optim.Adam)
    binary = [b.linear.weight for b in model.blocks]
    assert all(set(w.detach().unique().tolist()) == {-1.0, 1.0} for w in binary)
    before = [w.detach().clone() for w in binary]
    x, y = torch.rand(32, 784), torch.randint(0, 10, (32,))
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        set_lr(opt, 0.01)
        opt.step()
        clip_latent_weights(model)
    for w, w0 in zip(binary, before):
        assert set(w.detach().unique().tolist()) == {-1.0, 1.0}
        assert (w != w0).any()  # something flipped
    assert not torch.equal(model.blocks[0].norm.weight, bias_before)  # Adam trains BatchNorm
    assert all(g["lr"] == 0.01 for g in adam.param_groups)
    assert all(g["lr_scale"] is None for g in bop.param_groups)
