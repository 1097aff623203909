"""Evaluating a network: accuracy, mean loss and the predicted classes' histogram over a set of
images (:func:`evaluate`; :func:`evaluation_totals` and :func:`eval_result` for a set split over
processes), and BatchNorm's statistics recomputed over the training images
(:func:`recalibrate_batch_norm`)."""

from __future__ import annotations

from dataclasses import asdict, make_dataclass

import torch

from ..network.losses import loss_function
from ..network.models import BinaryNet
from ..network.summary import evaluation_batch_size
from .metrics import EvalRecord


def recalibrate_batch_norm(model: BinaryNet, images: torch.Tensor, batch_size: int) -> None:
    """Recompute every BatchNorm layer's running mean and variance as their average over
    ``images`` in batches of ``batch_size`` (in training mode, the model's final weights),
    replacing the running averages of training.

    During training they are moving averages over the last batches, which lag behind the weights
    (a binarized weight that flips moves its unit's statistics at once) and come from the shifted
    images when the run augments, not from images like the test set's. The same recomputation
    finishes SWA (Izmailov et al. 2018), and PyTorch's ``update_bn`` does it. In a process group
    every rank passes the same images through its synchronized BatchNorm, so all ranks agree.

    :class:`bnn.training.loop.Trainer` passes the run's training batch size: in training mode
    every BatchNorm normalizes with its batch's statistics, so a deeper layer's input depends on
    the batch size, and the training one gives it the statistics it had in training. It is also
    the fast one: `best`'s final weights (seeds 0 and 1) took 14.4-15.0 s at batch 1000 (7.0 M
    minor page faults, see :func:`bnn.network.summary.evaluation_batch_size`) and 5.1-5.2 s at its batch of 100
    (none), 2 threads; test accuracy 99.22% -> 99.24% (seed 0), 99.28% both ways (seed 1)."""
    torch.optim.swa_utils.update_bn(images.split(batch_size), model)


def _record(self, step: int, epoch: float) -> EvalRecord:
    """The :class:`EvalRecord` of this evaluation made at ``step`` / ``epoch``."""
    return {"step": step, "epoch": epoch, **asdict(self)}  # type: ignore[typeddict-item]


# One evaluation's numbers: the fields of an EvalRecord (their one definition) but the step and
# the epoch it is recorded at, which .record(step, epoch) adds.
EvalResult = make_dataclass(
    "EvalResult",
    [(name, kind) for name, kind in EvalRecord.__annotations__.items() if name not in ("step", "epoch")],
    namespace={"record": _record, "__module__": __name__},
)


def evaluate(
    model: BinaryNet,
    images: torch.Tensor,
    labels: torch.Tensor,
    loss_name: str,
    batch_size: int | None = None,
    split: str = "test",
) -> EvalResult:
    """Accuracy, mean loss and predicted-class histogram of ``model`` in eval mode, in batches
    of ``batch_size`` images (default: :func:`bnn.network.summary.evaluation_batch_size`)."""
    if batch_size is None:
        batch_size = evaluation_batch_size(model.config)
    totals = evaluation_totals(model, images, labels, loss_name, batch_size)
    return eval_result(split, totals.tolist())


@torch.no_grad()
def evaluation_totals(
    model: BinaryNet, images: torch.Tensor, labels: torch.Tensor, loss_name: str, batch_size: int
) -> torch.Tensor:
    """``[correct, loss sum, count, histogram...]`` on the labels' device (float64 where it exists).

    Without gradients: the trainer evaluates a model whose weights require them, and the loss
    sum would otherwise hold every batch's graph, its activations included, to the end (`best`
    on the 10,000 test images: 4-8 GB more at its peak, and the memory the heap kept after
    such evaluations grew the training process to 24 GB)."""
    was_training = model.training
    model.eval()
    num_classes = model.config.num_classes
    loss_fn = loss_function(loss_name)
    dtype = torch.float32 if labels.device.type == "mps" else torch.float64
    totals = torch.zeros(3 + num_classes, dtype=dtype, device=labels.device)
    try:
        for start in range(0, len(labels), batch_size):
            x, y = images[start : start + batch_size], labels[start : start + batch_size]
            scores = model(x)
            predictions = scores.argmax(dim=1)
            totals[0] += (predictions == y).sum()
            totals[1] += loss_fn(scores, y).to(dtype) * len(y)
            totals[3:] += torch.bincount(predictions, minlength=num_classes)
    finally:
        model.train(was_training)
    totals[2] = len(labels)
    return totals


def eval_result(split: str, totals: list[float]) -> EvalResult:
    correct, loss_sum, count = totals[:3]
    count = max(round(count), 1)
    histogram = [round(v) for v in totals[3:]]
    return EvalResult(
        split=split,
        accuracy=100.0 * round(correct) / count,
        loss=loss_sum / count,
        prediction_histogram=histogram,
        count=round(totals[2]),
    )
