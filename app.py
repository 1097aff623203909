"""BNN Playground: train, watch and poke Binarized Neural Networks on a laptop CPU.

Entry point (``streamlit run app.py``) and Home page. Binarized Neural Networks (Courbariaux,
Hubara, Soudry, El-Yaniv, Bengio 2016, arXiv:1602.02830) constrain weights and activations to
±1 in the forward pass and train real-valued latent weights through the straight-through
estimator. The pages are the files in ``pages/``, listed in file-name order by ``st.navigation``.
"""

import os
from pathlib import Path

# Training threads wait for each other at the end of every op. Spinning while they wait (OpenMP's
# default) keeps a core from the browser drawing the Train page; sleeping instead raised training
# speed with the page open from 0.71 to 0.79 of headless (benchmarks/ui_overhead.py). OpenMP reads
# this when torch is imported, by `ui` below.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import streamlit as st  # noqa: E402

import ui  # noqa: E402
from bnn import plots  # noqa: E402

PAGES_DIR = Path(__file__).parent / "pages"
PAGE_ICONS = {
    "Train": ":material/model_training:",
    "Compare": ":material/compare_arrows:",
    "Draw": ":material/draw:",
    "Inspect": ":material/troubleshoot:",
    "Efficiency": ":material/speed:",
}
PAGE_BLURBS = {
    "Train": "pick a preset, change any setting, watch loss, accuracy and weight sign flips live, and ask "
    "*why is my BNN not learning?*",
    "Compare": "overlay the curves of your runs, see which settings differ, download metrics and weights.",
    "Draw": "draw a digit and watch the active model's ±1 activations read it.",
    "Inspect": "weights, activations, the STE window and the confusion matrix of the active model.",
    "Efficiency": "what binarization buys: 32× smaller weights, XNOR and popcount instead of multiply-add.",
}


def page_title(path: Path) -> str:
    """``pages/1_Train.py`` -> ``Train``."""
    stem = path.stem
    head, _, rest = stem.partition("_")
    return (rest if head.isdigit() and rest else stem).replace("_", " ")


def home() -> None:
    ui.page_setup("Home", ":material/home:")
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
            "pages/1_Train.py",
            label="Replay the 9.87% run: the `seed` preset",
            icon=":material/bug_report:",
            query_params={"preset": "seed"},
        )
    with figure:
        st.plotly_chart(plots.ste_figure(height=340), theme=None, key="home_ste")
        st.caption(
            "Forward: sign(x). Backward: the straight-through estimator, the gradient of the hard tanh "
            "1{|x| ≤ 1} (paper eq. 4), or the identity (no cancellation, dashed)."
        )
    st.subheader("Pages", divider="gray")
    for path in sorted(PAGES_DIR.glob("*.py")):
        title = page_title(path)
        st.page_link(
            f"pages/{path.name}",
            label=f"**{title}**: {PAGE_BLURBS.get(title, '')}".rstrip(": "),
            icon=PAGE_ICONS.get(title, ":material/article:"),
        )


pages = [st.Page(home, title="Home", icon=":material/home:", url_path="home", default=True)]
for path in sorted(PAGES_DIR.glob("*.py")):
    title = page_title(path)
    pages.append(
        st.Page(
            f"pages/{path.name}",
            title=title,
            url_path=title.replace(" ", "_"),
            icon=PAGE_ICONS.get(title, ":material/article:"),
        )
    )
st.navigation(pages).run()
