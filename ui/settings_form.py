"""The Train page's controls, derived from the settings registry (``bnn.config.schema.SETTINGS``).

Every control has a session-state key (:func:`control_key`); :func:`config_to_controls` and
:func:`config_from_controls` map a :class:`~bnn.config.schema.RunConfig` to those values and back, so
presets, "apply fix" and links all fill the same controls. :func:`control` draws one setting's
widget with the label, help, choices and range its field declares.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import replace
from typing import Any

import streamlit as st

from bnn.config.schema import LAYER_SETTINGS, SETTINGS, SETTINGS_BY_NAME, RunConfig, setting_value, with_settings
from bnn.config.spec import Setting

CONTROL_PREFIX = "tr_"
LADDER = tuple(float(f"{mantissa}e{exponent}") for exponent in range(-8, 1) for mantissa in (1, 2, 3, 5)) + (10.0,)
LAYER_CONTROLS = ("units", "binarize_weights", "binarize_activations", "batch_norm", "dropout")


def control_key(name: str, layer: int | None = None) -> str:
    """Session-state key of a setting's control (``name``: the config field), per layer for layers."""
    return f"{CONTROL_PREFIX}{name}" if layer is None else f"{CONTROL_PREFIX}l{layer}_{name}"


def ladder(setting: Setting, *values: float) -> list[float]:
    """The log-spaced values a ``log`` setting offers within its range, plus any value in use."""
    steps = {v for v in LADDER if setting.problem(v) is None}
    return sorted(steps | {float(v) for v in values})


def _control_value(setting: Setting, value: Any) -> Any:
    return float(value) if setting.kind is float else value


def config_to_controls(config: RunConfig) -> dict[str, Any]:
    """Session-state values of every Train-page control for ``config``."""
    values = {control_key(s.name): _control_value(s, setting_value(config, s)) for s in SETTINGS}
    for index, layer in enumerate(config.model.layers):
        for name in LAYER_CONTROLS:
            values[control_key(name, index)] = _control_value(LAYER_SETTINGS[name], getattr(layer, name))
    return values


def config_from_controls(values: Mapping[str, Any], base: RunConfig) -> RunConfig:
    """``base`` with every control found in ``values`` (a mapping such as st.session_state)
    applied; layer kinds, kernel sizes and settings without a control come from ``base``."""
    changes = {s.name: values[control_key(s.name)] for s in SETTINGS if control_key(s.name) in values}
    layers = []
    for index, layer in enumerate(base.model.layers):
        edits = {
            name: values[control_key(name, index)] for name in LAYER_CONTROLS if control_key(name, index) in values
        }
        if "units" in edits:
            edits["units"] = int(edits["units"])
        layers.append(replace(layer, **edits))
    return with_settings(base, changes).replace_model(layers=tuple(layers))


def write_controls(state: MutableMapping, config: RunConfig) -> None:
    """Set every control of ``config`` in ``state`` (st.session_state) and drop stale layer rows."""
    for key, value in config_to_controls(config).items():
        state[key] = value
    count = len(config.model.layers)
    for key in [k for k in list(state.keys()) if str(k).startswith(f"{CONTROL_PREFIX}l")]:
        index = str(key)[len(CONTROL_PREFIX) + 1 :].split("_", 1)[0]
        if index.isdigit() and int(index) >= count:
            del state[key]


def fill_missing_controls(state: MutableMapping, config: RunConfig) -> None:
    """Give controls that lost their state (page switch, hidden widget) the value of ``config``."""
    for key, value in config_to_controls(config).items():
        if key not in state:
            state[key] = value


def control(
    container,
    name: str,
    *,
    layer: int | None = None,
    label: str | None = None,
    collapsed: bool = False,
    key: str | None = None,
    on_change=None,
    args: tuple = (),
    disabled: bool = False,
):
    """Draw the control of setting ``name`` (a config field; with ``layer``, that layer's field)
    in ``container`` and return its value. ``key``: another session-state key than the
    settings' own (the Train page's live knobs), with ``on_change(*args)`` called on a change."""
    setting = SETTINGS_BY_NAME[name] if layer is None else LAYER_SETTINGS[name]
    key = key or control_key(name, layer)
    common = {
        "key": key,
        "help": setting.help or None,
        "label_visibility": "collapsed" if collapsed else "visible",
        "on_change": on_change,
        "args": args,
        "disabled": disabled,
    }
    label = label or setting.label
    if setting.kind is bool:
        widget = container.checkbox if collapsed else container.toggle  # a table cell, or a form row
        return widget(label, **common)
    if setting.choices:
        return container.selectbox(
            label, setting.choices, format_func=lambda choice: setting.choice_labels.get(choice, choice), **common
        )
    if setting.log:
        options = ladder(setting, st.session_state.get(key, setting_value(RunConfig(), setting)))
        return container.select_slider(label, options, format_func="{:.0e}".format, **common)
    step = setting.step or 1
    low = None if setting.low is None else setting.low + (step if setting.low_open else 0)
    high = None if setting.high is None else setting.high - (step if setting.high_open else 0)
    if setting.kind is int:
        return container.number_input(
            label,
            min_value=None if low is None else int(low),
            max_value=None if high is None else int(high),
            step=int(step),
            format="%d",
            **common,
        )
    return container.number_input(label, min_value=low, max_value=high, step=float(step), format="%.2f", **common)
