"""The Train page in a real browser (`streamlit run` + Debian Chromium at 1400x900): Start is on
the first screen; a run shows its progress and the live chart updates in place while it trains;
its learning rate and one layer's activation binarization are changed mid-run and both edits are
marked on the chart and kept in the saved run; `seed` shows its NaN steps on the flat line and
the diagnosis points at them."""

from __future__ import annotations

import re

import pytest

from bnn.jobs.run_listing import list_runs
from tests.browser import (
    assert_no_exception,
    browser_available,
    chromium_page,
    streamlit_server,
    wait_for_app,
    wait_for_text,
    wait_until_idle,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not browser_available(), reason="needs /usr/bin/chromium and playwright"),
]
LONG_RUN = "preset=fast&layers=d256-wab-0.0_d256-wab-0.0_d10-wb-0.0&sub=0&ep=10&bs=20"  # 30,000 steps; stopped early
DIAGNOSIS = "Diagnosis: why is my BNN not learning?"


def _env(tmp_path, mnist_dir) -> dict[str, str]:
    return {
        "BNN_RUNS_DIR": str(tmp_path / "runs"),
        "BNN_DATA_DIR": str(mnist_dir),
        "BNN_STREAMLIT_LOG": str(tmp_path / "streamlit.log"),
    }


# the run name of the points the live chart drew last ("<run name>/..." is the chart's version)
CHART_VERSION = """() => {
  const host = document.querySelector("iframe[title='live training chart']").closest(".bnn-live-chart");
  return host.dataset.version || "";
}"""
# the chart shows points of a run other than the given one (or stays false: e.g. the chart failed)
NEXT_RUN_DRAWN = """name => {
  const frame = document.querySelector("iframe[title='live training chart']");
  const host = frame && frame.closest(".bnn-live-chart");
  const graph = frame && frame.contentDocument.querySelector(".js-plotly-plot");
  const run = host && (host.dataset.version || "").split("/")[0];
  return Boolean(run && run !== name && graph && graph.data && graph.data.some(t => t.x && t.x.length));
}"""
# Polled in the page until it has seen 3 different progress steps and 2 different drawings of the
# live chart's first line; it marks the chart's graph at its first drawing, to see it redrawn in place.
PROGRESS_AND_REDRAWS = r"""() => {
  const seen = (window.bnnSeen ||= {steps: new Set(), lines: new Set()});
  const step = document.body.innerText.match(/step ([\d,]+) \/ 30,000/);
  if (step) seen.steps.add(Number(step[1].replaceAll(",", "")));
  const frame = document.querySelector("iframe[title='live training chart']");
  const graph = frame && frame.contentDocument && frame.contentDocument.querySelector(".js-plotly-plot");
  const line = graph && graph.querySelector(".scatterlayer path.js-line");
  if (line && line.getAttribute("d")) {
    if (!seen.lines.size) graph.dataset.bnnFirst = "yes";
    seen.lines.add(line.getAttribute("d"));
  }
  return seen.steps.size >= 3 && seen.lines.size >= 2 && {steps: [...seen.steps], lines: seen.lines.size};
}"""


