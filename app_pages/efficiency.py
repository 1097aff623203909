"""What binarization buys: 1-bit weights and XNOR-popcount arithmetic instead of float32 multiply-add.

Courbariaux et al. (2016, arXiv:1602.02830, section 3) note that a BNN's weights need 1 bit instead
of 32 and that a dot product of ±1 vectors is ``K - 2·popcount(a XOR b)``. This page shows the
sizes of the network chosen in the run picker (``ui.model_picker``) and of the paper's
784-4096-4096-4096-10 MLP (from its config, never built), its downloads (the packed file, C for a
microcontroller with the flash and RAM it needs, ONNX: ``ui.exports``), the packed XNOR engine (``bnn.xnor``, MLPs
and CNNs) against the float model on the MNIST test set and on one image, and one XNOR dot product step
by step.
"""

import numpy as np
import streamlit as st
import torch

from bnn import plots
from bnn.analysis.drawing import deployment_copy
from bnn.analysis.stopwatch import median_ms
from bnn.config.presets import PRESETS
from bnn.network.summary import format_bytes, model_summary
from bnn.xnor import XnorExportError, export_packed, kernels, xnor_dot_example
from bnn.xnor.timing import SINGLE_IMAGE_BLOCK, time_test_set
from ui import access, exports, keys, model_picker, state, widgets
from ui.names import shown

NO_BAR = {"displayModeBar": False}
KIND_WORDS = {
    "xnor": "XNOR + popcount (dense)",
    "conv": "XNOR + popcount convolution",
    "bitplane": "8-bit pixel bit-planes (dense)",
    "pixelconv": "8-bit pixels, integer convolution",
    "float": "float32 (not binarized)",
}
TEST_SET_SIZES = (10_000, 1_000)  # all of MNIST's test set, or a quick first look
DEFAULT_A, DEFAULT_B = "+1 -1 +1 +1 -1 -1 +1 -1 +1 +1", "+1 +1 +1 +1 -1 +1 +1 -1 -1 +1"


@st.cache_resource(show_spinner="Packing the model ...", max_entries=4)
def engines(model_key: str, _model):
    """(float32 deployment copy with sign(W) stored once, packed model (numpy engine) or None, refusal
    message). The numpy engine needs no compiled kernels: the page never waits for numba."""
    try:
        packed, message = export_packed(_model, engine="numpy"), None
    except XnorExportError as exc:
        packed, message = None, str(exc)
    return deployment_copy(_model), packed, message


@st.cache_resource(show_spinner=False, max_entries=4)
def fused(model_key: str, _packed):
    """The packed model on the compiled kernels (arrays shared), once they are compiled or loaded."""
    return _packed.with_engine("fused")


def ready_engine(model_key: str, packed):
    """The fused engine once the server's warm-up has its kernels (:func:`ui.state.warm_up`, seconds
    from numba's cache, ~40 s to compile on a machine's first start), else the numpy reference: the
    same bits and scores, slower; the page says so."""
    if packed is None or not kernels.is_warm():
        return packed
    return fused(model_key, packed)


@st.cache_data(show_spinner=False)
def paper_summary():
    return model_summary(PRESETS["paper"].model)


@st.cache_data(
    show_spinner="Running the test set through both engines (a few seconds, once per model) ...", max_entries=4
)
def agreement(model_key: str, count: int, engine: str, _float_model, _packed, _images) -> dict:
    timed = time_test_set(_float_model, _packed, _images[:count])
    differ = np.flatnonzero(timed["packed_pred"] != timed["float_pred"])
    return {"n": count, "differ": differ.tolist(), "float_s": timed["float_s"], "packed_s": timed["packed_s"]}


st.title("Efficiency: 1 bit instead of 32")
picked = model_picker.require_picked()
key = picked.cache_key
float_model, packed, refusal = engines(key, picked.model())
packed = ready_engine(key, packed)
if picked.training:
    st.caption(f"Weights of **{shown(picked.name)}** read at {picked.read_at()}; reload the page for newer ones.")

