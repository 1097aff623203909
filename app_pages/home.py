"""Home: what a Binarized Neural Network is, the 9.87% story this app exists for, and the pages.

Courbariaux, Hubara, Soudry, El-Yaniv, Bengio (2016), arXiv:1602.02830.
"""

import streamlit as st

from bnn import plots
from ui import keys

PAGE_BLURBS = {
    "app_pages/train.py": "pick a preset, change any setting, watch loss, accuracy and weight sign flips live, "
    "and ask *why is my BNN not learning?*",
    "app_pages/compare.py": "overlay the curves of your runs, see which settings differ, download metrics and weights.",
    "app_pages/draw.py": "draw a digit and watch the active model's ±1 activations read it.",
    "app_pages/inspect_model.py": "weights, activations, the STE window and the confusion matrix of the active model.",
    "app_pages/efficiency.py": "what binarization buys: 32× smaller weights, XNOR and popcount instead of "
    "multiply-add.",
}

st.title("BNN Playground")
text, figure = st.columns([1.1, 1], gap="large")
with text:
    st.markdown(
        "A **Binarized Neural Network** (Courbariaux, Hubara, Soudry, El-Yaniv & Bengio, 2016, "
        "[arXiv:1602.02830](https://arxiv.org/abs/1602.02830)) computes with weights and activations "
        "that are only **+1 or −1**: the forward pass applies `sign()`, so a layer is XNOR and popcount "
        "instead of multiply-add, and its weights take 1 bit instead of 32.\n\n"
        "`sign()` has a zero gradient almost everywhere, so training keeps **real-valued latent weights** "
        "and passes the gradient *straight through* the sign: the backward pass pretends the sign was a "
        "hard tanh, whose gradient is 1 inside |x| ≤ 1 and 0 outside (the orange line). BatchNorm keeps "
        "pre-activations inside that window; the latent weights are clipped to [−1, 1] so their signs "
        "can still flip."
    )
    st.markdown(
        "**Where this started.** A Keras replication of the paper was stuck at **9.87%** training accuracy, "
        "with a NaN loss. 9.87% is the share of zeros in MNIST's training set: the network answered "
        "*0* for every image. Its output layer was binarized too, so the ten class scores were ±1 and "
        "argmax picked the first tied class; it had no BatchNorm, and SGD at lr 1e-6. The `seed` preset "
        "replays it exactly, and the Train page's diagnosis finds each of these problems and fixes them."
    )
    st.page_link(
        "app_pages/train.py",
        label="Replay the 9.87% run: the `seed` preset",
        icon=":material/bug_report:",
        query_params={keys.PRESET_PARAM: "seed"},
    )
with figure:
    st.plotly_chart(plots.ste_figure(height=340), theme="streamlit", key="home_ste")
    st.caption(
        "Forward: sign(x). Backward: the straight-through estimator, the gradient of the hard tanh "
        "1{|x| ≤ 1} (paper eq. 4), or the identity (no cancellation, dashed)."
    )
st.subheader("Pages", divider="gray")
for column, (path, blurb) in zip(st.columns(len(PAGE_BLURBS)), PAGE_BLURBS.items()):
    with column.container(border=True, height="stretch"):
        st.page_link(path)  # title and URL from app.py's navigation
        st.caption(blurb)
