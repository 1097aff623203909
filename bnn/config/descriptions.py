"""A run's settings as people read them: one line for a run list, the architecture and its
binarization in a few words, and every setting that applies as label -> value for side-by-side
tables (the Compare page) and for finding the measured preset closest to a run
(:func:`bnn.analysis.reference.reference_for`).

The counts say how binarized a network is in the terms of Courbariaux et al. 2016
(arXiv:1602.02830): binary weights (sign of the latent weights), binary activations (sign with
the straight-through estimator) and BatchNorm before the sign, each counted over the layers.

Plain Python, no PyTorch: the labels and value names come from the settings table
(:data:`bnn.config.schema.SETTINGS`).
"""

from __future__ import annotations

from .schema import SETTINGS, RunConfig, setting_value


def describe_layers(config: RunConfig) -> str:
    """The architecture and its binarization in words, e.g. ``784-1024-1024-10 MLP · binary
    weights 3/3, binary activations 2/3, BatchNorm 3/3`` (``c32``: a conv layer of 32 channels)."""
    model = config.model
    channels, height, width = model.image_shape
    widths = "-".join(
        [str(channels * height * width)]
        + [f"{'c' if layer.kind == 'conv' else ''}{layer.units}" for layer in model.layers]
    )
    count = len(model.layers)
    switches = ", ".join(
        f"{label} {sum(getattr(layer, name) for layer in model.layers)}/{count}"
        for label, name in (
            ("binary weights", "binarize_weights"),
            ("binary activations", "binarize_activations"),
            ("BatchNorm", "batch_norm"),
        )
    )
    return f"{widths} {'CNN' if model.is_cnn else 'MLP'} · {switches}"


def describe(config: RunConfig) -> str:
    """The settings in one line, e.g. ``784-1024-1024-10 MLP · binary weights 3/3, binary
    activations 2/3, BatchNorm 3/3 · adam lr 1e-02 -> 1e-05 (cosine) · batch 200 · 3 epochs · seed 0``."""
    train = config.train
    lr = f"lr {train.lr:.0e}" + ("" if train.schedule == "constant" else f" -> {train.lr_end:.0e} ({train.schedule})")
    images = f" of {train.train_subset:,} images" if train.train_subset else ""
    return " · ".join(
        (
            describe_layers(config),
            f"{train.optimizer} {lr}",
            f"batch {train.batch_size}",
            f"{train.epochs} epoch{'s' if train.epochs != 1 else ''}{images}",
            f"seed {train.seed}",
        )
    )


def settings_in_words(config: RunConfig) -> dict[str, str]:
    """Label -> value as a user reads it, for ``layers`` and every setting that applies to ``config``."""
    words = {"Layers": describe_layers(config)}
    for setting in SETTINGS:
        if setting.applies_to(config):
            value = setting_value(config, setting)
            if setting.kind is bool:
                text = "on" if value else "off"
            elif setting.kind is float:
                text = f"{value:g}"
            else:
                text = str(setting.choice_labels.get(value, value))
            words[setting.label] = text
    return words
