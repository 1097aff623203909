"""Look inside a binarized network (the run picker's choice): weights, activations, errors and size.

A BNN (Courbariaux et al. 2016, arXiv:1602.02830) keeps real-valued *latent* weights for training,
clipped to [-1, 1], and computes with their signs. This page shows both, the latent weights' mass
near 0 (one update from flipping) and at the clip, how often signs flipped during training, what
share of each layer's activations are +1 and how many pre-activations sit outside the STE window
|x| <= 1 (no gradient there), the errors on the test set, and a larq-style model summary.
"""

import streamlit as st
import torch

from bnn import plots
from bnn.analysis.inspection import (
    activation_stats,
    confusion_matrix,
    evaluate_predictions,
    misclassified,
    weight_stats,
)
from bnn.network.summary import format_bytes, model_summary, summary_rows
from ui import model_picker, state
from ui.names import shown

NO_BAR = {"displayModeBar": False}

st.title("Inspect the network")
picked = model_picker.require_picked()
key = picked.cache_key
model = picked.model()
if picked.training:
    st.caption(f"Weights of **{shown(picked.name)}** read at {picked.read_at()}; reload the page for newer ones.")


@st.cache_data(show_spinner=False, max_entries=4)
def cached_weight_stats(model_key: str, _model) -> list[dict]:
    return weight_stats(_model)


@st.cache_data(show_spinner="Running test images through the network ...", max_entries=8)
def cached_activation_stats(model_key: str, batch: int, _model, _images) -> list[dict]:
    return activation_stats(_model, _images[:batch])


@st.cache_data(show_spinner="Classifying the test set ...", max_entries=4)
def cached_test_predictions(model_key: str, _model, _images) -> torch.Tensor:
    return evaluate_predictions(_model, _images)[0]


st.header("Model summary")
summary = model_summary(model)
columns = st.columns(4)
columns[0].metric(
    "Parameters",
    f"{summary.total_params:,}",
    help=f"{summary.total_params_1bit:,} 1-bit, {summary.total_params_32bit:,} 32-bit",
)
columns[1].metric(
    "Stored at 1 bit",
    format_bytes(summary.packed_bytes),
    help="binary weights packed 8 per byte; biases and BatchNorm at 32 bits",
)
columns[2].metric("In float32", format_bytes(summary.float32_bytes))
columns[3].metric(
    "Compression",
    f"{summary.compression_ratio:.1f}×",
    help=f"{summary.binarized_macs_share:.1%} of the multiply-accumulates are XNOR-popcounts",
)
number = st.column_config.NumberColumn
st.dataframe(
    summary_rows(summary),
    hide_index=True,
    column_config={
        "output shape": st.column_config.TextColumn("output"),
        "input bits": st.column_config.TextColumn("in bits", width="small"),
        "weight bits": st.column_config.TextColumn("W bits", width="small"),
        "1-bit params": number(format="localized"),
        "32-bit params": number(format="localized"),
        "memory 1-bit packed": st.column_config.TextColumn("at 1 bit"),
        "memory float32": st.column_config.TextColumn("in float32"),
        "MACs": number(format="localized"),
        "binary MACs (%)": number("binary MACs", format="%.1f%%"),
    },
)
st.caption(
    "BatchNorm running mean and variance are buffers, not parameters: not counted above. "
    "Binary MACs need both binary weights and a ±1 input."
)

st.header("First-layer weights")
first = model.blocks[0]
controls = st.columns([2, 3])
shown = controls[0].select_slider("Hidden units shown", [16, 36, 64, 100, 144, 256], value=64)
view = controls[1].radio("Show", ["Both", "Binary sign(W)", "Latent W"], horizontal=True)
weights = first.linear.weight.detach()
conv = first.config.kind == "conv"
what = "kernels (first input channel)" if conv else "incoming weights as 28×28 images"
st.caption(
    f"One tile per unit of {first.name}: its {what}. Binary: blue +1, red −1. Latent: blue positive, "
    "red negative, white near 0, where one small update flips the sign."
)
views = {"Binary sign(W)": True, "Latent W": False}
chosen = list(views.items()) if view == "Both" else [(view, views[view])]
for column, (title, binary) in zip(st.columns(len(chosen)), chosen):
    column.plotly_chart(
        plots.weight_grid(
            weights,
            shown,
            binary=binary,
            title=title,
            height=520,
            image_shape=None if conv else tuple(model.config.image_shape[1:]),
        ),
        theme="streamlit",
        config=NO_BAR,
    )

