"""ui.live_chart (AppTest): what the Train page's in-place Plotly chart sends to the browser.

The browser side (assets/live_chart.js redrawing one graph in place) is checked in a real browser
by tests/test_browser_train.py.
"""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from ui import live_chart


def live_chart_app() -> None:
    import math

    from bnn import plots
    from ui import live_chart

    records = [
        {
            "step": 20 * i,
            "loss": [1.0, math.nan, 0.5][i],
            "batch_accuracy": 50.0 + i,
            "lr": 0.01,
            "flip_rate": {"dense1": 0.1},
        }
        for i in range(3)
    ]
    series = plots.live_training_series(records, [], 150)
    spec = live_chart.figure_spec(plots.live_training_figure(records, []))
    live_chart.live_plotly_chart(spec, series, version="run/3/0", key="chart", height=400)


def sent(at: AppTest) -> dict:
    (element,) = at.get("bidi_component")
    return json.loads(element.proto.json)


def test_live_chart_sends_figure_without_data_and_lines_by_uid():
    at = AppTest.from_function(live_chart_app).run()
    assert not at.exception
    data = sent(at)
    uids = [trace["uid"] for trace in data["figure"]["data"]]
    assert uids == list(data["series"]) and "loss/train batches" in uids
    assert all("x" not in trace and "y" not in trace for trace in data["figure"]["data"])
    assert data["series"]["loss/train batches"] == [[0, 20, 40], [1.0, None, 0.5]]  # NaN -> null, valid JSON
    assert data["version"] == "run/3/0"


def test_plotly_js_goes_along_until_the_browser_has_loaded_it():
    at = AppTest.from_function(live_chart_app).run()
    first = sent(at)
    assert not first["has_plotly"] and "Plotly" in first["plotly_js"][:5000]
    at.session_state[live_chart.PLOTLY_LOADED] = True  # what the component's has_plotly callback sets
    at.run()
    assert sent(at)["has_plotly"] and "plotly_js" not in sent(at)


def preload_app() -> None:
    from ui import live_chart

    live_chart.preload_live_chart()


def test_preload_sends_plotly_js_once_per_session_without_a_report():
    at = AppTest.from_function(preload_app).run()
    (element,) = at.get("bidi_component")
    data = json.loads(element.proto.json)
    assert data["preload"] and "Plotly" in data["plotly_js"][:5000]
    assert at.session_state[live_chart.PLOTLY_LOADED]  # set by the server: the browser sends no rerun while mounting
    at.run()
    assert not at.get("bidi_component")
