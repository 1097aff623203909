"""BNN Playground: train, watch and poke Binarized Neural Networks on a laptop CPU.

Entry point (``streamlit run app.py``) and frame: the pages in ``app_pages/`` with their titles
and icons, and the setup every page gets (:func:`ui.frame.setup`). Binarized Neural Networks:
Courbariaux, Hubara, Soudry, El-Yaniv, Bengio 2016, arXiv:1602.02830.
"""

import os

# Training threads sleep rather than spin while they wait for each other, leaving the CPU to the
# browser drawing the Train page (docs/ui-overhead.md). OpenMP reads this when torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import streamlit as st

from ui import access, frame

if access.shared():
    # a stranger's browser sees "an error has been logged", not the traceback's server paths and code
    # ("stacktrace", and the legacy false, still show the traceback); the server's log keeps it all
    st.set_option("client.showErrorDetails", "none")

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", url_path="home", default=True),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:", url_path="Train"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="Compare"),
    st.Page("app_pages/study.py", title="Study", icon=":material/science:", url_path="Study"),
    st.Page("app_pages/draw.py", title="Draw", icon=":material/draw:", url_path="Draw"),
    st.Page("app_pages/inspect_model.py", title="Inspect", icon=":material/troubleshoot:", url_path="Inspect"),
    st.Page("app_pages/efficiency.py", title="Efficiency", icon=":material/speed:", url_path="Efficiency"),
]

page = st.navigation(PAGES)
frame.setup(page.title, page.icon)
page.run()