st.header("Latent weights per layer")
st.caption(
    "Dashed lines: the clip at ±1. Weights near 0 flip sign with one small update; weights at the clip "
    "have stopped moving in that direction."
)
layer_stats = cached_weight_stats(key, model)
for column, stats in zip(st.columns(len(layer_stats)), layer_stats):
    with column:
        note = f"{stats['clipped_share']:.1%} at the clip · {stats['near_flip_share']:.1%} with |w| < 0.05"
        st.plotly_chart(
            plots.histogram(
                stats["latent_sample"],
                title=f"{stats['name']} ({stats['n']:,} weights)",
                window=None,
                annotation=note,
                xaxis_title="latent weight",
            ),
            theme="streamlit",
            config=NO_BAR,
        )
        st.metric("Share of +1 weights", f"{stats['share_plus_one']:.1%}")
records = picked.records
if any(record.get("flip_rate") for record in records):
    st.plotly_chart(
        plots.flip_rate_lines(records, title="Sign flips during training (share of weights per record interval)"),
        theme="streamlit",
        config=NO_BAR,
    )
else:
    st.info("No training records for this model, so no sign-flip history.")

data = state.get_data()
if data is None:
    st.stop()

st.header("Activations on test images")
batch = st.select_slider("Test images", [100, 500, 1000, 2000, 5000], value=1000)
activations = cached_activation_stats(key, batch, model, data.test_images)
st.caption(
    "Pre-activations are what the sign sees (after BatchNorm). The shaded band is the STE window "
    "|x| ≤ 1: outside it the straight-through gradient is cancelled."
)
for column, stats in zip(st.columns(len(activations)), activations):
    with column:
        if stats["binarized"]:
            st.metric(f"{stats['name']}: share of +1", f"{stats['share_plus_one']:.1%}")
            title = f"{stats['name']}: {stats['saturated_share']:.1%} saturated (|x| > 1)"
            figure = plots.histogram(stats["pre_sample"], title=title, clip_lines=False, xaxis_title="pre-activation")
        else:
            st.metric(f"{stats['name']}: share of +1", "no sign", help="this layer's outputs stay real-valued")
            figure = plots.histogram(
                stats["pre_sample"],
                title=f"{stats['name']}: real-valued outputs",
                window=None,
                clip_lines=False,
                xaxis_title="output (class score)",
            )
        st.plotly_chart(figure, theme="streamlit", config=NO_BAR)

st.header("Errors on the test set")
predictions = cached_test_predictions(key, model, data.test_images)
labels = data.test_labels
wrong = misclassified(predictions, labels)
accuracy = 1 - len(wrong) / len(labels)
st.caption(f"{accuracy:.2%} right on {len(labels):,} test images: {len(wrong):,} mistakes.")
matrix_column, gallery_column = st.columns([1, 1.3], gap="medium")
matrix_column.plotly_chart(
    plots.confusion_figure(confusion_matrix(predictions, labels), height=440), theme="streamlit", config=NO_BAR
)
shown_wrong = wrong[:32]
gallery_column.plotly_chart(
    plots.image_gallery(
        data.test_images[shown_wrong],
        [f"{int(labels[i])} → {int(predictions[i])}" for i in shown_wrong],
        cols=8,
        title=f"First {len(shown_wrong)} misclassified: true → predicted",
    ),
    theme="streamlit",
    config=NO_BAR,
)
