"""The Train page's settings form for the next run: the preset, the architecture, the layer
table, the common training settings and the advanced ones (every control of
``ui.settings_form``), folded to one line while the tab's run trains."""

from __future__ import annotations

from collections.abc import MutableMapping

import streamlit as st

from bnn.config.architecture import layer_names
from bnn.config.descriptions import describe
from bnn.config.presets import PRESET_DESCRIPTIONS, PRESETS
from bnn.config.schema import LAYER_SETTINGS, MAX_LAYERS, SETTINGS_BY_NAME, validate
from bnn.network.summary import model_summary
from ui import frame, keys
from ui import settings_form as form
from ui.train_panels.next_run import ARCHITECTURES, NextRun

LAYER_COLUMNS = [1.6, 1.3, 1, 1, 1, 1.1, 0.5]
DRAWN_AT = "tr_controls_run"  # the page run that last drew the controls (ui.frame.page_runs)
# On a phone the layer table's columns stack: each cell then shows its own label ("binarize
# weights of dense1") and the column titles, which no longer sit above their cells, are hidden.
NARROW_LAYER_TABLE_CSS = """<style>
@media (max-width: 640px) {
  .st-key-tr_layer_header { display: none; }
  [data-testid="stMain"] [data-testid="stWidgetLabel"] {
    display: flex !important; visibility: visible !important; height: auto !important; min-height: 1rem;
    position: static !important;
  }
}
</style>"""


def settings_panel(state: MutableMapping, settings: NextRun, folded: bool) -> None:
    """The form, or while ``folded`` one line that names the settings.

    The run folds them while it trains unpaused: every element on the page is re-rendered at each
    of the live view's refreshes, and a hundred controls cost the browser CPU that training shares
    (benchmarks/ui_overhead.py). They come back when the run pauses or ends, when nothing polls: a
    control mounted during a refresh can reach the server with its empty default instead of its value."""
    st.subheader("Settings for the next run", divider="gray")
    if folded:
        with st.container(border=True):
            st.markdown(f"**{settings.label()}** · {describe(settings.last_read)}")
            st.caption(
                "Folded while the run shown trains, since redrawing every control at each refresh would slow it: "
                "use the knobs next to the chart to change the run now, or pause it to edit the next run's settings."
            )
        return
    if state.get(DRAWN_AT) != frame.page_runs() - 1:
        # Not drawn in the previous run (folded, another page, first visit): the browser has
        # forgotten these controls, so give each its value again rather than its empty default.
        form.write_controls(state, settings.last_read)
    controls(settings)
    state[DRAWN_AT] = frame.page_runs()
    config = settings.config()
    if not validate(config):
        st.caption(
            f"{model_summary(config.model).total_params:,} parameters · "
            f"{config.train.epochs} epoch(s) of {config.train.train_subset or 60000:,} images"
        )
        if st.button("Study this configuration", icon=":material/science:", help="What does each binarization cost?"):
            state[keys.STUDY_BASE] = (settings.label(), config)
            st.switch_page("app_pages/study.py")


def controls(settings: NextRun) -> None:
    top = st.columns([1.2, 1, 2.2], vertical_alignment="bottom")
    top[0].selectbox(
        "Preset",
        list(PRESETS),
        key=keys.TRAIN_PRESET,
        on_change=settings.on_preset,
        help="Fills every control below; everything stays editable",
    )
    top[1].radio(
        "Architecture", ARCHITECTURES, key=keys.TRAIN_ARCHITECTURE, on_change=settings.on_architecture, horizontal=True
    )
    label = settings.label()
    top[2].markdown(
        f"**{label}** · {describe(settings.config())}"
        if label != settings.preset
        else f"**{label}** · {PRESET_DESCRIPTIONS.get(label, '')}"
    )
    layer_table(settings)
    cols = st.columns(4)
    form.control(cols[0], "optimizer")
    if SETTINGS_BY_NAME["momentum"].applies_to(settings.config()):
        form.control(cols[0], "momentum")
    form.control(cols[1], "lr")
    form.control(cols[2], "epochs")
    form.control(cols[3], "batch_size")
    with st.expander(
        "Advanced: loss, schedule, STE cancellation, clipping, Glorot scaling, stochastic binarization, seed, subset, "
        "random shifts, BatchNorm statistics, gradient precision"
    ):
        cols = st.columns(4)
        form.control(cols[0], "loss")
        form.control(cols[0], "schedule")
        if SETTINGS_BY_NAME["lr_end"].applies_to(settings.config()):
            form.control(cols[0], "lr_end")
        form.control(cols[1], "ste_cancel")
        form.control(cols[1], "clip_latent")
        form.control(cols[1], "glorot_lr_scale")
        form.control(cols[2], "stochastic")
        form.control(cols[2], "real_activation")
        if SETTINGS_BY_NAME["bn_recalibrate"].applies_to(settings.config()):
            form.control(cols[2], "bn_recalibrate")
        form.control(cols[3], "seed")
        form.control(cols[3], "train_subset")
        form.control(cols[3], "shift")
        form.control(cols[3], "precision")


def layer_table(settings: NextRun) -> None:
    """One row per layer, input to output: width, binarization, BatchNorm, dropout, remove."""
    layers = settings.last_read.model.layers
    st.html(NARROW_LAYER_TABLE_CSS)
    header = st.container(key="tr_layer_header").columns(LAYER_COLUMNS)
    header[0].caption("layer")
    for column, name in zip(header[1:], form.LAYER_CONTROLS):
        column.caption(LAYER_SETTINGS[name].label, help=LAYER_SETTINGS[name].help)
    row = st.columns(LAYER_COLUMNS, vertical_alignment="center")
    _, height, width = settings.last_read.model.image_shape
    row[0].markdown(f"**input** · {height}×{width} pixels")
    form.control(row[1], "scale", collapsed=True)
    row[2].markdown("—")
    form.control(row[3], "binarize", collapsed=True)
    row[4].markdown("—")
    form.control(row[5], "dropout", collapsed=True)
    for index, (name, layer) in enumerate(zip(layer_names(settings.last_read.model), layers)):
        is_output = index == len(layers) - 1
        row = st.columns(LAYER_COLUMNS, vertical_alignment="center")
        if is_output:
            row[0].markdown(f"**{name}** · dense")
            row[1].markdown(f"{layer.units} classes")
        else:
            detail = f"conv {layer.kernel_size}×{layer.kernel_size}" + (", 2×2 pool" if layer.pool else "")
            row[0].markdown(f"**{name}** · {detail if layer.kind == 'conv' else 'dense'}")
            form.control(row[1], "units", layer=index, label=f"width of {name}", collapsed=True)
            row[6].button(
                "",
                key=f"tr_remove_{index}",
                icon=":material/delete:",
                on_click=settings.remove_layer,
                args=(index,),
                help=f"remove {name}",
            )
        for column, field in zip(row[2:6], ("binarize_weights", "binarize_activations", "batch_norm", "dropout")):
            form.control(column, field, layer=index, label=f"{LAYER_SETTINGS[field].label} of {name}", collapsed=True)
    st.button(
        "Add a hidden layer", icon=":material/add:", on_click=settings.add_layer, disabled=len(layers) >= MAX_LAYERS
    )
    if settings.config().model.layers[-1].binarize_activations:
        st.warning(
            "The output layer's activations are binarized: its 10 class scores become ±1, many classes tie, "
            "and argmax returns the first of them. This is the bug of the `seed` preset.",
            icon=":material/warning:",
        )