def test_live_edits_while_the_run_trains_are_marked_and_saved(tmp_path, mnist_dir):
    with streamlit_server(env=_env(tmp_path, mnist_dir)) as url, chromium_page(1400, 900) as page:
        page.goto(f"{url}/Train?{LONG_RUN}")
        start = page.get_by_role("button", name="Start")
        start.wait_for(timeout=60_000)
        wait_for_app(page)
        box = start.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 900, f"Start is below the first screen: {box}"
        start.click()

        chart = page.frame_locator("iframe[title='live training chart']")  # ui.live_chart.live_plotly_chart
        seen = page.wait_for_function(PROGRESS_AND_REDRAWS, timeout=240_000, polling=250).json_value()
        assert len(set(seen["steps"]) - {0}) >= 2, f"progress not seen: {seen}"
        assert seen["lines"] >= 2, "the loss chart never changed while training"
        assert chart.locator(".js-plotly-plot[data-bnn-first='yes']").count() == 1, "the chart was mounted anew"
        assert start.is_disabled(), "Start stays enabled while this tab's run trains"
        assert page.get_by_text("Folded while the run shown trains").count() == 1

        slider = page.get_by_role("slider").first  # the live learning-rate knob (the settings are folded)
        slider.focus()
        page.keyboard.press("ArrowLeft")  # 1e-2 -> 5e-3
        wait_for_text(page, r"step [\d,]+: lr 1e-02 → 5e-03", 60_000, tmp_path / "lr-missing.png")
        switch = page.get_by_role("checkbox", name="binarize activations of dense2 in the running run")
        for _ in range(3):  # a click that lands while the page redraws after the last edit is lost
            wait_until_idle(page)
            if switch.is_checked():
                switch.uncheck(force=True)
            try:
                wait_for_text(page, r"step [\d,]+: dense2 activations binary → real", 20_000, tmp_path / "edit.png")
                break
            except AssertionError:
                pass
        else:
            raise AssertionError("the activation switch was never applied (edit.png)")
        for label in ("lr 1e-02 → 5e-03", "dense2 activations binary → real"):  # drawn on the live chart
            chart.get_by_text(label).first.wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "edited.png"))  # kept in pytest's tmp dir, to look at

        page.get_by_role("button", name="Stop").click()
        page.wait_for_selector(f"text={DIAGNOSIS}", timeout=120_000)
        assert "· stopped" in page.inner_text("body")
        chart.get_by_text("lr 1e-02 → 5e-03").first.wait_for(timeout=30_000)  # the ended chart keeps them
        assert chart.locator(".js-plotly-plot[data-bnn-first='yes']").count() == 1, "the ended chart was mounted anew"
        assert_no_exception(page)
    (saved,) = list_runs(tmp_path / "runs")
    assert [(e["setting"], e["layer"]) for e in saved.summary["edits"]] == [
        ("lr", None),
        ("binarize_activations", "dense2"),
    ]


def test_seed_shows_its_nan_steps_on_the_flat_line_and_the_diagnosis_points_at_them(tmp_path, mnist_dir):
    with streamlit_server(env=_env(tmp_path, mnist_dir)) as url, chromium_page(1400, 900) as page:
        page.goto(f"{url}/Train?preset=seed&ep=1&sub=10000")
        page.get_by_role("button", name="Start").wait_for(timeout=60_000)
        wait_for_app(page)
        page.get_by_role("button", name="Start").click()
        wait_for_text(page, r"loss NaN since step 2", 60_000, tmp_path / "nan-missing.png")
        page.wait_for_selector(f"text={DIAGNOSIS}", timeout=120_000)
        # the page polls the run: its chart evidence may come a tick after the diagnosis heading
        wait_for_text(page, r"stays flat at [\d.]+%", 60_000, tmp_path / "flat-missing.png")
        body = page.inner_text("body")
        assert "diverged" in body and "step 100 / 100" in body  # it kept recording to the end
        chart = page.frame_locator("iframe[title='live training chart']")
        crosses = chart.locator(".js-plotly-plot .scatterlayer .point")  # the NaN-loss markers
        crosses.nth(3).wait_for(timeout=30_000)  # the chart draws after the text around it
        assert crosses.count() >= 4
        flat = re.search(r"train-batch accuracy stays flat at ([\d.]+)%", body)
        assert flat and 8 < float(flat.group(1)) < 12, "the diagnosis does not point at the flat line"
        assert "On the chart: the red crosses along the bottom of the Loss panel" in body
        assert page.get_by_role("button", name="Make active").is_disabled()
        page.screenshot(path=str(tmp_path / "seed.png"), full_page=True)
        assert_no_exception(page)

        # the next run draws in the same chart, which loses the ended run's lines (test set, NaN loss)
        first_run = page.evaluate(CHART_VERSION).split("/")[0]
        assert first_run.startswith("seed")
        page.get_by_role("button", name="Start").click()
        page.wait_for_function(NEXT_RUN_DRAWN, arg=first_run, timeout=60_000)
        assert page.get_by_text("BidiComponent Error").count() == 0, "the chart failed on the next run's points"
