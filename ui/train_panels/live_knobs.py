"""The Train page's "Change while it trains" panel: the learning rate, the optimizer and each
layer's binarization of the shown run, changed without a restart (``bnn.jobs.training_job.TrainingJob.edit``,
applied at the next optimizer step and marked on the chart), and the list of its live edits.

A change is requested, not waited for: it is listed as pending until the run's settings in use
(``TrainingJob.config``) show it; the live view runs the page again once the run lists it
(:func:`ui.train_panels.live_view.page_view_of`)."""

from __future__ import annotations

from collections.abc import MutableMapping

import streamlit as st

from bnn.config.architecture import layer_names
from bnn.config.schema import LAYER_SETTINGS, ConfigError, RunConfig
from bnn.jobs.run import Status
from bnn.training.live_edits import LIVE_LAYER_SETTINGS, describe_edit
from ui import access, keys
from ui import settings_form as form

KNOBS_FOR = "tr_live_for"  # the run the knobs were last set to
PENDING = "tr_live_pending"  # {(setting, layer): requested value} of the run in KNOBS_FOR


def knob_key(setting: str, layer: int | None = None) -> str:
    return f"tr_live_{setting}" if layer is None else f"tr_live_{setting}_{layer}"


def live_knobs(state: MutableMapping, job, snapshot) -> None:
    """The knobs of ``job`` while it trains, the edits it took once it ended, an introduction
    before the tab's first run (``job`` None)."""
    if job is None:
        st.markdown("**Change while it trains**")
        st.caption("Once a run trains, its learning rate, optimizer and each layer's binarization can be changed here.")
    elif not snapshot.ended:
        _knobs(state, job, snapshot)
    else:
        st.markdown("**Live edits of this run**")
        if not snapshot.edits:
            st.caption("None: it trained with the settings it started with.")
        edit_list(snapshot.edits)


def _value_in(config: RunConfig, setting: str, layer: int | None):
    return getattr(config.train, setting) if layer is None else getattr(config.model.layers[layer], setting)


def _knobs(state: MutableMapping, job, snapshot) -> None:
    current = job.config
    watched = not access.may_control(snapshot)
    if state.get(KNOBS_FOR) != job.name or watched:  # another run: its knobs start at its settings
        _set_knobs(state, current)
        state[KNOBS_FOR] = job.name
        state[PENDING] = {}
    st.markdown("**Change while it trains**")
    if watched:
        st.caption("Only the session that started this run can change it; its settings in use now are shown.")
    else:
        st.caption("Applied at the next optimizer step, without a restart; marked on the chart and kept in the run.")
    for setting in ("optimizer", "lr"):
        form.control(
            st, setting, key=knob_key(setting), on_change=_request, args=(state, job, setting), disabled=watched
        )
    header = st.columns([1.3, 1, 1])
    header[1].caption("binary W", help=LAYER_SETTINGS["binarize_weights"].help)
    header[2].caption("binary A", help=LAYER_SETTINGS["binarize_activations"].help)
    names = layer_names(current.model)
    for index, name in enumerate(names):
        row = st.columns([1.3, 1, 1], vertical_alignment="center")
        row[0].markdown(name)
        for column, setting in zip(row[1:], LIVE_LAYER_SETTINGS):
            form.control(
                column,
                setting,
                layer=index,
                label=f"{LAYER_SETTINGS[setting].label} of {name} in the running run",
                collapsed=True,
                key=knob_key(setting, index),
                on_change=_request,
                args=(state, job, setting, index),
                disabled=watched,
            )
    edit_list(snapshot.edits)
    pending = {knob: value for knob, value in state[PENDING].items() if _value_in(current, *knob) != value}
    state[PENDING] = pending
    when = "when the run resumes" if snapshot.status == Status.PAUSED else "at the next optimizer step"
    for (setting, layer), value in pending.items():
        edit = {"setting": setting, "layer": names[layer] if layer is not None else None, "new": value}
        st.caption(f":material/schedule: {describe_edit({**edit, 'old': _value_in(current, setting, layer)})}: {when}")


def _set_knobs(state: MutableMapping, config: RunConfig) -> None:
    state[knob_key("optimizer")] = config.train.optimizer
    state[knob_key("lr")] = float(config.train.lr)
    for index, layer in enumerate(config.model.layers):
        for setting in LIVE_LAYER_SETTINGS:
            state[knob_key(setting, index)] = getattr(layer, setting)


def _request(state: MutableMapping, job, setting: str, layer: int | None = None) -> None:
    """A knob's callback: ask the run for the change and list it as pending (only the run's owner:
    anyone else's knob goes back to the run's value)."""
    if not access.require_owner(job.snapshot(), "change"):
        _set_knobs(state, job.config)
        return
    value = state[knob_key(setting, layer)]
    try:
        job.edit(setting, value, layer)
    except ConfigError as exc:
        state[keys.TRAIN_NOTICE] = f"Not changed: {exc}"
        return
    state[PENDING] = {**state.get(PENDING, {}), (setting, layer): value}


def edit_list(edits: list[dict]) -> None:
    if edits:
        st.markdown("  \n".join(f"step {edit['step']:,}: {describe_edit(edit)}" for edit in edits))