st.header("Model size: 32 bits vs 1 bit")
mine, paper = model_summary(picked.model()), paper_summary()
rows = [
    (picked.name, mine.float32_bytes, mine.packed_bytes),
    ("paper: 784-4096×3-10", paper.float32_bytes, paper.packed_bytes),
]
chart_column, table_column = st.columns([1, 1.1], gap="medium")
size_chart_slot = chart_column.empty()  # drawn at the end of the page (see draw_figures)
with table_column:
    st.dataframe(
        [
            {"model": label, "float32": format_bytes(full), "1 bit": format_bytes(bits), "ratio": f"{full / bits:.1f}×"}
            for label, full, bits in rows
        ],
        hide_index=True,
    )
    st.markdown(
        f"The paper's MLP has **{paper.total_params:,}** parameters: "
        f"{format_bytes(paper.float32_bytes)} in float32, {format_bytes(paper.packed_bytes)} with its binary "
        f"weights packed 8 per byte (**{paper.compression_ratio:.1f}×** smaller)."
    )
    st.caption(
        "1-bit bytes: binary weights at 1 bit; biases and BatchNorm scale and shift stay at 32 bits, "
        "which is why the ratio is under 32. BatchNorm running statistics are not counted."
    )
    if packed is not None:
        st.caption(
            f"The packed engine's arrays for {shown(picked.name)} take **{format_bytes(packed.nbytes)}**: the "
            "weight bits plus one folded integer threshold per unit or channel (BatchNorm, bias and sign in "
            "one comparison; for a convolution also its 2×2 max-pool)."
        )
if packed is not None:
    with st.expander("How the packed engine runs each layer"):
        st.dataframe(
            [
                {
                    "layer": layer.name,
                    "computed as": KIND_WORDS[layer.kind],
                    "input": "×".join(map(str, layer.in_shape)) if layer.in_shape else f"{layer.in_features:,}",
                    "output": "×".join(map(str, layer.out_shape)) if layer.out_shape else f"{layer.out_features:,}",
                    "packed bytes": format_bytes(layer.nbytes),
                }
                for layer in packed.layers
            ],
            hide_index=True,
        )
        if any(layer.kernel for layer in packed.layers):
            st.caption(
                "Convolutions: each position's channels are packed into 64-bit words, so a 3×3 tap over 32 "
                "or 64 channels is one XOR and one popcount. The zero padding of the float model adds 0, not "
                "±1, so border taps are left out of the count; the max-pool keeps the window's largest dot "
                "product before the threshold, as the float model pools before BatchNorm and sign."
                + (
                    " The first convolution runs on the 8-bit pixels in exact integer arithmetic."
                    if packed.layers[0].kind == "pixelconv"
                    else ""
                )
            )

st.header("Take it anywhere: the packed file, C, ONNX")
if packed is None:
    st.info(f"Nothing to export: the packed engine cannot run this model ({refusal}).", icon=":material/info:")
elif picked.training:
    st.caption("The downloads come once the run has ended.")
elif not (access.may_control(picked) or picked.path == state.PRETRAINED_DIR):  # the shipped run is public
    access.watching_caption(picked)
else:
    exports.download_buttons(packed, picked.name, key, "eff_download")
    st.markdown(
        "**What a microcontroller needs** for the C file: the packed weights and thresholds as `const` "
        "arrays (flash) and two activation buffers (RAM); `bnn_predict(pixels, scores)` returns the class "
        "with the same scores as the engine on this page. `python -m bnn export RUN --to c|onnx|packed` "
        "writes the same files."
    )
    exports.device_table(packed, key)

st.header("XNOR and popcount, step by step")
st.markdown(
    "Store +1 as bit 1 and −1 as bit 0. Then `a XOR b` is 1 exactly where the signs differ, and "
    "with K elements, the dot product is (#equal) − (#different):"
)
# plain text, not st.latex: a fresh browser loads KaTeX for it first (~2 s here) and shows nothing below it meanwhile
st.markdown(
    '<p style="text-align: center; font-size: 1.3rem">a · b = K − 2 · popcount(a ⊕ b)</p>', unsafe_allow_html=True
)


@st.fragment
def walkthrough() -> None:
    inputs = st.columns(2)
    text_a = inputs[0].text_input("Vector a (±1, up to 16 values)", DEFAULT_A, key="eff_a")
    text_b = inputs[1].text_input("Vector b (±1, same length)", DEFAULT_B, key="eff_b")
    try:
        example = xnor_dot_example(widgets.parse_signs(text_a, "a"), widgets.parse_signs(text_b, "b"))
    except ValueError as exc:
        st.error(f"{exc}.".replace("..", "."), icon=":material/error:")
        return
    plain = sum(x * y for x, y in zip(example["a"], example["b"]))
    st.plotly_chart(plots.xnor_walkthrough(example), theme="streamlit", config=NO_BAR)
    verdict = "equal" if example["dot"] == plain else "DIFFERENT"
    st.markdown(
        f"K = {example['K']}, popcount = {example['popcount']}: K − 2·popcount = **{example['dot']}**; "
        f"the ordinary dot product Σ aᵢbᵢ = **{plain}** ({verdict})."
    )
    st.caption(
        f"In memory each vector is one 64-bit word (a = 0x{example['a_words_hex'][0].lstrip('0') or '0'}, "
        f"b = 0x{example['b_words_hex'][0].lstrip('0') or '0'}); the {example['padding_bits']} unused "
        "bits are 0 in both, so their XOR adds nothing to the popcount. One XOR and one popcount "
        "instruction replace 64 multiply-adds."
    )


