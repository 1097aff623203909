"""Pure-torch helpers for inspecting a trained BinaryNet (the Inspect page's numbers).

Everything here runs the model in eval mode under ``torch.no_grad()`` (the model's train/eval
mode is restored afterwards) and returns CPU tensors and plain Python numbers; nothing imports
Streamlit or Plotly.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..network.binarize import sign
from ..network.models import BinaryNet
from ..network.summary import evaluation_batch_size

DEFAULT_SAMPLE = 20_000  # values kept per layer for histograms


def _device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


class _EvalMode:
    """Context manager: eval mode + no_grad, the previous train/eval mode restored on exit."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.no_grad = torch.no_grad()

    def __enter__(self) -> None:
        self.was_training = self.model.training
        self.model.eval()
        self.no_grad.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.no_grad.__exit__(*exc)
        self.model.train(self.was_training)


def _sample(values: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """``k`` values of the flattened ``values`` drawn without replacement (all if fewer)."""
    flat = values.detach().reshape(-1).float().cpu()
    if flat.numel() <= k:
        return flat
    return flat[torch.randperm(flat.numel(), generator=generator)[:k]]


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """``(num_classes, num_classes)`` int64 counts; row = true class, column = predicted class."""
    preds = torch.as_tensor(preds).reshape(-1).long().cpu()
    labels = torch.as_tensor(labels).reshape(-1).long().cpu()
    if preds.shape != labels.shape:
        raise ValueError(f"{preds.numel()} predictions for {labels.numel()} labels")
    index = labels * num_classes + preds
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def evaluate_predictions(
    model: BinaryNet,
    images: torch.Tensor,
    labels: torch.Tensor | None = None,
    batch_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes ``(N,)`` int64 and class scores ``(N, classes)`` float, on the CPU.

    Eval mode, no grad, in batches on the model's device (of ``batch_size`` images; default
    :func:`bnn.network.summary.evaluation_batch_size`). Ties among the scores (binarized
    outputs) go to the lowest class, as ``argmax`` and :meth:`BinaryNet.predict` do.
    ``labels`` is only checked for length (and may be None).
    """
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(images)} images for {len(labels)} labels")
    device = _device(model)
    if batch_size is None:
        batch_size = evaluation_batch_size(model.config)
    scores = []
    with _EvalMode(model):
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size].to(device)
            scores.append(model(batch).float().cpu())
    if not scores:
        return torch.empty(0, dtype=torch.long), torch.empty(0, model.config.num_classes)
    all_scores = torch.cat(scores)
    return all_scores.argmax(dim=1), all_scores


def misclassified(preds: torch.Tensor, labels: torch.Tensor, limit: int | None = None) -> torch.Tensor:
    """Indices (int64, ascending) of the first ``limit`` wrong predictions (all if None)."""
    preds = torch.as_tensor(preds).reshape(-1).cpu()
    labels = torch.as_tensor(labels).reshape(-1).cpu()
    wrong = torch.nonzero(preds != labels).reshape(-1)
    return wrong if limit is None else wrong[: max(0, int(limit))]


def _new_tally(layer) -> dict[str, Any]:
    """What :func:`activation_stats` counts of one layer, before its first batch."""
    return {
        "name": layer.name,
        "binarized": layer.binarized,
        "plus": 0,
        "saturated": 0,
        "n": 0,
        "unit_plus": None,
        "unit_n": 0,
        "samples": [],
    }


def _tally(entry: dict[str, Any], layer, sample: torch.Tensor) -> None:
    """Add one batch's activations of ``layer`` (a traced layer: pre, post) to its counts."""
    pre, post = layer.pre, layer.post
    entry["n"] += pre.numel()
    entry["saturated"] += int((pre.abs() > 1).sum())
    entry["samples"].append(sample)
    if layer.binarized:
        is_plus = post == 1
        entry["plus"] += int(is_plus.sum())
        # per unit: dense (N, units); conv (N, C, H, W) -> per channel
        dims = [0] + list(range(2, is_plus.dim()))
        unit_plus = is_plus.sum(dim=dims).double().cpu()
        entry["unit_plus"] = unit_plus if entry["unit_plus"] is None else entry["unit_plus"] + unit_plus
        entry["unit_n"] += is_plus.numel() // is_plus.shape[1]


def _layer_stats(entry: dict[str, Any], sample_size: int, generator: torch.Generator) -> dict[str, Any]:
    """One layer's statistics (see :func:`activation_stats`) from its counts."""
    sample = torch.cat(entry["samples"]) if entry["samples"] else torch.empty(0)
    if sample.numel() > sample_size:
        sample = sample[torch.randperm(sample.numel(), generator=generator)[:sample_size]]
    n = entry["n"]
    return {
        "name": entry["name"],
        "binarized": entry["binarized"],
        "share_plus_one": entry["plus"] / n if entry["binarized"] and n else None,
        "unit_share_plus_one": (entry["unit_plus"] / entry["unit_n"]).float()
        if entry["binarized"] and entry["unit_n"]
        else None,
        "saturated_share": entry["saturated"] / n if n else 0.0,
        "pre_sample": sample,
        "n_values": n,
    }


def activation_stats(
    model: BinaryNet,
    images: torch.Tensor,
    *,
    sample_size: int = DEFAULT_SAMPLE,
    batch_size: int = 1000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Per layer, over ``images`` (eval mode), a dict with:

    * ``name``, ``binarized`` (the layer's output goes through sign),
    * ``share_plus_one``: share of the post-activations equal to +1 (None if not binarized),
    * ``unit_share_plus_one``: that share per unit / channel, shape ``(units,)`` (None if not
      binarized); units stuck at 0.0 or 1.0 carry no information,
    * ``saturated_share``: share of pre-activations with ``|pre| > 1``, outside the STE window,
      where the straight-through gradient is cancelled,
    * ``pre_sample``: at most ``sample_size`` pre-activation values (flattened, float32, CPU,
      drawn at random with ``seed``) for a histogram,
    * ``n_values``: how many pre-activation values the shares are over.

    The images go through in batches so that wide models do not hold every layer's activations
    for the whole set at once.
    """
    n_images = len(images)
    device = _device(model)
    generator = torch.Generator().manual_seed(seed)
    per_batch = max(1, math.ceil(sample_size * min(batch_size, max(n_images, 1)) / max(n_images, 1)))
    acc: list[dict[str, Any]] = []
    with _EvalMode(model):
        for start in range(0, n_images, batch_size):
            batch = images[start : start + batch_size].to(device)
            for index, layer in enumerate(model.trace(batch)):
                if index == len(acc):
                    acc.append(_new_tally(layer))
                _tally(acc[index], layer, _sample(layer.pre, per_batch, generator))
    return [_layer_stats(entry, sample_size, generator) for entry in acc]


def weight_stats(model: BinaryNet, *, sample_size: int = DEFAULT_SAMPLE, seed: int = 0) -> list[dict[str, Any]]:
    """Per layer, a dict with:

    * ``name``, ``binarized`` (the forward pass uses sign(W)), ``n`` (number of weights),
    * ``share_plus_one``: share of +1 among sign(latent) (sign(0) = +1), i.e. among the binary
      weights for a binarized layer,
    * ``clipped_share``: share with ``|latent| >= 0.999``, pinned at the clip bound,
    * ``near_flip_share``: share with ``|latent| < 0.05``, one small update from flipping,
    * ``mean_abs``: mean ``|latent|``,
    * ``latent_sample``: at most ``sample_size`` latent values (float32, CPU) for a histogram.
    """
    generator = torch.Generator().manual_seed(seed)
    stats = []
    binarized = {block.name: bool(block.linear.binarize_weights) for block in model.blocks}
    for name, latent in model.latent_weights().items():
        w = latent.detach().float()
        n = w.numel()
        magnitude = w.abs()
        stats.append(
            {
                "name": name,
                "binarized": binarized[name],
                "n": n,
                "share_plus_one": float((sign(w) == 1).float().mean()) if n else 0.0,
                "clipped_share": float((magnitude >= 0.999).float().mean()) if n else 0.0,
                "near_flip_share": float((magnitude < 0.05).float().mean()) if n else 0.0,
                "mean_abs": float(magnitude.mean()) if n else 0.0,
                "latent_sample": _sample(w, sample_size, generator),
            }
        )
    return stats


def unit_class_profiles(
    model: BinaryNet, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 500
) -> list[torch.Tensor]:
    """Per hidden layer, ``(units, classes)``: each unit's mean output over the images of each class
    (the share of +1 minus the share of -1 for a binarized layer). Units are flattened (a conv
    layer's channel x position). A class with no image gets the unit's overall mean."""
    labels = torch.as_tensor(labels).reshape(-1).long().cpu()
    num_classes = model.config.num_classes
    counts = torch.bincount(labels, minlength=num_classes).double()
    sums: list[torch.Tensor] = []
    device = _device(model)
    with _EvalMode(model):
        for start in range(0, len(images), batch_size):
            batch_labels = labels[start : start + batch_size]
            one_hot = torch.nn.functional.one_hot(batch_labels, num_classes).double()  # (N, classes)
            traces = model.trace(images[start : start + batch_size].to(device))[:-1]
            for index, layer in enumerate(traces):
                per_class = layer.post.flatten(1).double().cpu().T @ one_hot  # (units, classes)
                if index == len(sums):
                    sums.append(per_class)
                else:
                    sums[index] += per_class
    profiles = []
    for total in sums:
        overall = total.sum(1, keepdim=True) / max(float(counts.sum()), 1.0)
        mean = torch.where(counts[None, :] > 0, total / counts.clamp(min=1)[None, :], overall)
        profiles.append(mean.float())
    return profiles


def unit_order(profile: torch.Tensor, min_lift: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """A stable, meaningful order of a layer's units from their class profile
    (:func:`unit_class_profiles`): grouped by the class each unit favours most (its output for that
    class minus its mean over the classes), most selective first within a group. Returns the
    order (unit indices) and each unit's favoured class, -1 for units that favour none by at
    least ``min_lift`` (they come last)."""
    lift = profile - profile.mean(dim=1, keepdim=True)
    strength, favoured = lift.max(dim=1)
    favoured = torch.where(strength >= min_lift, favoured, torch.full_like(favoured, -1))
    group = torch.where(favoured < 0, torch.full_like(favoured, profile.shape[1]), favoured)
    order = sorted(range(len(group)), key=lambda u: (int(group[u]), -float(strength[u]), u))
    return torch.tensor(order, dtype=torch.long), favoured
