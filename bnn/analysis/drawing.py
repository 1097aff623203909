"""One drawing through a binarized network: everything the Draw page shows, in one call.

:func:`read_drawing` runs MNIST's own preparation of a digit
(:func:`bnn.analysis.preprocess.preprocess_digit`), then one traced forward pass
(:meth:`bnn.network.models.BinaryNet.trace`), and returns the class probabilities (softmax of the class
scores), each hidden layer's activation pattern (±1 when the layer binarizes, as in Courbariaux et
al. 2016, arXiv:1602.02830) and the vote of every unit of the last hidden layer for the predicted
class: ``vote_j = W[c, j] * h_j`` with the weight the forward pass uses (sign(W) when binarized)
and the unit's activation ``h_j`` (flattened when that layer is a conv). The class score is ``sum_j
vote_j`` plus the bias, then BatchNorm. With ±1 weights and activations every vote is +1 or -1, so
the units that "vote most" are ranked by vote, then by how far the unit's pre-activation is from
the sign's threshold 0 (how firmly it holds its vote). :func:`trace_path` follows the strongest
voters back through the hidden layers (a TensorFlow-Playground-style view), and
:func:`ink_agreement` tells how much of a drawing matches a first-layer unit's sign(W).

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

from ..network.binarize import sign
from ..network.models import BinaryNet
from .preprocess import NOISE, SIZE, canvas_to_gray, preprocess_digit

CANVAS_SIZE = 280  # the Draw page's canvas: 10x MNIST's 28 pixels
LOW_CONFIDENCE = 0.6  # a top probability below this gets a warning
TINY = 0.2  # ink spanning less than this share of the canvas side is a dot or a speck
FLAT = 0.5  # ink less than half as tall as it is wide: unlike any digit
FULL = 0.5  # ink covering more than half of the canvas: a filled box, not a digit's strokes


@dataclass
class HiddenLayer:
    name: str
    post: torch.Tensor  # (units,) flattened activations for the drawing: ±1 when binarized
    binarized: bool
    pre: torch.Tensor | None = None  # (units,) what the sign sees; |pre| is the distance to its flip


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
    black, as the Draw page's canvas returns a drawing (bilinear upscaling)."""
    pixels = np.asarray(image28.detach().cpu() if isinstance(image28, torch.Tensor) else image28, dtype=np.float32)
    pixels = pixels.reshape(SIZE, SIZE)
    gray = Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8))
    ink = np.asarray(gray.resize((size, size), Image.BILINEAR))
    canvas = np.empty((size, size, 4), dtype=np.uint8)
    canvas[..., :3] = ink[..., None]
    canvas[..., 3] = 255
    return canvas


def preview_image(image28: torch.Tensor, size: int = CANVAS_SIZE) -> np.ndarray:
    """The model's 28x28 input as a ``size`` square uint8 image, white ink on black like the canvas,
    each input pixel a sharp square (nearest-neighbour scaling)."""
    pixels = np.round(np.clip(image28.detach().cpu().numpy().reshape(SIZE, SIZE), 0, 1) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(pixels).resize((size, size), Image.NEAREST))


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
    """Why the ink of a (non-empty) canvas may not be a digit: the canvas mostly ink, too small, or too flat."""
    ink = canvas_to_gray(image) > NOISE
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return []
    if ink.mean() > FULL:
        return [f"ink covers {ink.mean():.0%} of the canvas: a digit is a few strokes, not a filled area"]
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
    hidden = [
        HiddenLayer(t.name, t.post[0].reshape(-1).float().cpu(), t.binarized, t.pre[0].reshape(-1).float().cpu())
        for t in traces[:-1]
    ]
    if len(traces) > 1:
        margins = traces[-2].pre[0].reshape(-1).abs().float().cpu()
    else:  # no hidden layer: the "units" are the pixels the output layer reads
        margins = traces[-1].inputs[0].reshape(-1).abs().float().cpu()
    return Reading(x[0, 0], probabilities, predicted, hidden, activations, weights, votes, margins, shape_doubts(image))


def ink_agreement(image28: torch.Tensor, signs: torch.Tensor) -> tuple[float, float]:
    """How a drawing agrees with a first-layer unit's binary weights ``signs`` (784 values ±1):
    the share of the ink (pixels > 0.5) on +1 weights and the share of the paper on -1 weights.
    Both at 100% is the pattern the unit looks for (its pre-activation is then largest)."""
    ink = image28.reshape(-1) > 0.5
    plus = signs.reshape(-1) >= 0  # sign(0) = +1
    on_plus = float((plus & ink).sum() / ink.sum()) if ink.any() else 0.0
    on_minus = float((~plus & ~ink).sum() / (~ink).sum()) if (~ink).any() else 0.0
    return on_plus, on_minus


@dataclass
class PathView:
    """A few units per layer that carry the drawing to the prediction, and binary links between them."""

    layers: list[tuple[str, list[int], list[float]]]  # (layer name, unit indices, their outputs)
    links: list[tuple[int, int, int, int, float]]  # (layer, position, next layer, position, w * h: +1 or -1)


def trace_path(model: BinaryNet, reading: Reading, per_layer: int = 8, per_unit: int = 3) -> PathView | None:
    """From the prediction back to the first hidden layer: in the last hidden layer the ``per_layer``
    units voting most for the predicted class; in each layer before, the units whose binary links
    ``w * h`` most often agree with the sign of the chosen units above (largest |pre| first).
    Links: each chosen unit's ``per_unit`` inputs among the chosen units below whose ``w * h`` agrees
    with its sign (firmest first), and every chosen last-layer unit's link into the predicted class.
    None for networks with a conv layer (units are not vectors)."""
    if not reading.hidden or any(block.config.kind != "dense" for block in model.blocks):
        return None
    weights = [block.linear.forward_weight().detach().float().cpu() for block in model.blocks]
    chosen = [[unit for unit, *_ in reading.top_units(per_layer)]]
    for depth in range(len(reading.hidden) - 1, 0, -1):
        below, above = reading.hidden[depth - 1], reading.hidden[depth]
        w = weights[depth][chosen[0]]  # (chosen above, units below)
        agree = (w * below.post[None, :] * torch.sign(above.post[chosen[0]])[:, None] > 0).float().sum(0)
        margin = below.pre.abs() if below.pre is not None else torch.zeros_like(agree)
        order = np.lexsort((-margin.numpy(), -agree.numpy()))[:per_layer]
        chosen.insert(0, [int(j) for j in order])
    layers = [
        (layer.name, units, [float(layer.post[u]) for u in units]) for layer, units in zip(reading.hidden, chosen)
    ]
    classes = list(range(len(reading.probabilities)))
    layers.append((model.blocks[-1].name, classes, [float(p) for p in reading.probabilities]))
    links = []
    for depth in range(1, len(layers)):
        below = reading.hidden[depth - 1]
        margin = below.pre.abs() if below.pre is not None else torch.zeros_like(below.post)
        output = depth == len(layers) - 1
        for k in [reading.predicted] if output else layers[depth][1]:
            state = 1.0 if output else float(torch.sign(reading.hidden[depth].post[k])) or 1.0
            candidates = [
                (float(weights[depth][k, j] * below.post[j]), float(margin[j]), p)
                for p, j in enumerate(layers[depth - 1][1])
            ]
            candidates.sort(key=lambda c: (-c[0] * state, -c[1]))  # agreeing with the unit's sign, firmest first
            for value, _, p in candidates[: len(candidates) if output else per_unit]:
                links.append((depth - 1, p, depth, layers[depth][1].index(k), value))
    return PathView(layers, links)