walkthrough_slot = st.container()


def draw_figures() -> None:
    """The page's Plotly figures, drawn after all its numbers: a browser's first Plotly figure loads and
    runs 4.7 MB of JavaScript, and each figure then takes 0.2-0.7 s of the page's main thread on this
    2-core machine, during which nothing else on the page appears (a fresh browser showed the one-image
    and test-set numbers 2.4-3.3 s after the title with the figures in page order, issue 32)."""
    size_chart_slot.plotly_chart(plots.size_bars(rows, height=340), theme="streamlit", config=NO_BAR)
    with walkthrough_slot:
        walkthrough()


data = state.get_data()
if data is None:
    draw_figures()
    st.stop()

st.header("One image: float32 vs packed XNOR")
if packed is None:
    st.info(f"The packed engine cannot run this model: {refusal}", icon=":material/info:")
else:
    if packed.engine != "fused":
        st.info(
            "The compiled XNOR kernels are still being prepared in the background (a machine's first start "
            "compiles them, ~40 s; later starts load them in about a second). Until then the packed numbers "
            "come from the numpy reference engine: the same bits and scores, slower. Reload the page in a minute "
            "for the compiled engine's times.",
            icon=":material/hourglass_top:",
        )
    fallback = [layer["name"] for layer in packed.summary() if layer["kind"] == "float"]
    if fallback:
        st.info(
            f"Not binarized (real weights, or real inputs), so the packed engine runs these layers in float32 "
            f"too: {', '.join(fallback)}. Only the other layers use XNOR and popcount.",
            icon=":material/info:",
        )


@st.fragment
def latency() -> None:
    if packed is None:
        return
    drawing = state.last_drawing()
    sources = (["Your drawing"] if drawing is not None else []) + ["Test image"]
    if st.session_state.get(keys.EFFICIENCY_SOURCE) not in sources:
        st.session_state[keys.EFFICIENCY_SOURCE] = sources[0]
    controls = st.columns([2, 1, 1], vertical_alignment="bottom")
    if drawing is not None:
        source = controls[0].radio("Input", sources, horizontal=True, key=keys.EFFICIENCY_SOURCE)
    else:
        source = "Test image"
        controls[0].caption("Input: a test image. Draw a digit on the Draw page to time your drawing here.")

    def another_test_image() -> None:
        st.session_state[keys.EFFICIENCY_TEST_INDEX] = int(np.random.default_rng().integers(len(data.test_labels)))
        st.session_state[keys.EFFICIENCY_SOURCE] = "Test image"

    st.session_state.setdefault(keys.EFFICIENCY_TEST_INDEX, 0)
    controls[1].button("Another test image", on_click=another_test_image, icon=":material/casino:", key="eff_another")
    controls[2].button("Measure again", icon=":material/timer:", key="eff_measure")
    if source == "Your drawing":
        image, title = drawing, "Your drawing (from the Draw page)"
    else:
        index = st.session_state[keys.EFFICIENCY_TEST_INDEX]
        image, title = data.test_images[index], f"Test image #{index}, label {int(data.test_labels[index])}"
    # 8-bit pixels, as MNIST's: the packed engine's first layer then runs on exact integer bit-planes
    x = (torch.as_tensor(image, dtype=torch.float32).reshape(1, 1, 28, 28) * 255).round() / 255
    x_flat = x.reshape(1, -1).numpy()

    def run_float() -> int:
        with torch.no_grad():
            return int(float_model(x).argmax(1))

    def run_packed() -> int:
        return int(packed.predict(x_flat)[0])

    ms = median_ms({"float": run_float, "packed": run_packed}, runs=50, block=SINGLE_IMAGE_BLOCK)
    engine_words = "fused compiled kernels" if packed.engine == "fused" else "the numpy reference engine"
    predicted_float, predicted_packed = run_float(), run_packed()
    image_column, numbers = st.columns([1, 3], gap="medium")
    with numbers:
        metrics = st.columns(3)
        metrics[0].metric("float32 PyTorch, 1 image", f"{ms['float']:.3g} ms", help="median of 50 runs, batch 1")
        metrics[1].metric("packed XNOR, 1 image", f"{ms['packed']:.3g} ms", help="median of 50 runs, batch 1")
        metrics[2].metric("speed-up, 1 image", f"{ms['float'] / ms['packed']:.1f}×")
        if predicted_float == predicted_packed:
            st.success(f"Both engines predict **{predicted_float}**.", icon=":material/check_circle:")
        else:
            st.warning(f"The engines disagree: float32 says {predicted_float}, packed says {predicted_packed}.")
        st.caption(
            f"float32: {shown(picked.name)} in eval mode with sign(W) stored once (no per-call binarization), "
            f"torch.no_grad, {torch.get_num_threads()} thread(s). Packed: XOR + popcount on 64-bit "
            f"words ({engine_words}). The engines take turns, {SINGLE_IMAGE_BLOCK} calls each; the CPU may be "
            "shared, so the numbers move a little."
        )
    image_column.plotly_chart(plots.digit_image(x[0, 0], title=title, height=230), theme="streamlit", config=NO_BAR)


