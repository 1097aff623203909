"""Optimizers and learning-rate schedules for binarized networks.

* SGD (with momentum), Adam, AdaMax update the real-valued latent weights; the binary weights
  are their signs (Courbariaux et al. 2016, arXiv:1602.02830, Algorithm 1).
* Bop (Helwegen et al. 2019, "Latent Weights Do Not Exist", arXiv:1906.02107), as in larq:
  binary weights are stored as ±1 directly; an exponential moving average of the gradient
  ``m <- (1 - gamma) m + gamma g`` is kept, and a weight flips when ``|m| > threshold`` and
  ``sign(m) == sign(w)``. Everything else (BatchNorm, biases, real-valued layers) is trained by
  Adam with the run's learning rate.
* Glorot learning-rate scaling (the paper's Theano code): each binarized layer's weights train
  with ``lr / sqrt(1.5 / (fan_in + fan_out))``.
* Schedules: constant; exponential decay from ``lr`` to ``lr_end`` over the run; cosine from
  ``lr`` to ``lr_end``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config.train_settings import TrainConfig
from .layers import binary_layers


class Bop(torch.optim.Optimizer):
    """Flip ±1 weights when the gradient's moving average is strong and points the same way."""

    def __init__(self, params, threshold: float = 1e-6, gamma: float = 1e-3) -> None:
        super().__init__(params, {"threshold": threshold, "gamma": gamma})

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if "moving_grad" not in state:
                    state["moving_grad"] = torch.zeros_like(param)
                moving = state["moving_grad"]
                moving.mul_(1 - group["gamma"]).add_(param.grad, alpha=group["gamma"])
                flip = (moving.abs() > group["threshold"]) & (torch.sign(moving) == torch.sign(param))
                param.copy_(torch.where(flip, -param, param))
        return None


class CombinedOptimizer:
    """Steps several optimizers as one (Bop for binary weights + Adam for the rest)."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]) -> None:
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict]:
        return [group for opt in self.optimizers for group in opt.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def state_dict(self) -> dict:
        return {"optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        for opt, opt_state in zip(self.optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(opt_state)


def glorot_lr_scale(fan_in: int, fan_out: int) -> float:
    return 1.0 / math.sqrt(1.5 / (fan_in + fan_out))


def make_optimizer(model: nn.Module, train: TrainConfig):
    """Optimizer with one param group per scale; every group has ``lr_scale`` for schedules."""
    binarized = [layer for layer in binary_layers(model) if layer.binarize_weights]
    binary_ids = {id(layer.weight) for layer in binarized}
    rest = [p for p in model.parameters() if id(p) not in binary_ids]

    if train.optimizer == "bop":
        with torch.no_grad():
            for layer in binarized:
                layer.weight.copy_(torch.where(layer.weight >= 0, 1.0, -1.0))
        bop = Bop([layer.weight for layer in binarized], train.bop_threshold, train.bop_gamma)
        for group in bop.param_groups:
            group["lr_scale"] = None  # Bop has no learning rate
        adam = torch.optim.Adam([{"params": rest, "lr_scale": 1.0}], lr=train.lr)
        return CombinedOptimizer([bop, adam])

    groups = [{"params": rest, "lr_scale": 1.0}]
    for layer in binarized:
        scale = glorot_lr_scale(layer.fan_in, layer.fan_out) if train.glorot_lr_scale else 1.0
        groups.append({"params": [layer.weight], "lr_scale": scale})
    if train.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=train.lr, momentum=train.momentum, foreach=True)
    if train.optimizer == "adamax":
        return torch.optim.Adamax(groups, lr=train.lr, foreach=True)
    return torch.optim.Adam(groups, lr=train.lr, fused=True)


def regrouped(optimizer: torch.optim.Optimizer, model: nn.Module, train: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer :func:`make_optimizer` makes for ``model`` now (after a layer's weights were
    binarized or made real: its group and learning-rate scale change), carrying over
    ``optimizer``'s per-parameter state (moments, momentum buffers): the same optimizer, grouped
    as one built for these settings from the start would be, so that a checkpoint of it loads
    into a run resumed with these settings."""
    fresh = make_optimizer(model, train)
    for group in fresh.param_groups:
        for param in group["params"]:
            if param in optimizer.state:
                fresh.state[param] = optimizer.state[param]
    return fresh


def scheduled_lr(train: TrainConfig, step: int, total_steps: int) -> float:
    """The base learning rate at ``step`` (0-based) of ``total_steps``."""
    progress = min(step / max(total_steps - 1, 1), 1.0)
    if train.schedule == "exponential":
        return train.lr * (train.lr_end / train.lr) ** progress
    if train.schedule == "cosine":
        return train.lr_end + (train.lr - train.lr_end) * 0.5 * (1 + math.cos(math.pi * progress))
    return train.lr


def set_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        if group.get("lr_scale") is not None:
            group["lr"] = lr * group["lr_scale"]
