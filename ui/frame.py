"""What every page gets, run once by ``app.py`` before the page itself: the page config, the
sidebar's active-model card."""

from __future__ import annotations

import streamlit as st

from bnn.config.links import MAX_PARAM_CHARS
from bnn.training.devices import describe_device, resolve_device
from ui import access, state
from ui.names import as_code, shown

PAGE_RUNS = "page_runs"  # full page runs of this session (fragment reruns not counted)


def page_runs() -> int:
    return st.session_state.get(PAGE_RUNS, 0)


def setup(title: str, icon: str) -> None:
    st.set_page_config(page_title=f"{title} · BNN Playground", page_icon=icon, layout="wide")
    st.session_state[PAGE_RUNS] = page_runs() + 1
    state.warm_up()
    access.check_options()
    drop_long_params()
    access.keep_in_url()
    access.show_notice()
    sidebar_active_model()


def drop_long_params() -> None:
    """Take every URL param longer than a real link's (``bnn.config.links.MAX_PARAM_CHARS``) out of the
    tab's URL, unread, with a notice: nothing reads it, and Streamlit does not send it back to the
    browser with every later change of the URL."""
    dropped = [name for name, value in st.query_params.to_dict().items() if len(name) + len(value) > MAX_PARAM_CHARS]
    for name in dropped:
        del st.query_params[name]
    if dropped:
        st.session_state[access.NOTICE_KEY] = (
            f"{len(dropped)} link value(s) longer than {MAX_PARAM_CHARS} characters were ignored: "
            + ", ".join(as_code(name, 20) for name in dropped[:5])
        )


def sidebar_active_model() -> None:
    with st.sidebar:
        active = state.active_model()
        st.caption("Active model")
        if active is None:
            st.markdown("**none** — train a run on the Train page and activate it")
            return
        accuracy = f"{active.test_accuracy:.2f}% test accuracy" if active.test_accuracy is not None else "not evaluated"
        st.markdown(f"**{shown(active.name)}**  \n{accuracy}")
        running = [job for job in state.app_state().jobs.values() if not job.snapshot().ended]
        if running:
            st.caption(f"{len(running)} run(s) training: {', '.join(shown(job.name) for job in running)}")
        st.caption(f"Training device: {describe_device(resolve_device('auto'))}")


def still_progress_bars() -> None:
    """Progress bars without their CSS animation, which keeps the browser's compositor busy on
    every refresh (docs/ui-overhead.md)."""
    st.html("<style>[data-testid='stProgress'] * { transition: none !important; animation: none !important; }</style>")