latency_slot = st.container()  # filled after the test set's numbers: its digit is a figure

st.header("The whole test set: do the engines agree?")
if packed is None:
    st.info("No packed engine for this model, so nothing to compare.", icon=":material/info:")
    draw_figures()
    st.stop()
# the numpy reference engine (while the kernels compile) takes ~2 s for all 10,000 images: the first look
# is the first 1,000, and the whole test set is one click away
count = (
    st.segmented_control(
        "Test images",
        TEST_SET_SIZES,
        default=TEST_SET_SIZES[0] if packed.engine == "fused" else TEST_SET_SIZES[1],
        key="eff_test_images",
        format_func="{:,}".format,
        help="Run the whole test set through both engines, or only its first 1,000 images",
    )
    or TEST_SET_SIZES[0]
)
count = min(count, len(data.test_labels))
result = agreement(key, count, packed.engine, float_model, packed, data.test_images)
differ = result["differ"]
metrics = st.columns(5)
metrics[0].metric(
    "Agreement",
    f"{100 * (1 - len(differ) / result['n']):.2f}%",
    help=f"same predicted class on {result['n']:,} test images",
)
metrics[1].metric("Disagreements", f"{len(differ):,}")
metrics[2].metric(
    "float32, all images",
    f"{result['float_s']:.2f} s",
    help="in the batches it runs fastest in: at most 1,000 images, fewer for wide activations (83 for `best`'s CNN)",
)
metrics[3].metric(
    "packed XNOR, all images",
    f"{result['packed_s']:.2f} s",
    help="one call, fused kernels" if packed.engine == "fused" else "numpy reference engine (kernels not ready yet)",
)
metrics[4].metric("speed-up, all images", f"{result['float_s'] / result['packed_s']:.1f}×")
if differ:
    st.warning(
        f"Images where the engines disagree (first 20): {', '.join(map(str, differ[:20]))}. A pre-activation "
        "within one float32 rounding step of 0 can land on either side in a batched float run."
    )
else:
    st.caption(
        f"Same class for all {result['n']:,} test images: the packed engine computes exactly what the "
        "float model computes, with BatchNorm, bias and sign folded into one integer threshold per unit "
        "(per channel in a convolution)."
    )
st.caption(
    "Why the gap changes with the batch size: for one image both engines read every weight once, so float32 "
    "pays for moving 32-bit weights through memory (the bigger the model, the wider the gap; a small one is "
    "dominated by per-call overhead), while in a batch float32 reuses each weight across the images in one "
    "matrix product, so the gap settles at the ratio of arithmetic: one XOR + popcount per 64 weights against "
    "64 multiply-adds on wide float units. A convolution reuses its few weights at every position already at "
    "batch 1, so there the packed engine wins by arithmetic alone, and float32 also pays for the padding, "
    "pooling and BatchNorm passes over whole feature maps. `python -m benchmarks.xnor` measures batch 1, 100 "
    "and 1,000, for MLPs and the best preset's CNN."
)

# the numbers are all on the page: now the one-image section (its numbers, then its digit) and the figures
with latency_slot:
    latency()
draw_figures()
