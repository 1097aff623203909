"""Draw digits with the mouse on the Draw page's canvas in real Chromium and read the prediction.

``DIGIT_STROKES`` holds one hand-drawing of each digit as polylines in a unit box, drawn with
Playwright's mouse on the Draw page's canvas (``ui.widgets.drawing_canvas``).
The test draws a few; ``python tests/test_browser_draw.py`` draws all ten and prints the score.
"""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import (  # noqa: E402
    ROOT,
    assert_no_exception,
    browser_available,
    chromium_page,
    streamlit_server,
    wait_for_app,
)
from ui.widgets import CANVAS_CLASS  # noqa: E402

CANVAS = f"canvas.{CANVAS_CLASS}"
TRAINING_FOLD = re.compile(r"Folded while the run shown trains")  # the Train page while its run trains
Point = tuple[float, float]


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 24) -> list[Point]:
    """Points on an ellipse from angle ``start`` to ``end`` (radians; 0 = right, pi/2 = down)."""
    return [
        (cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in (start + (end - start) * i / (n - 1) for i in range(n))
    ]


# Each digit: strokes, each a polyline of (x, y) in a unit box (y down), drawn as a person would.
DIGIT_STROKES: dict[int, list[list[Point]]] = {
    0: [_arc(0.5, 0.5, 0.28, 0.42, -math.pi / 2, 1.55 * math.pi, 32)],
    1: [[(0.55, 0.08), (0.5, 0.5), (0.46, 0.92)]],
    2: [_arc(0.5, 0.3, 0.25, 0.2, math.pi, 2.2 * math.pi, 16) + [(0.22, 0.9), (0.8, 0.9)]],
    3: [
        _arc(0.47, 0.29, 0.25, 0.2, -0.8 * math.pi, 0.5 * math.pi, 16)
        + _arc(0.47, 0.7, 0.28, 0.21, -0.5 * math.pi, 0.8 * math.pi, 16)
    ],
    4: [[(0.3, 0.08), (0.22, 0.58), (0.8, 0.58)], [(0.66, 0.1), (0.64, 0.92)]],
    5: [[(0.76, 0.1), (0.32, 0.1), (0.28, 0.46)] + _arc(0.48, 0.67, 0.28, 0.23, -0.65 * math.pi, 0.8 * math.pi, 18)],
    6: [[(0.68, 0.08), (0.45, 0.3), (0.3, 0.55)] + _arc(0.5, 0.7, 0.22, 0.2, math.pi, 3 * math.pi, 24)],
    7: [[(0.2, 0.12), (0.8, 0.12), (0.42, 0.92)]],
    8: [[(0.5 - 0.24 * math.sin(2 * t), 0.5 - 0.41 * math.cos(t)) for t in (2 * math.pi * i / 48 for i in range(49))]],
    9: [_arc(0.48, 0.3, 0.24, 0.2, 0.0, -2 * math.pi, 24) + [(0.7, 0.6), (0.66, 0.92)]],
}
BOX = 0.72  # share of the canvas side the unit box takes, centred
PREDICTION = '[data-testid="prediction"]'  # the digit the page's engine reads (assets/draw_canvas.js)
# True once the canvas component has read everything drawn so far (no animation frame pending).
READ = "() => { const s = window.__bnnDraw; return Boolean(s && s.model && !s.pending); }"


def draw_digit(page, digit: int) -> None:
    """Mouse-draw ``digit`` on the canvas (one press-move-release per stroke); the page reads it as it goes."""
    canvas = page.locator(CANVAS).first
    box = canvas.bounding_box()
    side = min(box["width"], box["height"])
    left = box["x"] + (box["width"] - side * BOX) / 2
    top = box["y"] + (box["height"] - side * BOX) / 2
    for stroke in DIGIT_STROKES[digit]:
        points = [(left + x * side * BOX, top + y * side * BOX) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=4)
        page.mouse.up()
    page.wait_for_function(READ, timeout=30_000)


def predicted_digit(page) -> str:
    """The digit the page shows for the strokes drawn (read in the page, no server round trip)."""
    page.wait_for_function(READ, timeout=30_000)
    value = page.locator(PREDICTION).first
    value.wait_for(timeout=30_000)
    return value.inner_text().strip()


def clear(page) -> None:
    page.get_by_role("button", name="Clear").click()
    page.wait_for_function(READ, timeout=30_000)
    assert page.locator(PREDICTION).first.inner_text().strip() == ""


def open_draw_page(page, url: str) -> None:
    page.goto(f"{url}/Draw")
    wait_for_app(page)
    page.locator(CANVAS).first.wait_for(timeout=60_000)
    page.wait_for_function(READ, timeout=60_000)  # the packed network is loaded in the page


def read_digits(page, url: str, digits: list[int], screenshots: Path | None = None) -> dict[int, str]:
    open_draw_page(page, url)
    seen = {}
    for digit in digits:
        draw_digit(page, digit)
        try:
            seen[digit] = predicted_digit(page)
        except Exception:
            if screenshots is not None:
                page.screenshot(path=str(screenshots / f"draw-{digit}-failed.png"), full_page=True)
            raise
        assert_no_exception(page)
        if screenshots is not None:
            page.screenshot(path=str(screenshots / f"draw-{digit}.png"), full_page=True)
        clear(page)
    return seen


def server_env() -> dict[str, str]:
    return {"BNN_DATA_DIR": os.environ.get("BNN_DATA_DIR", "")} if os.environ.get("BNN_DATA_DIR") else {}


@pytest.mark.browser
@pytest.mark.skipif(not browser_available(), reason="Chromium or Playwright is missing")
@pytest.mark.skipif(not (ROOT / "app.py").exists(), reason="app.py is missing")
def test_mouse_drawn_digits_are_read():
    with streamlit_server(env=server_env()) as url, chromium_page() as page:
        seen = read_digits(page, url, [1, 0, 7])
    assert seen == {1: "1", 0: "0", 7: "7"}


@pytest.mark.browser
@pytest.mark.skipif(not browser_available(), reason="Chromium or Playwright is missing")
def test_the_page_shows_the_reading_as_it_is_drawn():
    """Mid-stroke the prediction is already there; the aria-live region, the layers' ±1 views with their
    changed units counted, and a unit's hover details."""
    with streamlit_server(env=server_env()) as url, chromium_page() as page:
        open_draw_page(page, url)
        box = page.locator(CANVAS).first.bounding_box()
        page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.2 * box["height"])
        page.mouse.down()
        page.mouse.move(box["x"] + 0.7 * box["width"], box["y"] + 0.2 * box["height"], steps=6)
        page.wait_for_function(READ, timeout=30_000)
        assert page.locator(PREDICTION).first.inner_text().strip().isdigit()  # read before the pen is lifted
        assert "wider than it is tall" in page.locator(".bnn-status").first.inner_text()  # a dash is no digit
        page.mouse.move(box["x"] + 0.45 * box["width"], box["y"] + 0.85 * box["height"], steps=8)
        page.mouse.up()
        page.wait_for_function(READ, timeout=30_000)
        status = page.get_by_role("status", name="Prediction")
        assert status.get_attribute("aria-live") == "polite"
        assert page.locator(PREDICTION).first.inner_text().strip() == "7"
        assert "wider" not in page.locator(".bnn-status").first.inner_text()
        captions = page.locator(".bnn-layer figcaption").all_inner_texts()
        assert len(captions) == 2 and all(re.search(r"of 1024 at \+1 · [1-9]\d* changed", c) for c in captions), (
            captions
        )
        layer = page.locator(".bnn-layer canvas").first
        cell = layer.bounding_box()
        page.mouse.move(cell["x"] + 66, cell["y"] + 3)  # the first cell, right of the group labels
        assert re.match(r"dense1 unit \d+ · favours \d: [+−]1", layer.get_attribute("title") or ""), (
            layer.get_attribute("title")
        )
        assert_no_exception(page)


