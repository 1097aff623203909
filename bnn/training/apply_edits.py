"""Live edits applied to a training run between two optimizer steps (:meth:`bnn.training.loop.Trainer.request_edit`
queues them): the settings changed, the model's switches flipped, the optimizer rebuilt or regrouped
where the edit needs it. The rules and the words: :mod:`bnn.training.live_edits`."""

from __future__ import annotations

import torch

from ..config.schema import RunConfig
from ..network.models import BinaryNet
from ..network.optim import make_optimizer, regrouped
from .live_edits import edited_config


def apply_edits(
    model: BinaryNet,
    optimizer: torch.optim.Optimizer,
    config: RunConfig,
    requests: list[tuple[str, int | None, object]],
    step: int,
) -> tuple[RunConfig, torch.optim.Optimizer, list[dict]]:
    """Apply the edit ``requests`` ((setting, layer index or None, value), in order) at ``step``:
    the settings with them, the optimizer to train with from now on (a fresh one when the optimizer
    changed, or a Bop run's binary weights did; the old one regrouped when a layer's weights moved
    between learning-rate groups), and each edit that changed something, as
    :attr:`bnn.training.loop.Trainer.edits` keeps them."""
    rebuild_optimizer = regroup = False
    applied = []
    for setting, layer, value in requests:
        before = config
        config = edited_config(before, setting, layer, value)
        if layer is None:
            old, new = getattr(before.train, setting), getattr(config.train, setting)
            rebuild_optimizer |= setting == "optimizer" and old != new
        else:
            old, new = getattr(before.model.layers[layer], setting), bool(value)
            block = model.blocks[layer]
            if setting == "binarize_weights":
                block.linear.binarize_weights = new
                rebuild_optimizer |= config.train.optimizer == "bop"  # Bop owns the binary weights
                regroup |= old != new  # the layer's weights change learning-rate group
            else:
                block.activation.binarized = new
        if old != new:
            name = model.blocks[layer].name if layer is not None else None
            applied.append({"step": step, "setting": setting, "layer": name, "old": old, "new": new})
    if rebuild_optimizer:  # a fresh optimizer state: moments of another optimizer do not carry over
        optimizer = make_optimizer(model, config.train)
    elif regroup:
        optimizer = regrouped(optimizer, model, config.train)
    return config, optimizer, applied
