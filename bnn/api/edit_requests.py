"""What :meth:`bnn.api.handle.RunHandle.edit` asks a training run to change: its keyword arguments
checked (each value by its setting's rules, a layer by name or index) and turned into the job's
live edits."""

from __future__ import annotations

from typing import Any

from ..config.architecture import layer_names
from ..config.schema import LAYER_SETTINGS, SETTINGS_BY_NAME, RunConfig
from ..training.live_edits import LIVE_LAYER_SETTINGS


def layer_index(config: RunConfig, layer: str | int) -> int:
    """The index of ``layer`` (a name, e.g. "dense1", or an index) in ``config``'s network."""
    names = layer_names(config.model)
    if isinstance(layer, int) and not isinstance(layer, bool) and 0 <= layer < len(names):
        return layer
    if layer in names:
        return names.index(layer)
    raise ValueError(f"layer={layer!r}: no such layer; the layers are {', '.join(names)}")


def edit_requests(
    config: RunConfig,
    *,
    lr: float | None = None,
    optimizer: str | None = None,
    layer: str | int | None = None,
    binarize_weights: bool | None = None,
    binarize_activations: bool | None = None,
) -> list[tuple[str, Any, int | None]]:
    """(setting, value, layer index or None) for each change asked of a run of ``config``, every value
    checked; ValueError names what is wrong (see :meth:`bnn.api.handle.RunHandle.edit`)."""
    requests: list[tuple[str, Any, int | None]] = []
    for setting, value in (("lr", lr), ("optimizer", optimizer)):
        if value is not None:
            requests.append((setting, value, None))
    layer_values = [(s, v) for s, v in zip(LIVE_LAYER_SETTINGS, (binarize_weights, binarize_activations))]
    layer_values = [(s, v) for s, v in layer_values if v is not None]
    if layer_values:
        if layer is None:
            raise ValueError(f"{layer_values[0][0]} needs a layer, e.g. layer='dense1'")
        index = layer_index(config, layer)
        for setting, value in layer_values:
            problem = LAYER_SETTINGS[setting].problem(value)
            if problem:
                raise ValueError(f"{setting}={value!r}: {problem}")
            requests.append((setting, value, index))
    elif layer is not None:
        raise ValueError("layer= goes with binarize_weights= or binarize_activations=")
    if not requests:
        raise ValueError("nothing to change: give lr=, optimizer=, or layer= with binarize_weights=/activations=")
    for setting, value, _ in requests:
        if setting in SETTINGS_BY_NAME:
            problem = SETTINGS_BY_NAME[setting].problem(value)
            if problem:
                raise ValueError(f"{setting}={value!r}: {problem}")
    return [(setting, float(value) if setting == "lr" else value, index) for setting, value, index in requests]
