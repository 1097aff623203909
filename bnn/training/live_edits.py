"""Live edits: the settings a running trainer accepts, a setting changed in a run's settings,
and an edit in words. Plain Python (no PyTorch): the run folders, the charts and the pages read
these rules without the training loop (bnn.training.loop applies them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..config.schema import RunConfig

LIVE_TRAIN_SETTINGS = ("lr", "optimizer")  # settings a running trainer accepts (Trainer.request_edit)
LIVE_LAYER_SETTINGS = ("binarize_weights", "binarize_activations")  # per layer


def edited_config(config: RunConfig, setting: str, layer: int | None, value) -> RunConfig:
    """``config`` with one live edit applied: ``setting`` (with ``layer``, the index of a layer)
    set to ``value``; a lower learning rate also lowers the schedule's end to it."""
    if setting == "lr":
        value = float(value)
        return config.replace_train(lr=value, lr_end=min(config.train.lr_end, value))
    if setting == "optimizer":
        return config.replace_train(optimizer=value)
    layers = list(config.model.layers)
    layers[layer] = replace(layers[layer], **{setting: bool(value)})
    return config.replace_model(layers=tuple(layers))


def describe_edit(edit: Mapping[str, Any]) -> str:
    """A live edit (:attr:`bnn.training.loop.Trainer.edits`) in words, e.g. "lr 1e-02 → 5e-03" or
    "dense2 activations binary → real"."""
    setting, old, new = edit["setting"], edit["old"], edit["new"]
    if setting == "lr":
        return f"lr {old:.0e} → {new:.0e}"
    if setting in LIVE_LAYER_SETTINGS:
        what = "weights" if setting == "binarize_weights" else "activations"
        word = {True: "binary", False: "real"}
        return f"{edit['layer']} {what} {word[bool(old)]} → {word[bool(new)]}"
    return f"{setting} {old} → {new}"


def requests_in_words(requests: list[tuple[str, int | None, object]], layer_names: list[str]) -> list[str]:
    """Edits requested and not yet applied ((setting, layer index or None, value)) in words, e.g.
    "lr → 1e-03" or "dense2 binarize_activations → False"."""
    words = []
    for setting, layer, value in requests:
        where = f"{layer_names[layer]} " if layer is not None else ""
        words.append(f"{where}{setting} → {value:.0e}" if setting == "lr" else f"{where}{setting} → {value}")
    return words
