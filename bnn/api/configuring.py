"""Choosing what to train, from Python: the presets, the settings (each with its meaning, values
and default), a config built by name (configure) and MNIST's images (mnist)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..config.presets import PRESET_DESCRIPTIONS, PRESETS
from ..config.schema import (
    LAYER_SETTINGS,
    SETTINGS,
    SETTINGS_BY_NAME,
    ConfigError,
    RunConfig,
    setting_value,
    validate,
    with_settings,
)
from .handle import RunHandle
from .tables import Table


def presets() -> dict[str, str]:
    """The presets by name, each with what it is.

    Returns:
        A dict: preset name -> one line about it ("fast", "paper", "seed", ...).

    Example:
        bnn.presets()["seed"]
    """
    return dict(PRESET_DESCRIPTIONS)


def settings() -> Table:
    """The settings that train() and configure() take by name: what each means, the values it
    accepts, and its default.

    Returns:
        A table (shown as HTML in Jupyter, as text by print): name, meaning, values, default.
        Defaults are the settings' own; each preset changes some of them. The per-layer
        switches that edit() changes (binarize_weights, binarize_activations) follow.

    Example:
        print(bnn.settings())
        bnn.train("fast", lr=1e-3, optimizer="sgd", train_subset=5000)
    """
    defaults = RunConfig()
    rows = [_setting_row(s, setting_value(defaults, s)) for s in SETTINGS]
    layer = defaults.model.layers[0]
    rows += [_setting_row(s, getattr(layer, s.name), "per layer, edit(layer=...): ") for s in LAYER_SETTINGS.values()]
    return Table(rows, "Settings of bnn.train() and bnn.configure()", "bnn.presets() lists the presets.")


def _setting_row(setting, default: Any, prefix: str = "") -> dict[str, Any]:
    if setting.kind is bool:
        values = "True or False"
    elif setting.choices:
        values = "one of " + ", ".join(setting.choices)
    elif setting.low is not None or setting.high is not None:
        values = f"{setting.kind_words} {setting.range_text()}"
    else:
        values = setting.kind_words
    meaning = f"{setting.label}: {setting.help}" if setting.help else setting.label
    return {"name": setting.name, "meaning": prefix + meaning, "values": values, "default": repr(default)}


def did_you_mean(name: str) -> str:
    """ " (did you mean 'lr'?)" for a setting name close to ``name`` (its name or its label), else ""."""
    candidates = {s.name: s.name for s in SETTINGS}
    candidates.update({re.sub(r"[^a-z0-9]+", "_", s.label.lower()).strip("_"): s.name for s in SETTINGS})
    candidates.update(SETTING_ALIASES)
    close = difflib.get_close_matches(name.lower(), list(candidates), n=1, cutoff=0.75)
    return f" (did you mean {candidates[close[0]]!r}?)" if close else ""


# names other libraries give the same settings
SETTING_ALIASES = {
    "learning_rate": "lr",
    "num_epochs": "epochs",
    "n_epochs": "epochs",
    "batch": "batch_size",
    "bs": "batch_size",
    "optim": "optimizer",
    "random_seed": "seed",
    "subset": "train_subset",
}


def mnist(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """MNIST's images and labels, read from $BNN_DATA_DIR (else downloaded once into a per-user
    cache).

    Args:
        split: "test" (10,000 images) or "train" (60,000).

    Returns:
        (images, labels): images as uint8 0..255 of shape (N, 28, 28), labels as int64.

    Example:
        images, labels = bnn.mnist()
        run.predict(images[:5]), labels[:5]
    """
    from ..training.data import load_mnist

    if split not in ("test", "train"):
        raise ValueError(f"split={split!r}: 'test' or 'train'")
    data = load_mnist()
    images, labels = (data.test_images, data.test_labels) if split == "test" else (data.train_images, data.train_labels)
    return images[:, 0].mul(255).round().to(torch.uint8).numpy(), labels.numpy()


def _config_of(preset_or_config: Any) -> tuple[RunConfig, str | None]:
    if isinstance(preset_or_config, str):
        if preset_or_config not in PRESETS:
            raise ValueError(f"unknown preset {preset_or_config!r}; the presets are {', '.join(PRESETS)}")
        return PRESETS[preset_or_config], preset_or_config
    if isinstance(preset_or_config, RunHandle):
        run = preset_or_config.run
        return run.config, run.preset
    if isinstance(preset_or_config, RunConfig):
        return preset_or_config, None
    if isinstance(preset_or_config, Mapping):
        return RunConfig.from_dict(preset_or_config), None
    raise ValueError(
        f"train() takes a preset name ({', '.join(PRESETS)}), a config or a run, got {type(preset_or_config).__name__}"
    )


def configure(preset_or_config: Any = "fast", **settings: Any) -> RunConfig:
    """A run's settings: a preset's (or a config's, or a run's) with some changed.

    Args:
        preset_or_config: a preset's name (see bnn.presets()), a RunConfig, its dict, or a run.
        **settings: settings to change, by name (bnn.settings() lists them with their values).

    Returns:
        The RunConfig (frozen; train() takes it).

    Raises:
        ValueError naming a bad name (with the closest one) or value.

    Example:
        config = bnn.configure("fast", lr=1e-3)
        config.train.lr                            # 0.001
    """
    config, _ = _config_of(preset_or_config)
    unknown = [name for name in settings if name not in SETTINGS_BY_NAME]
    if unknown:
        raise ConfigError(
            f"unknown setting{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(name) + did_you_mean(name) for name in unknown)}; "
            f"the settings are {', '.join(SETTINGS_BY_NAME)} (bnn.settings() says what each is)"
        )
    values = {}
    for name, value in settings.items():
        setting = SETTINGS_BY_NAME[name]
        problem = setting.problem(value)
        if problem:
            raise ConfigError(f"{name}={value!r}: {problem}")
        values[name] = float(value) if setting.kind is float else value
    config = with_settings(config, values)
    problems = validate(config)
    if problems:
        raise ConfigError("; ".join(problems))
    return config
