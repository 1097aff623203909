"""A :class:`bnn.training.loop.Trainer` in one call: :func:`train` trains a run to the end (tests,
benchmarks, studies' references); :func:`warm_up` takes one step and throws it away, so that a server's
first run does not pay torch's one-time costs."""

from __future__ import annotations

import torch

from ..config.schema import RunConfig
from .data import MnistData
from .loop import Trainer


def train(config: RunConfig, data: MnistData, device: torch.device | str | None = None, **options) -> Trainer:
    """Train ``config`` to the end on ``data`` and return the trainer (model, records, summary);
    ``options`` go to :class:`Trainer`."""
    trainer = Trainer(config, data, device, **options)
    for _ in trainer.steps():
        pass
    return trainer


def warm_up(config: RunConfig, device: torch.device | str = "cpu", data: MnistData | None = None) -> Trainer:
    """One optimizer step of ``config``'s network, thrown away; the trainer after it, with that
    step recorded.

    The first training step of a process pays torch's one-time costs (kernels chosen and
    generated for each shape, thread pools started): 0.5-0.8 s here for `fast`, against 0.04 s
    for a step after it. A server calls this in the background when it starts, so that the
    first Start does not wait for them. On ``data`` (the MNIST a run will train on) the trainer
    is that of a run of ``config`` (its step count, its first record); else the step is taken on
    one batch of random images."""
    if data is None:
        batch = config.train.batch_size
        images = torch.rand(batch, *config.model.image_shape)
        labels = torch.randint(0, config.model.num_classes, (batch,))
        data = MnistData(images, labels, images[:1], labels[:1])
        config = config.replace_train(epochs=1, train_subset=0)
    trainer = Trainer(config, data, device, record_every=1, train_eval="never")
    next(trainer.steps())
    return trainer
