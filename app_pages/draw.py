"""Draw a digit and watch a binarized network read it, at every stroke, also while it is still learning.

The network runs in the page: the canvas component (``ui.widgets.drawing_canvas``, made of
``assets/bnn_engine.js`` and ``assets/draw_canvas.js``) fetches the picked run's packed weights
(``ui.page_model``: the bytes of ``bnn.xnor.save_packed`` at a content-addressed URL), prepares the
drawing the way MNIST's digits were (``bnn.analysis.preprocess``'s integer steps: crop, fit in 20x20, centre
of mass at the centre of 28x28) and computes exactly what ``bnn.xnor`` computes, at every pen move:
the prediction, the class probabilities and every hidden layer's ±1 outputs (Courbariaux et al.
2016, arXiv:1602.02830), its units grouped by the digit they favour (``bnn.analysis.inspection.unit_order``,
computed here once per model). No Streamlit rerun per stroke: the server reads a drawing only when
it is sent ("Send to the server"), for its deeper views (a first-layer unit's weights, a few units
per layer that carry the drawing to the prediction) and the Efficiency page. A model with a layer
the page cannot run (real weights or activations) is read here, at the end of each stroke.

While the chosen run trains, the drawing part re-runs every ``model_picker.REFRESH_S`` seconds: the
page gets the run's newest packed weights and reads the drawing again with them.
"""

import base64
import time

import numpy as np
import streamlit as st
import torch

from bnn import plots
from bnn.analysis.drawing import (
    CANVAS_SIZE,
    FLAT,
    FULL,
    LOW_CONFIDENCE,
    TINY,
    deployment_copy,
    ink_agreement,
    preview_image,
    read_drawing,
    trace_path,
)
from bnn.analysis.inspection import unit_class_profiles, unit_order
from bnn.jobs.run import Run
from ui import model_picker, page_model, state, widgets
from ui.names import shown

NO_BAR = {"displayModeBar": False}
PROFILE_IMAGES = 500  # test images that define each unit's favoured digit
PAGE_TEST_DIGITS = 200  # test digits sent to the page once, for "Random test digit"
TRAINING_ORDER_EVERY_S = 15  # a training run's unit order is recomputed at most this often
MEMORY = "draw_memory"  # the current and the previous drawing's hidden outputs


@st.cache_resource(show_spinner=False, max_entries=4)
def deployed_model(model_key: str, _model):
    """The model with sign(W) stored once, as a deployed BNN keeps it (same outputs)."""
    return deployment_copy(_model)


@st.cache_data(show_spinner=False, max_entries=4)
def unit_orders(order_key: str, _model, _images, _labels) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per hidden layer, the display order of its units and the digit each favours (-1: none)."""
    return [unit_order(profile) for profile in unit_class_profiles(_model, _images, _labels)]


@st.cache_data(show_spinner=False, max_entries=4)
def page_orders(order_key: str, _model, _images, _labels) -> list[dict]:
    """:func:`unit_orders` as the canvas component reads them (lists)."""
    return [
        {"order": order.tolist(), "favoured": favoured.tolist()}
        for order, favoured in unit_orders(order_key, _model, _images, _labels)
    ]


@st.cache_resource(show_spinner=False)
def page_test_digits(_images, _labels) -> dict:
    """The first test digits as 8-bit levels (base64) and their labels, for the page's "Random test digit"."""
    levels = np.rint(_images[:PAGE_TEST_DIGITS].reshape(-1, 28 * 28).numpy() * 255).clip(0, 255).astype(np.uint8)
    return {"levels": base64.b64encode(levels.tobytes()).decode("ascii"), "labels": _labels[:PAGE_TEST_DIGITS].tolist()}


def order_key(picked: Run) -> str:
    if picked.training:  # new weights every few seconds: keep the order for a while, so it stays readable
        return f"{picked.name}:{int(time.monotonic() // TRAINING_ORDER_EVERY_S)}"
    return picked.cache_key


def remembered(image28: torch.Tensor, hidden) -> dict | None:
    """The previous drawing's hidden outputs (None for the first), after noting this drawing's."""
    memory = st.session_state.setdefault(MEMORY, {"image": None, "current": None, "previous": None})
    if memory["image"] is None or not torch.equal(memory["image"], image28):
        memory["previous"] = memory["current"]
        memory["image"] = image28.clone()
    memory["current"] = {layer.name: layer.post for layer in hidden}
    return memory["previous"]


