"""One drawing through a binarized network: everything the Draw page shows, in one call.

:func:`read_drawing` runs MNIST's own preparation of a digit
(:func:`bnn.preprocess.preprocess_digit`), then one traced forward pass
(:meth:`bnn.models.BinaryNet.trace`), and returns the class probabilities (softmax of the class
scores), each hidden layer's activation pattern (±1 when the layer binarizes, as in Courbariaux et
al. 2016, arXiv:1602.02830) and the vote of every unit of the last hidden layer for the predicted
class: ``vote_j = W[c, j] * h_j`` with the weight the forward pass uses (sign(W) when binarized)
and the unit's activation ``h_j`` (flattened when that layer is a conv). The class score is ``sum_j
vote_j`` plus the bias, then BatchNorm. With ±1 weights and activations every vote is +1 or -1, so
the units that "vote most" are ranked by vote, then by how far the unit's pre-activation is from
the sign's threshold 0 (how firmly it holds its vote).

A network always answers, even for a stray dot or line, often with a high softmax probability, so a
reading also lists *doubts* from the shape of the ink: a drawing much smaller than the canvas (a
dot, a speck), or much wider than tall (no digit is), besides a top probability below
:data:`LOW_CONFIDENCE`.

Reading one drawing must be quick (the budget is 20 ms at p95 on a laptop CPU), and a training
model re-binarizes its latent weights on every forward pass: a million ``sign`` calls per layer.
:func:`deployment_copy` does what a deployed BNN does instead: it stores ``sign(W)`` once and drops
the latent weights, with the very same outputs. ``benchmarks/draw_latency.py`` times
:func:`read_drawing` on such a copy, exactly as the Draw page runs it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .binarize import sign
from .models import BinaryNet
from .preprocess import NOISE, SIZE, canvas_to_gray, preprocess_digit

CANVAS_SIZE = 280  # the Draw page's canvas: 10x MNIST's 28 pixels
LOW_CONFIDENCE = 0.6  # a top probability below this gets a warning
TINY = 0.2  # ink spanning less than this share of the canvas side is a dot or a speck
FLAT = 0.5  # ink less than half as tall as it is wide: unlike any digit


@dataclass
class HiddenLayer:
    name: str
    post: torch.Tensor  # (units,) flattened activations for the drawing: ±1 when binarized
    binarized: bool


@dataclass
class Reading:
    image28: torch.Tensor  # (28, 28) float32 in [0, 1]: what the model saw
    probabilities: torch.Tensor  # (classes,) softmax of the class scores
    predicted: int
    hidden: list[HiddenLayer]  # every layer but the output, input to output order
    activations: torch.Tensor  # (units,) what the output layer reads: the last hidden layer's output
    weights: torch.Tensor  # (units,) output weights to ``predicted`` as the forward pass uses them
    votes: torch.Tensor  # (units,) weights * activations: each unit's vote for ``predicted``
    margins: torch.Tensor  # (units,) |pre-activation| of those units: distance to the sign's flip
    shape_doubts: list[str]  # why the drawing may not be a digit, from the shape of its ink

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.predicted])

    @property
    def doubts(self) -> list[str]:
        """Reasons not to trust the prediction (empty when there are none)."""
        low = [f"the top probability is only {self.confidence:.0%}"] if self.confidence < LOW_CONFIDENCE else []
        return low + self.shape_doubts

    @property
    def low_confidence(self) -> bool:
        return bool(self.doubts)

    def top_units(self, k: int = 10) -> list[tuple[int, float, float, float, float]]:
        """``(unit, activation, weight, vote, margin)`` of the ``k`` units voting most for the
        predicted class: largest vote first, ties broken by the larger margin."""
        order = np.lexsort((-self.margins.numpy(), -self.votes.numpy()))[: max(0, k)]
        return [
            (int(j), float(self.activations[j]), float(self.weights[j]), float(self.votes[j]), float(self.margins[j]))
            for j in order
        ]


def digit_to_canvas(image28: torch.Tensor | np.ndarray, size: int = CANVAS_SIZE) -> np.ndarray:
    """An MNIST digit (28x28 in [0, 1]) drawn on a ``size`` square RGBA canvas, white on opaque
    black, as streamlit-drawable-canvas returns a drawing (bilinear upscaling)."""
    pixels = np.asarray(image28.detach().cpu() if isinstance(image28, torch.Tensor) else image28, dtype=np.float32)
    pixels = pixels.reshape(SIZE, SIZE)
    gray = Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8))
    ink = np.asarray(gray.resize((size, size), Image.BILINEAR))
    canvas = np.empty((size, size, 4), dtype=np.uint8)
    canvas[..., :3] = ink[..., None]
    canvas[..., 3] = 255
    return canvas


@torch.no_grad()
def deployment_copy(model: BinaryNet) -> BinaryNet:
    """An eval-mode copy of ``model`` on the CPU whose weight-binarized layers hold ``sign(W)``
    as plain weights (no per-call binarization); its outputs equal the model's."""
    frozen = copy.deepcopy(model).cpu().eval()
    for linear in frozen.linear_layers():
        if linear.binarize_weights:
            linear.weight.copy_(sign(linear.weight))
            linear.binarize_weights = False
    return frozen.requires_grad_(False)


def shape_doubts(image: np.ndarray) -> list[str]:
    """Why the ink of a (non-empty) canvas may not be a digit: too small, or too flat."""
    ink = canvas_to_gray(image) > NOISE
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return []
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    if max(height, width) < TINY * max(ink.shape):
        return ["the drawing is tiny (a dot or a speck) and was scaled up a lot"]
    if height < FLAT * width:
        return ["the drawing is much wider than it is tall, unlike any digit"]
    return []


@torch.no_grad()
def read_drawing(model: BinaryNet, image: np.ndarray | None) -> Reading | None:
    """Preprocess ``image`` (a canvas: gray, RGB or RGBA) and run it through ``model``.

    Returns None when the canvas is empty or nearly so (see :func:`preprocess_digit`). The model
    runs in eval mode; its train/eval mode is restored afterwards.
    """
    x = preprocess_digit(image)
    if x is None:
        return None
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        traces = model.trace(x.to(device))
    finally:
        model.train(was_training)
    scores = traces[-1].post[0].float().cpu()
    predicted = int(scores.argmax())  # ties go to the lowest class, as BinaryNet.predict
    probabilities = torch.softmax(scores, dim=0)
    activations = traces[-1].inputs[0].reshape(-1).float().cpu()
    weights = model.blocks[-1].linear.forward_weight().detach()[predicted].reshape(-1).float().cpu()
    votes = weights * activations
    hidden = [HiddenLayer(t.name, t.post[0].reshape(-1).float().cpu(), t.binarized) for t in traces[:-1]]
    if len(traces) > 1:
        margins = traces[-2].pre[0].reshape(-1).abs().float().cpu()
    else:  # no hidden layer: the "units" are the pixels the output layer reads
        margins = traces[-1].inputs[0].reshape(-1).abs().float().cpu()
    return Reading(x[0, 0], probabilities, predicted, hidden, activations, weights, votes, margins, shape_doubts(image))
