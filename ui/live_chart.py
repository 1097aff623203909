"""A Plotly chart that redraws in place: the Train page's live view of a run.

``st.plotly_chart`` mounts a new chart whenever its figure changes, so the browser would draw
the chart from scratch at every refresh; this Streamlit v2 component (``assets/live_chart.js``)
keeps one graph and moves its lines. Why and by how much: docs/ui-overhead.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import streamlit as st

_live_chart = st.components.v2.component(
    "bnn_live_chart",
    html='<div class="bnn-live-chart"></div>',
    js=(Path(__file__).resolve().parents[1] / "assets" / "live_chart.js").read_text(encoding="utf-8"),
    isolate_styles=False,
)
LIVE_CHART_CONFIG = {"displaylogo": False, "responsive": True}


@st.cache_resource(show_spinner=False)
def _plotly_js() -> str:
    """plotly.js as shipped with the plotly package, so the figures' JSON matches its version."""
    import plotly

    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


def figure_spec(figure) -> dict:
    """A Plotly figure as plain JSON data with its traces' x/y left out (the live chart gets those
    as series, keyed by trace uid)."""
    spec = json.loads(figure.to_json())
    for trace, source in zip(spec["data"], figure.data):
        trace.pop("x", None)
        trace.pop("y", None)
        trace["uid"] = source.uid  # to_json leaves uids out
    return spec


def theme_template() -> dict:
    """Paper, text and grid colours of the app's light or dark theme (``st.context.theme``), for
    this chart that plotly.js draws itself (``st.plotly_chart(theme="streamlit")`` does the same
    for the other charts)."""
    dark = st.context.theme.type == "dark"
    text, grid = ("#fafafa", "rgba(250,250,250,0.15)") if dark else ("#31333f", "rgba(49,51,63,0.12)")
    axis = {"gridcolor": grid, "zerolinecolor": grid, "linecolor": grid, "color": text}
    return {
        "layout": {
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"color": text},
            "xaxis": axis,
            "yaxis": axis,
        }
    }


def _finite_or_none(values) -> list:
    return [v if isinstance(v, int) or (isinstance(v, float) and math.isfinite(v)) else None for v in values]


PLOTLY_LOADED = "plotly_js_loaded"  # session flag: this browser tab has run plotly.js


def _plotly_loaded() -> None:
    st.session_state[PLOTLY_LOADED] = True


def _plotly_missing() -> None:
    st.session_state[PLOTLY_LOADED] = False


def _live_chart_data(extra: dict) -> dict:
    data = {"has_plotly": bool(st.session_state.get(PLOTLY_LOADED)), **extra}
    if not data["has_plotly"]:
        data["plotly_js"] = _plotly_js()  # sent until the browser reports it has run it
    return data


def live_plotly_chart(spec: dict, series: dict[str, tuple[list, list]], version: str, *, key: str, height: int) -> None:
    """A Plotly chart that redraws in place when ``version`` changes. ``spec`` is
    :func:`figure_spec` of the figure, ``series`` its lines by trace uid."""
    data = _live_chart_data(
        {
            "figure": {**spec, "layout": {**spec["layout"], "template": theme_template()}},
            "series": {uid: [_finite_or_none(xs), _finite_or_none(ys)] for uid, (xs, ys) in series.items()},
            "version": version,
            "config": LIVE_CHART_CONFIG,
        }
    )
    _live_chart(
        data=data, key=key, height=height, on_has_plotly_change=_plotly_loaded, on_needs_plotly_change=_plotly_missing
    )


def preload_live_chart() -> None:
    """Load plotly.js into the browser ahead of the first live chart (nothing is drawn), once per
    session (one browser tab). It does not report back, as a rerun while the page's widgets
    mount would reset them (docs/ui-overhead.md); a live chart that finds plotly.js missing asks
    for it again (``needs_plotly``)."""
    if not st.session_state.get(PLOTLY_LOADED):
        _live_chart(data=_live_chart_data({"preload": True}), key="plotly_preload", height="content")
        st.session_state[PLOTLY_LOADED] = True