st.title("Draw a digit")
choice = model_picker.pick_run()
first = model_picker.load(choice)
if first is None:
    model_picker.no_weights_yet(choice)
data = state.get_data() if state.data_on_disk() else None


@st.fragment(run_every=model_picker.REFRESH_S if first.training else None)
def drawing_view() -> None:
    picked = model_picker.load(choice) or first
    if first.training and not picked.training:
        st.rerun()  # the run ended: the whole page again, without the timed refresh
    model = deployed_model(picked.cache_key, picked.model())
    in_page = page_model.page_model(picked.cache_key, picked.model())
    page = {
        "model": in_page.as_data(),
        "label": picked.name + (f" at {picked.read_at()}" if picked.training else ""),
        "doubts": {"low": LOW_CONFIDENCE, "full": FULL, "tiny": TINY, "flat": FLAT},  # bnn.analysis.drawing's limits
    }
    if data is not None:
        images, labels = data.test_images[:PROFILE_IMAGES], data.test_labels[:PROFILE_IMAGES]
        page["orders"] = page_orders(order_key(picked), model, images, labels)
        page["digits"] = page_test_digits(data.test_images, data.test_labels)
    st.session_state.setdefault("canvas_version", 0)
    try:
        image = widgets.drawing_canvas(
            st.session_state.get("stroke_width", 20),
            key=f"digit_canvas_{st.session_state.canvas_version}",
            size=CANVAS_SIZE,
            page=page,
        )
    except widgets.DrawingError as exc:
        st.warning(f"The drawing sent was refused: {exc}.", icon=":material/block:")
        image = None
    controls = st.columns([2, 3], vertical_alignment="bottom")
    controls[0].slider("Stroke width", 8, 40, 20, key="stroke_width")
    controls[1].caption("Cropped, scaled to 20×20 and centred by its centre of mass in 28×28, as MNIST's digits were.")
    if picked.training:
        st.caption(f"Read by **{shown(picked.name)}** at {picked.read_at()}.")

    reading = read_drawing(model, image)
    state.remember_drawing(reading.image28 if reading is not None else None)
    if in_page.server_only is None:
        if reading is None:
            st.caption(
                "The drawing is read in this page. **Send to the server** for the deeper views below "
                "(a first-layer unit's weights, the path to the prediction) and the Efficiency page."
            )
            return
        st.subheader("The drawing sent to the server")
    elif reading is None:
        st.info("Draw a digit on the black canvas: one digit, 0 to 9, filling most of the box.", icon=":material/draw:")
        return
    metric, preview, bars = st.columns([1, 1, 3])
    metric.metric("Prediction", reading.predicted, help=f"{reading.confidence:.1%} probability")
    metric.caption(f"{reading.confidence:.0%} probability")
    preview.image(preview_image(reading.image28, 112), caption="Model input, 28×28", width=112)
    if reading.low_confidence:
        st.warning(
            f"Low confidence: {'; '.join(reading.doubts)}. Draw one digit, 0 to 9, filling most of the box.",
            icon=":material/help:",
        )
    bars.plotly_chart(
        plots.probability_bars(reading.probabilities, reading.predicted, height=200),
        theme="streamlit",
        config=NO_BAR,
    )
    inside(picked, model, reading)


def memo(name: str, key, build):
    """``build()``, kept in this tab's session until ``key`` changes: a training run's timed
    refreshes redraw the prediction, not the views of a drawing that did not change."""
    slots = st.session_state.setdefault("draw_memo", {})
    if name not in slots or slots[name][0] != key:
        slots[name] = (key, build())
    return slots[name][1]


def inside(picked: Run, model, reading) -> None:
    st.subheader("Inside the network for this drawing")
    # the drawing, and the weights unless the run trains: then the views keep the weights of the stroke
    key = (hash(reading.image28.numpy().tobytes()), picked.name if picked.training else picked.cache_key)
    caption, layer_figures, path_figure = memo("layers", key, lambda: layer_views(picked, model, reading))
    if picked.training:
        caption += " Read at the last stroke; the prediction above follows the training."
    st.caption(caption)
    for column, figure in zip(st.columns(len(layer_figures) or 1), layer_figures):
        column.plotly_chart(figure, theme="streamlit", config=NO_BAR)
    if picked.model().blocks[0].config.kind == "dense" and reading.hidden:
        unit_weights(picked, reading, key)
    if path_figure is not None:
        st.markdown("**From the drawing to the prediction**")
        st.caption(
            "A few units per layer: in the last hidden layer those voting most for the prediction, in each "
            "layer before those feeding them most. Lines are binary links w·h: blue +1 (pushes the unit up), "
            "red −1. The last column: the classes, darker with more probability."
        )
        st.plotly_chart(path_figure, theme="streamlit", config=NO_BAR)


