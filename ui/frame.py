"""What every page gets, run once by ``app.py`` before the page itself: the page config, the
sidebar's active-model card."""

from __future__ import annotations

import streamlit as st

from bnn.devices import describe_device, resolve_device
from ui import access, state

PAGE_RUNS = "page_runs"  # full page runs of this session (fragment reruns not counted)


def page_runs() -> int:
    return st.session_state.get(PAGE_RUNS, 0)


def setup(title: str, icon: str) -> None:
    st.set_page_config(page_title=f"{title} · BNN Playground", page_icon=icon, layout="wide")
    st.session_state[PAGE_RUNS] = page_runs() + 1
    state.warm_up()
    access.check_options()
    access.keep_in_url()
    access.show_notice()
    sidebar_active_model()


def sidebar_active_model() -> None:
    with st.sidebar:
        active = state.active_model()
        st.caption("Active model")
        if active is None:
            st.markdown("**none** — train a run on the Train page and activate it")
            return
        accuracy = f"{active.test_accuracy:.2f}% test accuracy" if active.test_accuracy is not None else "not evaluated"
        st.markdown(f"**{active.name}**  \n{accuracy}")
        running = [job for job in state.app_state().jobs.values() if not job.snapshot().ended]
        if running:
            st.caption(f"{len(running)} run(s) training: {', '.join(job.name for job in running)}")
        st.caption(f"Training device: {describe_device(resolve_device('auto'))}")


def still_progress_bars() -> None:
    """Progress bars without their CSS animation, which keeps the browser's compositor busy on
    every refresh (docs/ui-overhead.md)."""
    st.html("<style>[data-testid='stProgress'] * { transition: none !important; animation: none !important; }</style>")
