"""Latency of one drawing on the Draw page: on the server, and as a user sees it in Chromium.

    python benchmarks/draw_latency.py [--run assets/pretrained-fast] [--count 300] [--data-dir DIR]
    python benchmarks/draw_latency.py --browser [--drawings 20] [--data-dir DIR]

Server side: times :func:`bnn.analysis.drawing.read_drawing` on :func:`bnn.analysis.drawing.deployment_copy` of the
model (sign(W) stored once), exactly what the page runs per stroke, on 280x280 RGBA canvases made
from MNIST test digits (:func:`bnn.analysis.drawing.digit_to_canvas`, not timed), one at a time on the CPU,
after a warm-up; budget p95 <= 20 ms.

``--browser``: starts ``streamlit run app.py`` and drives Debian Chromium (``tests/browser.py``):
on cleared canvases it mouse-draws the hand-drawn digits of ``tests/test_browser_draw.py`` slowly,
and the page times itself (``assets/draw_canvas.js``, ``performance.now()``): from each pointer
event to the new prediction painted (the page reads the drawing in the next animation frame, at
most once per frame; a task posted from that frame runs once the frame is rendered), and the packed
engine's and the preprocessing's own time per read.
For ``fast`` (the shipped pretrained run) and ``best`` (an untrained network of that architecture,
saved for the benchmark: the engine's time does not depend on the weights), with nothing training,
then with a ``fast`` run started on the Train page of the same tab. Budget p95 <= 16 ms (one frame
at 60 Hz); ``--check`` exits 1 when it is exceeded. docs/draw-latency.md: where the time went before.
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

from bnn.analysis.drawing import deployment_copy, digit_to_canvas, read_drawing  # noqa: E402
from bnn.jobs.run_folders import load_run  # noqa: E402
from bnn.jobs.run_format import RunFormatError  # noqa: E402
from bnn.training.data import DataError, load_mnist, resolve_data_dir  # noqa: E402

BUDGET_P95_MS = 20.0
BROWSER_BUDGET_MS = 16.0  # one frame at 60 Hz: pointer event -> new prediction painted, p95
WARMUP = 10
DIGITS = [1, 7, 0, 2, 3, 4, 5, 6, 8, 9]  # tests/test_browser_draw.py's hand-drawn digits
BEST_RUN = "best-latency"  # the saved best network the benchmark picks
TRAINING_EPOCHS = 20  # `fast` with 20 epochs: minutes of training, longer than the two cells that draw meanwhile
NETWORKS = [("fast", "Pretrained fast", "pretrained fast"), ("best", BEST_RUN, BEST_RUN)]  # preset, picker, name


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


def time_drawings(page, count: int, label: str) -> dict[str, list[float]]:
    """Draw ``count`` digits slowly, each on a cleared canvas; the page's own timings (assets/draw_canvas.js):
    pointer event -> new prediction painted, the engine and the preprocessing per read."""
    from tests.test_browser_draw import clear, draw_digit, predicted_digit

    page.evaluate("() => { const s = window.__bnnDraw; s.latencies = []; s.engineMs = []; s.preMs = []; }")
    read = []
    for i in range(count):
        digit = DIGITS[i % len(DIGITS)]
        draw_digit(page, digit)
        read.append(predicted_digit(page) == str(digit))
        clear(page)
    timings = page.evaluate("() => { const s = window.__bnnDraw; return [s.latencies, s.engineMs, s.preMs]; }")
    print(f"  {label}: {count} digits drawn, {sum(read)} read right", flush=True)
    return dict(zip(("pointer -> painted", "engine", "preprocessing"), timings))


def report(label: str, timings: dict[str, list[float]], budget: float) -> bool:
    latency = timings["pointer -> painted"]
    p50, p95 = statistics.median(latency), percentile(latency, 95)
    within = p95 <= budget
    parts = [
        f"{name} p50 {statistics.median(values):.2f} ms, p95 {percentile(values, 95):.2f} ms"
        for name, values in timings.items()
        if name != "pointer -> painted"
    ]
    print(
        f"browser, {label}: pointer event -> new prediction painted over {len(latency)} reads: p50 {p50:.1f} ms, "
        f"p95 {p95:.1f} ms, max {max(latency):.1f} ms (budget p95 <= {budget:g} ms: "
        f"{'met' if within else 'EXCEEDED'}); " + "; ".join(parts)
    )
    return within


def load_note() -> str:
    load1, load5, _ = os.getloadavg()
    return f"load average {load1:.2f} (1 min), {load5:.2f} (5 min) on {os.cpu_count()} cores"


def save_best(runs: str) -> str:
    """A ``best`` network (untrained: the engine's time does not depend on the weights) saved as a run."""
    from bnn.config.presets import PRESETS
    from bnn.jobs.run import Run, Status
    from bnn.jobs.run_folders import save_run
    from bnn.network.models import build_model

    config = PRESETS["best"]
    model = build_model(config.model).eval()
    save_run(Run(name=BEST_RUN, config=config, status=Status.FINISHED, preset="best"), runs, model=model)
    return BEST_RUN


def pick(page, label: str, name: str) -> None:
    """Choose the network whose picker label contains ``label``; wait until the page runs ``name``."""
    import re

    from tests.browser import wait_for_app
    from tests.test_browser_draw import READ

    page.get_by_test_id("stSelectbox").filter(has_text="Network").first.click()
    page.get_by_role("option", name=re.compile(re.escape(label))).first.click()
    wait_for_app(page)
    ready = f"name => ({READ})() && window.__bnnDraw.note.textContent.startsWith(name)"
    page.wait_for_function(ready, arg=name)


def in_browser(args: argparse.Namespace) -> int:
    from tests.browser import browser_available, chromium_page, streamlit_server, wait_for_app
    from tests.test_browser_draw import TRAINING_FOLD, open_draw_page

    if not browser_available():
        print("error: needs /usr/bin/chromium and playwright", file=sys.stderr)
        return 1
    results = []
    with tempfile.TemporaryDirectory() as runs:
        save_best(runs)
        env = {"BNN_DATA_DIR": str(resolve_data_dir(args.data_dir)), "BNN_RUNS_DIR": runs}
        with streamlit_server(env=env) as url, chromium_page(1400, 1000) as page:
            open_draw_page(page, url)
            time_drawings(page, 2, "warm-up")
            print(f"before: {load_note()}")
            for model, label, name in NETWORKS:
                pick(page, label, name)
                results.append((f"{model}, nothing training", time_drawings(page, args.drawings, model)))
            page.goto(f"{url}/Train?ep={TRAINING_EPOCHS}")  # a run long enough to train through both cells
            wait_for_app(page)
            page.get_by_role("button", name="Start").click()
            page.get_by_text(TRAINING_FOLD).wait_for(timeout=60_000)
            page.get_by_role("link", name="Draw").first.click()
            wait_for_app(page)
            for model, label, name in NETWORKS:
                pick(page, label, name)
                results.append((f"{model}, a fast run training", time_drawings(page, args.drawings, model)))
            page.get_by_role("link", name="Train").first.click()  # the same session, which owns the run
            wait_for_app(page)
            still = page.get_by_text(TRAINING_FOLD).count() > 0
            print(f"after: {load_note()}; the run was {'still' if still else 'no longer'} training at the end")
    ok = all([report(label, timings, BROWSER_BUDGET_MS) for label, timings in results])
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