def layer_views(picked: Run, model, reading) -> tuple[str, list, object]:
    previous = remembered(reading.image28, reading.hidden) or {}
    orders = None
    if data is not None:
        images, labels = data.test_images[:PROFILE_IMAGES], data.test_labels[:PROFILE_IMAGES]
        orders = unit_orders(order_key(picked), model, images, labels)
    last = len(reading.hidden) - 1
    caption = (
        "One cell per hidden unit: blue +1, red −1. Units are grouped by the digit they favour on test "
        "images (on for that digit more than for the others), so a drawing of a 7 lights up the "
        "“favours 7” rows. Outlined: changed since the previous drawing. Hover for the details."
        if orders is not None
        else "One cell per hidden unit: blue +1, red −1 (MNIST is not available here to group the units)."
    )
    figures = []
    for i, layer in enumerate(reading.hidden):
        if not layer.binarized:
            continue
        if orders is not None:
            order, favoured = orders[i]
            groups = [f"favours {int(favoured[u])}" if favoured[u] >= 0 else "no favourite" for u in order.tolist()]
        else:
            order, groups = torch.arange(layer.post.numel()), ["units"] * layer.post.numel()
        plus = int((layer.post > 0).sum())
        changed = (
            int((torch.sign(previous[layer.name]) != torch.sign(layer.post)).sum()) if layer.name in previous else 0
        )
        figures.append(
            plots.activation_groups(
                layer.post,
                order,
                groups,
                pre=layer.pre,
                previous=previous.get(layer.name),
                votes=reading.votes if i == last else None,
                title=f"{layer.name}: {plus} of {layer.post.numel()} at +1 · {changed} changed",
            )
        )
    path = trace_path(model, reading)
    path_figure = plots.network_path(path.layers, path.links, reading.predicted, height=300) if path else None
    return caption, figures, path_figure


def unit_weights(picked: Run, reading, key) -> None:
    layer = reading.hidden[0]
    st.markdown(f"**What one unit of {layer.name} looks for**")
    strongest = int(torch.argmax(layer.pre.abs() * (layer.post > 0)))  # the firmest +1 unit
    st.session_state.setdefault("draw_unit", strongest)
    units = layer.post.numel()
    if st.session_state.draw_unit >= units:
        st.session_state.draw_unit = strongest
    chooser, drawing_column, binary_column, latent_column = st.columns([1, 1, 1.2, 1.2])
    unit = chooser.number_input(
        f"Unit of {layer.name}",
        0,
        units - 1,
        key="draw_unit",
        help=f"0 to {units - 1}; hover a cell above for its number",
    )
    chooser.button("Firmest +1 unit", on_click=lambda: st.session_state.update(draw_unit=strongest))
    binary, latent, text = memo("unit", (key, unit), lambda: unit_views(picked, reading, unit))
    drawing_column.image(preview_image(reading.image28, 140), caption="The drawing", width=140)
    binary_column.plotly_chart(binary, theme="streamlit", config=NO_BAR)
    latent_column.plotly_chart(latent, theme="streamlit", config=NO_BAR)
    chooser.caption(text)


def unit_views(picked: Run, reading, unit: int) -> tuple[object, object, str]:
    layer = reading.hidden[0]
    weights = picked.model().blocks[0].linear.weight.detach()[unit].float().cpu()
    image_shape = tuple(picked.config.model.image_shape[1:])
    on_plus, on_minus = ink_agreement(reading.image28, torch.where(weights >= 0, 1.0, -1.0))
    text = (
        f"Output **{float(layer.post[unit]):+.0f}** (pre-activation {float(layer.pre[unit]):+.2f}). "
        f"{on_plus:.0%} of the ink lies on its +1 weights, {on_minus:.0%} of the paper on its −1 weights: "
        "the more of both, the more this drawing is what the unit looks for."
    )
    binary = plots.weight_grid(weights[None], 1, binary=True, title="sign(W)", height=200, image_shape=image_shape)
    latent = plots.weight_grid(weights[None], 1, binary=False, title="latent W", height=200, image_shape=image_shape)
    return binary, latent, text


drawing_view()
