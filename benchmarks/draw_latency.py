"""Latency of one drawing on the Draw page: on the server, and as a user sees it in Chromium.

    python benchmarks/draw_latency.py [--run assets/pretrained-fast] [--count 300] [--data-dir DIR]
    python benchmarks/draw_latency.py --browser [--drawings 20] [--data-dir DIR]

Server side: times :func:`bnn.draw.read_drawing` on :func:`bnn.draw.deployment_copy` of the
model (sign(W) stored once), exactly what the page runs per stroke, on 280x280 RGBA canvases made
from MNIST test digits (:func:`bnn.draw.digit_to_canvas`, not timed), one at a time on the CPU,
after a warm-up; budget p95 <= 20 ms.

``--browser``: starts ``streamlit run app.py`` and drives Debian Chromium (``tests/browser.py``):
on a cleared canvas it mouse-draws a one-stroke digit (``tests/test_browser_draw.py``) and
measures, inside the page, from the ``mouseup`` event of the stroke to the DOM mutation that
puts the "Prediction" value on screen. First with nothing training (budget p95 <= 150 ms), then
after starting a ``fast`` run on the Train page of the same tab, which the Draw page then reads
(budget p95 <= 400 ms). ``--check`` exits 1 when a budget is exceeded. docs/draw-latency.md: where
the time went and what changed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bnn.data import DataError, load_mnist, resolve_data_dir  # noqa: E402
from bnn.draw import deployment_copy, digit_to_canvas, read_drawing  # noqa: E402
from bnn.runs import RunFormatError, load_run  # noqa: E402

BUDGET_P95_MS = 20.0
BROWSER_BUDGET_IDLE_MS = 150.0
BROWSER_BUDGET_TRAINING_MS = 400.0
WARMUP = 10
ONE_STROKE_DIGITS = [1, 7, 0, 2, 3, 5, 6, 8, 9]  # tests/test_browser_draw.py's digits drawn in one stroke

# Installed in the page before the stroke: the time of the stroke's mouseup, then of the first DOM
# change after it that shows a "Prediction" metric value (the canvas was cleared, so none is shown).
WATCH_PREDICTION = """() => {
  window.__bnn = {up: null, shown: null};
  const shown = () => [...document.querySelectorAll('[data-testid="stMetric"]')].some(
      m => m.innerText.includes('Prediction') && m.querySelector('[data-testid="stMetricValue"]'));
  window.addEventListener('mouseup', () => { window.__bnn.up = performance.now(); }, {capture: true, once: true});
  const observer = new MutationObserver(() => {
    if (window.__bnn.up !== null && shown()) { window.__bnn.shown = performance.now(); observer.disconnect(); }
  });
  observer.observe(document.body, {childList: true, subtree: true, characterData: true});
}"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def server_side(args: argparse.Namespace) -> int:
    try:
        run = load_run(args.run)
        data = load_mnist(args.data_dir)
    except (RunFormatError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if run.model() is None:
        print(f"error: {args.run} has no weights", file=sys.stderr)
        return 1
    model = deployment_copy(run.model())  # as the Draw page runs it
    count = max(1, min(args.count, len(data.test_labels)))
    canvases = [digit_to_canvas(data.test_images[i]) for i in range(count)]
    for canvas in canvases[:WARMUP]:
        read_drawing(model, canvas)

    times_ms, right = [], 0
    for canvas, label in zip(canvases, data.test_labels[:count].tolist()):
        started = time.perf_counter()
        reading = read_drawing(model, canvas)
        times_ms.append((time.perf_counter() - started) * 1000)
        right += reading is not None and reading.predicted == label
    p50, p95 = statistics.median(times_ms), percentile(times_ms, 95)
    print(
        f"model {run.name} ({run.preset or 'custom'}), {count} canvases of 280x280, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(
        f"read_drawing (preprocess + inference + activations): p50 {p50:.2f} ms, p95 {p95:.2f} ms, "
        f"max {max(times_ms):.2f} ms; {right / count:.1%} read right"
    )
    within = p95 <= BUDGET_P95_MS
    print(f"budget p95 <= {BUDGET_P95_MS:g} ms: {'met' if within else 'EXCEEDED'}")
    return 0 if within or not args.check else 1


def time_drawings(page, count: int, label: str) -> list[float]:
    """Mouse-up -> Prediction on screen (ms) for ``count`` one-stroke digits, each on a cleared canvas."""
    from tests.test_browser_draw import clear, draw_digit, predicted_digit

    times = []
    for i in range(count):
        digit = ONE_STROKE_DIGITS[i % len(ONE_STROKE_DIGITS)]
        page.evaluate(WATCH_PREDICTION)
        draw_digit(page, digit)
        page.wait_for_function("() => window.__bnn.shown !== null", timeout=30_000)
        times.append(page.evaluate("() => window.__bnn.shown - window.__bnn.up"))
        read = predicted_digit(page)
        print(f"  {label} #{i + 1}: drew {digit}, read {read}, {times[-1]:.0f} ms", flush=True)
        clear(page)
    return times


def report(label: str, times: list[float], budget: float) -> bool:
    p50, p95 = statistics.median(times), percentile(times, 95)
    within = p95 <= budget
    print(
        f"browser, {label}: mouse-up -> Prediction on screen over {len(times)} drawings: p50 {p50:.0f} ms, "
        f"p95 {p95:.0f} ms, max {max(times):.0f} ms; budget p95 <= {budget:g} ms: {'met' if within else 'EXCEEDED'}"
    )
    return within


def load_note() -> str:
    load1, load5, _ = os.getloadavg()
    return f"load average {load1:.2f} (1 min), {load5:.2f} (5 min) on {os.cpu_count()} cores"


def in_browser(args: argparse.Namespace) -> int:
    from tests.browser import browser_available, chromium_page, streamlit_server, wait_for_app
    from tests.test_browser_draw import TRAINING_FOLD, open_draw_page

    if not browser_available():
        print("error: needs /usr/bin/chromium and playwright", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as runs:
        env = {"BNN_DATA_DIR": str(resolve_data_dir(args.data_dir)), "BNN_RUNS_DIR": runs}
        with streamlit_server(env=env) as url, chromium_page(1400, 1000) as page:
            open_draw_page(page, url)
            time_drawings(page, 2, "warm-up")
            print(f"before: {load_note()}")
            idle = time_drawings(page, args.drawings, "no run training")
            page.get_by_role("link", name="Train").first.click()
            page.get_by_role("button", name="Start").click()
            page.get_by_text(TRAINING_FOLD).wait_for(timeout=60_000)
            page.get_by_role("link", name="Draw").first.click()
            wait_for_app(page)
            page.get_by_text("Draw a digit on the black canvas").wait_for(timeout=60_000)
            training = time_drawings(page, args.drawings, "fast run training")
            body = page.inner_text("body")
            still = "training" in body.lower()
            print(f"after: {load_note()}; the run was {'still' if still else 'no longer'} training at the end")
    ok = report("no run training", idle, BROWSER_BUDGET_IDLE_MS)
    ok &= report("a fast run training in the same server", training, BROWSER_BUDGET_TRAINING_MS)
    return 0 if ok or not args.check else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=ROOT / "assets" / "pretrained-fast", help="saved run to time")
    parser.add_argument("--count", type=int, default=300, help="test digits to time")
    parser.add_argument("--data-dir", help="MNIST directory (default: $BNN_DATA_DIR or a per-user cache)")
    parser.add_argument("--browser", action="store_true", help="measure in Chromium, idle and while a run trains")
    parser.add_argument("--drawings", type=int, default=20, help="drawings per condition with --browser")
    parser.add_argument("--check", action="store_true", help="exit 1 if a p95 budget is exceeded")
    args = parser.parse_args()
    return in_browser(args) if args.browser else server_side(args)


if __name__ == "__main__":
    sys.exit(main())
