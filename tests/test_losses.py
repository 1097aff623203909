"""bnn.network.losses: squared hinge and Keras' cross-entropy on raw outputs, by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from bnn.network.losses import (
    KERAS_EPSILON,
    LOSS_FUNCTIONS,
    keras_categorical_crossentropy,
    loss_function,
    one_hot_pm1,
    squared_hinge,
)


def test_one_hot_pm1():
    assert one_hot_pm1(torch.tensor([2, 0]), 3).tolist() == [[-1, -1, 1], [1, -1, -1]]


def test_squared_hinge_hand_computed():
    scores = torch.tensor([[0.5, -2.0, 1.5], [-0.2, 0.3, 1.0]])
    labels = torch.tensor([0, 2])
    # row 1, t = [1, -1, -1]: max(0, 1 - t*y) = [0.5, 0, 2.5] -> [0.25, 0, 6.25]
    # row 2, t = [-1, -1, 1]: [0.8, 1.3, 0] -> [0.64, 1.69, 0]; mean over all 6 entries
    expected = (0.25 + 0 + 6.25 + 0.64 + 1.69 + 0) / 6
    assert squared_hinge(scores, labels).item() == pytest.approx(expected, rel=1e-6)


def test_squared_hinge_zero_when_margins_met_and_gradient():
    labels = torch.tensor([1])
    assert squared_hinge(torch.tensor([[-1.0, 1.0, -3.0]]), labels).item() == 0.0
    y = torch.tensor([[0.0, 0.0, 0.0]], requires_grad=True)
    squared_hinge(y, labels).backward()
    # d/dy mean((1 - t y)^2) = -2 t (1 - t y) / 3 = -2 t / 3 at y = 0
    assert y.grad[0].tolist() == pytest.approx([2 / 3, -2 / 3, 2 / 3])


def test_keras_ce_hand_computed():
    scores = torch.tensor([[1.0, 2.0, 1.0]])
    assert keras_categorical_crossentropy(scores, torch.tensor([1])).item() == pytest.approx(math.log(2), rel=1e-6)
    # p = y / sum(y) = [1, -0.5, 0.5] is clipped to [1 - 1e-7, 1e-7, 0.5]
    scores = torch.tensor([[2.0, -1.0, 1.0]])
    assert keras_categorical_crossentropy(scores, torch.tensor([1])).item() == pytest.approx(
        -math.log(KERAS_EPSILON), rel=1e-5
    )
    assert keras_categorical_crossentropy(scores, torch.tensor([2])).item() == pytest.approx(math.log(2), rel=1e-6)
    both = keras_categorical_crossentropy(torch.tensor([[1.0, 2.0, 1.0], [2.0, -1.0, 1.0]]), torch.tensor([1, 2]))
    assert both.item() == pytest.approx(math.log(2), rel=1e-6)  # mean over the batch


def test_keras_ce_on_pm1_outputs_summing_to_zero_has_nan_gradient():
    """The seed's failure: ±1 outputs can sum to 0; y / sum(y) divides by zero."""
    y = torch.tensor([[1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0]], requires_grad=True)
    loss = keras_categorical_crossentropy(y, torch.tensor([0]))
    loss.backward()
    assert torch.isnan(y.grad).all()
    # the same outputs with a nonzero sum have a finite gradient
    z = torch.tensor([[1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, 1.0]], requires_grad=True)
    keras_categorical_crossentropy(z, torch.tensor([0])).backward()
    assert torch.isfinite(z.grad).all()


def test_keras_ce_nan_in_one_sample_poisons_the_batch_gradient():
    y = torch.tensor([[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, 1.0, -1.0]], requires_grad=True)
    keras_categorical_crossentropy(y, torch.tensor([0, 0])).backward()
    assert torch.isnan(y.grad[0]).all() and torch.isfinite(y.grad[1]).all()
    w = torch.ones(4, requires_grad=True)  # a shared parameter sees the NaN
    keras_categorical_crossentropy(y.detach() * w, torch.tensor([0, 0])).backward()
    assert torch.isnan(w.grad).any()


def test_loss_function_lookup():
    assert set(LOSS_FUNCTIONS) == {"cross_entropy", "squared_hinge", "keras_ce"}
    assert loss_function("cross_entropy") is F.cross_entropy
    scores = torch.tensor([[0.0, math.log(3.0)]])
    assert loss_function("cross_entropy")(scores, torch.tensor([1])).item() == pytest.approx(-math.log(0.75))
    with pytest.raises(KeyError):
        loss_function("mse")
