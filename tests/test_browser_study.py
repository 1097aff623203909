"""The Study page in a real browser (`streamlit run` + Debian Chromium): a finished study reopens
from its folder with its chart (a point per variant), its table naming what each variant changed,
and a variant opens in Compare."""

from __future__ import annotations

import pytest

from tests.browser import assert_no_exception, browser_available, chromium_page, streamlit_server, wait_for_app
from tests.conftest import make_tiny_data
from tests.test_studies import _finished_study

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not browser_available(), reason="needs /usr/bin/chromium and playwright"),
]


def test_a_finished_study_reopens_with_its_chart_and_opens_in_compare(tmp_path, mnist_dir):
    runs = tmp_path / "runs"
    _finished_study(runs, make_tiny_data())
    env = {"BNN_RUNS_DIR": str(runs), "BNN_DATA_DIR": str(mnist_dir), "BNN_STREAMLIT_LOG": str(tmp_path / "log")}
    with streamlit_server(env=env) as url, chromium_page(1400, 1000) as page:
        page.goto(f"{url}/Study")
        page.get_by_text("9 of 9 runs done").wait_for(timeout=60_000)
        wait_for_app(page)
        assert_no_exception(page)
        points = page.locator(".js-plotly-plot .scatterlayer .point")
        points.first.wait_for(timeout=30_000)
        assert points.count() == 9
        assert page.get_by_text("output binary activations").count() >= 1
        page.get_by_role("button", name="Open in Compare").click()
        page.get_by_text("Compare runs").first.wait_for(timeout=30_000)
        wait_for_app(page)
        assert_no_exception(page)
        assert "tiny-ablation · base" in page.inner_text("body")
