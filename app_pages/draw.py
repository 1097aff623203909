"""Draw a digit and watch a binarized network read it.

The drawing is prepared the way MNIST's digits were (``bnn.preprocess``: crop, fit in 20x20,
centre of mass at the centre of 28x28), then read by the active model, which is the shipped
pretrained ``fast`` model until the user trains and activates another: the prediction, the class
probabilities, every hidden layer's ±1 activation pattern (Courbariaux et al. 2016,
arXiv:1602.02830) and the hidden units that vote for the predicted digit.
"""

import numpy as np
import streamlit as st

from bnn import plots
from bnn.draw import CANVAS_SIZE, deployment_copy, digit_to_canvas, read_drawing
from ui import state, widgets

NO_BAR = {"displayModeBar": False}


@st.cache_resource(show_spinner=False, max_entries=4)
def deployed_model(model_key: str, _model):
    """The active model with sign(W) stored once, as a deployed BNN keeps it (same outputs)."""
    return deployment_copy(_model)


st.title("Draw a digit")
active = state.require_active_model()
st.caption(
    f"Read by **{active.name}**. The drawing is cropped, scaled to fit 20×20 and centred by its centre "
    "of mass in 28×28, as MNIST's digits were."
)

source = st.radio("Input", ["Draw", "Random test digit"], horizontal=True, key="draw_source")
canvas_column, input_column, result_column = st.columns([1.15, 0.85, 1.4], gap="medium")
true_label = None
with canvas_column:
    if source == "Draw":
        st.session_state.setdefault("canvas_version", 0)

        def clear_canvas() -> None:
            st.session_state.canvas_version += 1

        st.space("medium")  # room for the canvas toolbar, which floats above its top edge
        image = widgets.drawing_canvas(
            st.session_state.get("stroke_width", 20),
            key=f"digit_canvas_{st.session_state.canvas_version}",
            size=CANVAS_SIZE,
        )
        st.slider("Stroke width", 8, 40, 20, key="stroke_width")
        st.button("Clear", on_click=clear_canvas, icon=":material/delete:")
        st.caption("Undo, redo and reset: the toolbar above the canvas.")
    else:
        data = state.get_data()
        if data is None:
            st.stop()

        def new_test_digit() -> None:
            st.session_state.test_index = int(np.random.default_rng().integers(len(data.test_labels)))

        if "test_index" not in st.session_state:
            new_test_digit()
        index = st.session_state.test_index
        true_label = int(data.test_labels[index])
        st.plotly_chart(
            plots.digit_image(
                data.test_images[index], title=f"Test image #{index}, true label {true_label}", height=CANVAS_SIZE
            ),
            theme=None,
            config=NO_BAR,
        )
        st.button("Another random digit", on_click=new_test_digit, icon=":material/casino:")
        st.caption("Scaled up to the canvas size, then prepared exactly like a drawing.")
        image = digit_to_canvas(data.test_images[index])

reading = read_drawing(deployed_model(active.cache_key, active.model), image)
state.remember_drawing(reading.image28 if source == "Draw" and reading is not None else None)
if reading is None:
    with result_column:
        st.info("Draw a digit on the black canvas: one digit, 0 to 9, filling most of the box.", icon=":material/draw:")
    st.stop()

with input_column:
    st.plotly_chart(
        plots.digit_image(reading.image28, title="Model input, 28×28", height=CANVAS_SIZE), theme=None, config=NO_BAR
    )
with result_column:
    st.metric("Prediction", reading.predicted, help=f"{reading.confidence:.1%} probability")
    if true_label is not None:
        st.caption(f"True label {true_label}: {'right' if true_label == reading.predicted else 'wrong'}.")
    if reading.low_confidence:
        st.warning(
            f"Low confidence: {'; '.join(reading.doubts)}. Draw one digit, 0 to 9, filling most of the box.",
            icon=":material/help:",
        )
    st.plotly_chart(
        plots.probability_bars(reading.probabilities, reading.predicted, true_label=true_label),
        theme=None,
        config=NO_BAR,
    )

st.subheader("Inside the network for this drawing")
if reading.hidden:
    st.caption("Each cell is one hidden unit's output for this drawing: blue +1, red −1 (binarized layers).")
    for column, layer in zip(st.columns(len(reading.hidden)), reading.hidden):
        plus = int((layer.post > 0).sum())
        title = f"{layer.name}: {plus} of {layer.post.numel()} at +1" if layer.binarized else f"{layer.name} (real)"
        column.plotly_chart(plots.activation_grid(layer.post, title=title, height=300), theme=None, config=NO_BAR)

last = reading.hidden[-1].name if reading.hidden else "input"
for_votes = int((reading.votes > 0).sum())
votes_column, top_column = st.columns([1, 1.2], gap="medium")
with votes_column:
    st.plotly_chart(
        plots.activation_grid(reading.votes, title=f"{last}: vote of each unit for {reading.predicted}", height=300),
        theme=None,
        config=NO_BAR,
    )
with top_column:
    st.markdown(
        f"**Who votes for {reading.predicted}.** A unit's vote is its output weight to class "
        f"{reading.predicted} times its activation. {for_votes} of {reading.votes.numel()} units of {last} "
        f"vote for it (blue), {int((reading.votes < 0).sum())} against (red). The strongest supporters, "
        "ties broken by how far the unit's pre-activation is from the sign's threshold 0:"
    )
    st.dataframe(
        [
            {
                "unit": unit,
                "activation": activation,
                "weight": weight,
                "vote": vote,
                "|pre-activation|": round(margin, 2),
            }
            for unit, activation, weight, vote, margin in reading.top_units(10)
        ],
        hide_index=True,
    )
