"""The Train page in a real browser: `streamlit run` + Debian Chromium; a short run shows its
progress and the live chart updates while it trains."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser import assert_no_exception, browser_available, chromium_page, streamlit_server, wait_for_app

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not browser_available(), reason="needs /usr/bin/chromium and playwright"),
]
SHORT_RUN = "preset=fast&layers=d256-wab-0.0_d10-wb-0.0&sub=10000&ep=2&bs=50"  # 400 steps, 20 records


def test_short_run_shows_progress_and_live_chart(tmp_path, mnist_dir):
    env = {"BNN_RUNS_DIR": str(tmp_path / "runs"), "BNN_DATA_DIR": str(mnist_dir),
           "BNN_STREAMLIT_LOG": str(tmp_path / "streamlit.log")}
    with streamlit_server(env=env) as url, chromium_page(1400, 2200) as page:
        page.goto(f"{url}/Train?{SHORT_RUN}")
        page.wait_for_selector("text=Preset", timeout=60_000)
        wait_for_app(page)
        page.get_by_role("button", name="Start").click()

        steps, lines = set(), set()
        line = page.locator(".js-plotly-plot .scatterlayer path.js-line")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            text = page.inner_text("body")
            match = re.search(r"step ([\d,]+) / 400", text)
            if match:
                steps.add(int(match.group(1).replace(",", "")))
            if line.count():
                lines.add(line.first.get_attribute("d"))
            if "· finished" in text:
                break
            page.wait_for_timeout(500)
        assert "· finished" in page.inner_text("body"), "the run did not finish"
        assert len(steps - {0, 400}) >= 1 and max(steps) == 400, f"progress not seen: {sorted(steps)}"
        assert len(lines - {None, ""}) >= 2, "the loss chart never changed while training"
        page.wait_for_selector("text=Diagnosis: why is my BNN not learning?", timeout=60_000)
        assert_no_exception(page)
