"""The Train page in a real browser: `streamlit run` + Debian Chromium; a run shows its progress
and the live chart updates while it trains (the settings folded meanwhile), and Stop ends it
with a diagnosis."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser import assert_no_exception, browser_available, chromium_page, streamlit_server, wait_for_app

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not browser_available(), reason="needs /usr/bin/chromium and playwright"),
]
LONG_RUN = "preset=fast&layers=d256-wab-0.0_d10-wb-0.0&sub=0&ep=2&bs=20"  # 6,000 steps; stopped early


def test_run_shows_progress_and_live_chart_then_stops(tmp_path, mnist_dir):
    env = {
        "BNN_RUNS_DIR": str(tmp_path / "runs"),
        "BNN_DATA_DIR": str(mnist_dir),
        "BNN_STREAMLIT_LOG": str(tmp_path / "streamlit.log"),
    }
    with streamlit_server(env=env) as url, chromium_page(1400, 2200) as page:
        page.goto(f"{url}/Train?{LONG_RUN}")
        page.wait_for_selector("text=Preset", timeout=60_000)
        wait_for_app(page)
        page.get_by_role("button", name="Start").click()

        steps, lines = set(), set()
        chart = page.frame_locator("iframe[title='live training chart']")  # ui.live_chart.live_plotly_chart
        line = chart.locator(".js-plotly-plot .scatterlayer path.js-line")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and (len(steps) < 3 or len(lines) < 2):
            match = re.search(r"step ([\d,]+) / 6,000", page.inner_text("body"))
            if match:
                steps.add(int(match.group(1).replace(",", "")))
            if line.count():
                if not lines:  # the chart's first drawing: mark its graph to see it redrawn in place
                    chart.locator(".js-plotly-plot").evaluate("graph => { graph.dataset.bnnFirst = 'yes'; }")
                lines.add(line.first.get_attribute("d"))
            page.wait_for_timeout(250)
        page.screenshot(path=str(tmp_path / "training.png"))  # kept in pytest's tmp dir, to look at
        assert len(steps - {0}) >= 2, f"progress not seen: {sorted(steps)}"
        assert len(lines - {None, ""}) >= 2, "the loss chart never changed while training"
        assert chart.locator(".js-plotly-plot[data-bnn-first='yes']").count() == 1, "the chart was mounted anew"
        assert page.get_by_text("Folded while the run trains").count() == 1, "settings not folded while training"
        page.get_by_role("button", name="Stop").click()
        page.wait_for_selector("text=Diagnosis: why is my BNN not learning?", timeout=120_000)
        assert "· stopped" in page.inner_text("body")
        batch_size = page.get_by_role("spinbutton", name="Batch size").input_value()
        assert batch_size == "20", "the settings came back without their values"
        assert_no_exception(page)
