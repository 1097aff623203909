"""Loss functions on the network's raw output scores.

* ``cross_entropy``: softmax cross-entropy (the usual choice, and the accepted answer's fix).
* ``squared_hinge``: the paper's loss, ``mean(max(0, 1 - t * y)^2)`` with targets t in {-1, +1}
  (Courbariaux et al. 2016, arXiv:1602.02830, and their Theano MNIST code).
* ``keras_ce``: Keras' ``categorical_crossentropy`` on raw outputs, as the question used it:
  ``p = y / sum(y)``, clipped to [1e-7, 1 - 1e-7], loss ``-sum(t * log p)``. On ±1 outputs the
  sum can be 0 or negative, which is why the seed run's loss goes NaN.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

KERAS_EPSILON = 1e-7


def one_hot_pm1(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return F.one_hot(labels, num_classes).to(torch.float32) * 2 - 1


def squared_hinge(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    targets = one_hot_pm1(labels, scores.shape[1]).to(scores.dtype)
    return torch.clamp(1 - targets * scores, min=0).square().mean()


def keras_categorical_crossentropy(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    targets = F.one_hot(labels, scores.shape[1]).to(scores.dtype)
    probs = scores / scores.sum(dim=1, keepdim=True)
    probs = probs.clamp(KERAS_EPSILON, 1 - KERAS_EPSILON)
    return -(targets * probs.log()).sum(dim=1).mean()


LOSS_FUNCTIONS = {
    "cross_entropy": F.cross_entropy,
    "squared_hinge": squared_hinge,
    "keras_ce": keras_categorical_crossentropy,
}


def loss_function(name: str):
    return LOSS_FUNCTIONS[name]
