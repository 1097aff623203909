"""The initialization probe: the configured network, freshly initialized, measured on one batch
of training images, for what a run's own records cannot show.

A :class:`Probe` holds the pre-activation scales, the share of them outside the straight-through
window ``|x| <= 1`` where the hard-tanh STE cancels the gradient (Courbariaux et al. 2016,
arXiv:1602.02830, eq. 4), how often the output scores tie or sum to zero (binarized outputs:
argmax returns the first tied class, Keras' cross-entropy divides by zero), and the size of one
optimizer step against the size of a weight. :func:`bnn.analysis.diagnosis.diagnose` quotes these numbers
as evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config.schema import RunConfig
from ..network.losses import loss_function
from ..network.models import build_model


@dataclass(frozen=True)
class Probe:
    """The configured network at initialization, measured on one batch of training images."""

    saturation: dict[str, float]  # binarized-activation layer -> share of |pre-activation| > 1
    pre_std: dict[str, float]  # layer -> std of its pre-activations
    output_tie_share: float  # share of images whose top output score is shared by 2+ classes
    output_zero_sum_share: float  # share of images whose output scores sum to 0
    weight_scale: dict[str, float]  # layer -> mean |latent weight|
    step_size: dict[str, float]  # layer -> typical |change| of a weight in one optimizer step
    gradient_loss: str  # loss used for the gradient (the configured one unless it was NaN)


def _tie_share(scores: torch.Tensor) -> float:
    top = scores.max(dim=1, keepdim=True).values
    return float(((scores == top).sum(dim=1) > 1).float().mean())


def probe(config: RunConfig, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256) -> Probe:
    """Measure ``config``'s freshly initialized network on the first ``batch_size`` images.

    Uses the run's seed inside a forked RNG, so training threads' random state is untouched.
    """
    x, y = images[:batch_size].float().cpu(), labels[:batch_size].cpu()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.train.seed)
        model = build_model(config.model, "cpu").train()
        with torch.no_grad():
            traces = model.trace(x)
        saturation = {t.name: float((t.pre.abs() > 1).float().mean()) for t in traces if t.binarized}
        pre_std = {t.name: float(t.pre.float().std()) for t in traces}
        scores = traces[-1].post
        gradient_loss = config.train.loss
        for loss_name in (config.train.loss, "cross_entropy"):
            model.zero_grad(set_to_none=True)
            loss = loss_function(loss_name)(model(x), y)
            loss.backward()
            grads = {b.name: b.linear.weight.grad for b in model.blocks}
            finite = all(g is not None and bool(torch.isfinite(g).all()) for g in grads.values())
            if finite and math.isfinite(float(loss.detach())):
                gradient_loss = loss_name
                break
    train = config.train
    weight_scale, step_size = {}, {}
    for block in model.blocks:
        name = block.name
        weight_scale[name] = float(block.linear.weight.detach().abs().mean())
        grad = grads.get(name)
        grad_scale = float(grad.abs().mean()) if grad is not None and bool(torch.isfinite(grad).all()) else 0.0
        if train.optimizer == "sgd":
            step_size[name] = train.lr * grad_scale / max(1.0 - train.momentum, 1e-3)
        elif train.optimizer in ("adam", "adamax"):
            step_size[name] = train.lr  # Adam's step is about lr per weight, whatever the gradient
        else:  # Bop flips binary weights directly: no step size to speak of
            step_size[name] = float("nan")
    return Probe(
        saturation=saturation,
        pre_std=pre_std,
        output_tie_share=_tie_share(scores),
        output_zero_sum_share=float((scores.sum(dim=1) == 0).float().mean()),
        weight_scale=weight_scale,
        step_size=step_size,
        gradient_loss=gradient_loss,
    )