# Polled in the page: the Draw page's readings of a training run, (step, prediction, probability),
# each kept when it differs from the one before; done at 3 different steps and 2 different readings.
READINGS = r"""() => {
  const seen = (window.bnnReadings ||= []);
  const s = window.__bnnDraw;
  const note = s ? s.note.textContent : "";
  const step = note.match(/at step ([\d,]+) of/);
  const probability = s && s.probability.textContent.match(/(\d+)% probability/);
  const value = s && s.digit.textContent;
  if (step && probability && value) {
    const reading = [Number(step[1].replaceAll(",", "")), value.trim(), probability[1]];
    if (!seen.length || seen[seen.length - 1].join() !== reading.join()) seen.push(reading);
  }
  const steps = new Set(seen.map(r => r[0]));
  const shown = new Set(seen.map(r => r[1] + " " + r[2]));
  return steps.size >= 3 && shown.size >= 2 && seen;
}"""


@pytest.mark.browser
@pytest.mark.skipif(not browser_available(), reason="Chromium or Playwright is missing")
def test_a_run_started_on_train_is_read_on_draw_while_it_learns(tmp_path, mnist_dir):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    env = {"BNN_DATA_DIR": str(mnist_dir), "BNN_RUNS_DIR": str(tmp_path / "runs")}
    with streamlit_server(env=env) as url, chromium_page(1400, 1400) as page:
        page.goto(f"{url}/Train")
        page.wait_for_selector("text=Preset", timeout=60_000)
        wait_for_app(page)
        page.get_by_role("button", name="Start").click()  # the fast preset
        page.get_by_text(TRAINING_FOLD).wait_for(timeout=60_000)
        page.get_by_role("link", name="Draw").first.click()  # same tab: its running run is the default
        page.locator(CANVAS).first.wait_for(timeout=60_000)
        box = page.get_by_test_id("stSelectbox").filter(has_text="Network").first
        picker = box.evaluate("el => [...el.querySelectorAll('input')].map(i => i.value).join(' ') + el.innerText")
        assert "(training)" in picker, f"the picker does not show the training run: {picker}"
        draw_digit(page, 7)
        try:
            readings = page.wait_for_function(READINGS, timeout=240_000, polling=250).json_value()
        except PlaywrightTimeout:
            readings = page.evaluate("() => window.bnnReadings || []")
        page.screenshot(path=str(tmp_path / "draw-while-training.png"), full_page=True)
        assert_no_exception(page)
    seen = [tuple(reading) for reading in readings]
    steps = [step for step, _, _ in seen]
    assert len(set(steps)) >= 3 and steps == sorted(steps), f"no refresh with newer weights: {seen}"
    assert len({r[1:] for r in seen}) >= 2, f"the prediction for the drawing never changed: {seen}"


if __name__ == "__main__":
    out = Path(os.environ.get("BNN_SCREENSHOTS", "screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    with streamlit_server(env=server_env()) as url, chromium_page() as page:
        seen = read_digits(page, url, list(range(10)), out)
    right = sum(seen[d] == str(d) for d in seen)
    print("drawn -> read:", ", ".join(f"{d}->{seen[d]}" for d in seen))
    print(f"{right} of {len(seen)} mouse-drawn digits read right")
