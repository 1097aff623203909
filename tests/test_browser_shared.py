"""Shared-server mode in a real browser: two Chromium sessions of one ``streamlit run app.py --
--shared`` server. Session A starts a run; session B, given a link to it, watches it with every
control disabled, and a click forged in B's page (the ``disabled`` attribute removed from the Stop
button) does not stop it; A's reload of its own URL (owner key included) gets the controls back."""

from __future__ import annotations

import re

import pytest

from tests.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    assert_no_exception,
    browser_available,
    streamlit_server,
    wait_for_app,
    wait_for_text,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not browser_available(), reason="needs /usr/bin/chromium and playwright"),
]
LONG_RUN = "preset=fast&layers=d64-wab-0.0_d10-wb-0.0&sub=0&ep=10&bs=20"  # 30,000 steps; stopped at the end


# the run's step once it is above n (the progress line "step 1,234 / 30,000"), else false
STEP_ABOVE = """n => {
  const match = document.body.innerText.match(/step ([\\d,]+) \\/ 30,000/);
  const step = match ? Number(match[1].replaceAll(",", "")) : 0;
  return step > n && step;
}"""
STOP_ENABLED = """() => {
  const stop = [...document.querySelectorAll("button")].find(b => /(^|\\s)Stop$/.test(b.innerText.trim()));
  return stop && !stop.disabled;
}"""


def _step_above(page, n: int, seconds: float) -> int:
    return page.wait_for_function(STEP_ABOVE, arg=n, timeout=seconds * 1000, polling=250).json_value()


def test_a_watcher_gets_no_control_and_a_forged_click_stops_nothing(tmp_path, mnist_dir):
    from playwright.sync_api import sync_playwright

    env = {
        "BNN_SHARED": "1",
        "BNN_RUNS_DIR": str(tmp_path / "runs"),
        "BNN_DATA_DIR": str(mnist_dir),
        "BNN_STREAMLIT_LOG": str(tmp_path / "streamlit.log"),
    }
    with streamlit_server(env=env) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            owner = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            owner.goto(f"{url}/Train?{LONG_RUN}")
            owner.get_by_role("button", name="Start").wait_for(timeout=60_000)
            wait_for_app(owner)
            owner.get_by_role("button", name="Start").click()
            _step_above(owner, 0, 120)
            owner.wait_for_url(re.compile(r"[?&]run="), timeout=60_000)
            run_name = re.search(r"[?&]run=([^&]+)", owner.url).group(1)
            assert re.search(r"[?&]owner=[A-Za-z0-9_-]{22}", owner.url), owner.url

            watcher = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            watcher.goto(f"{url}/Train?run={run_name}")
            watcher.get_by_text(f"Watching {run_name}").wait_for(timeout=60_000)
            _step_above(watcher, 0, 60)  # the watcher sees the run train
            for label in ("Pause", "Stop", "Test now"):
                assert watcher.get_by_role("button", name=label).is_disabled(), label
            knobs = watcher.get_by_role("checkbox", name=re.compile("in the running run"))
            knobs.nth(1).wait_for(timeout=60_000)  # the knob column draws after the run bar
            assert knobs.count() >= 2 and all(knobs.nth(i).is_disabled() for i in range(knobs.count()))
            assert watcher.get_by_role("slider").first.is_disabled()  # the learning rate
            assert not watcher.get_by_role("button", name="Start").is_disabled()  # a run of its own

            stop = watcher.get_by_role("button", name="Stop")
            stop.evaluate("button => button.removeAttribute('disabled')")
            stop.click(force=True)
            before = _step_above(owner, 0, 60)
            _step_above(owner, before + 50, 60)  # the run kept training
            assert "stopping" not in owner.inner_text("body") and "stopped" not in owner.inner_text("body")

            owner.reload()  # a new session of the same URL, owner key included
            owner.get_by_role("button", name="Stop").wait_for(timeout=60_000)
            owner.wait_for_function(STOP_ENABLED, timeout=60_000, polling=250)  # A gets its Stop back
            assert owner.get_by_text("Watching").count() == 0
            owner.get_by_role("button", name="Stop").click()
            wait_for_text(owner, "· stopped", 120_000)  # A can stop its run
            assert_no_exception(owner)
            assert_no_exception(watcher)
        finally:
            browser.close()


def test_a_huge_query_in_a_forged_rerun_is_refused_or_dropped_unechoed(tmp_path, mnist_dir):
    """What a browser cannot send but a script can: rerun messages with a huge query string on the
    app's websocket. Over ``server.maxMessageSize`` the server closes the socket unread; under it,
    the huge link value is ignored and nothing the server sends back quotes it."""
    import asyncio

    from benchmarks.huge_query import replies_to_rerun
    from tests.browser import streamlit_process

    env = {"BNN_SHARED": "1", "BNN_RUNS_DIR": str(tmp_path / "runs"), "BNN_DATA_DIR": str(mnist_dir)}
    with streamlit_process(env) as (url, _):
        over = asyncio.run(replies_to_rerun(url, "lr=" + "9" * 9_000_000, "Train"))
        under = asyncio.run(replies_to_rerun(url, "lr=" + "9" * 1_000_000, "Train"))
        after = asyncio.run(replies_to_rerun(url, "", "Train"))  # the server still serves everyone
    assert over is None  # refused: the socket was closed
    assert under is not None and after is not None
    assert sum(under) - sum(after) < 10_000, (sum(under), sum(after))  # the same page: nothing of it echoed


def test_a_run_name_full_of_markdown_fetches_nothing_and_links_nowhere(tmp_path, mnist_dir):
    """Every other tab that opens Compare sees a crafted run name as text: no image fetched, no link."""
    from playwright.sync_api import sync_playwright
    from test_page_compare import _run

    from bnn.jobs.run_folders import save_run

    runs = tmp_path / "runs"
    name = '![b](http://127.0.0.1:9/beacon.png) [phish](http://127.0.0.1:9/) <a href="http://127.0.0.1:9/">x</a>'
    save_run(_run(name, 1e-2, 91.0, created=1.0).but(owner="x" * 32), runs)
    env = {"BNN_SHARED": "1", "BNN_RUNS_DIR": str(runs), "BNN_DATA_DIR": str(mnist_dir)}
    with streamlit_server(env=env) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            fetched = []
            page.on("request", lambda request: fetched.append(request.url) if "127.0.0.1:9" in request.url else None)
            page.goto(f"{url}/Compare")
            page.get_by_text("Manage a run").wait_for(timeout=60_000)
            wait_for_app(page)
            page.get_by_text("Watching").wait_for(timeout=30_000)  # the caption with the name
            links = page.evaluate("() => [...document.querySelectorAll('a[href], img[src]')].map(e => e.href || e.src)")
            assert not [link for link in links if "127.0.0.1:9" in link] and not fetched
            text = page.inner_text("body").replace("\u200b", "")  # a zero-width space keeps a URL from linking
            assert "[phish](http://127.0.0.1:9/)" in text  # shown as the text it is
            assert_no_exception(page)
        finally:
            browser.close()
