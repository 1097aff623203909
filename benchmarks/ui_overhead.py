"""How much training speed the open Train page costs: the same run with and without the page.

    python benchmarks/ui_overhead.py [--preset fast] [--train-subset N] [--epochs N] [--repeats 1]
                                     [--phase-seconds 10] [--interleaved-epochs 10]

Two measurements (speed = training samples per second):

* **Interleaved** (the budget): one run in ``streamlit run app.py`` while headless Chromium
  alternately shows the Train page (charts refreshing every second) and ``about:blank`` (no
  session: the server idles, the run trains as it would headless), ``--phase-seconds`` each.
  Each 20-step record is matched to the phase it fell in (the first 3 s of a phase left out:
  opening the page and the switch itself); the ratio is the median speed with the page open
  over the median with it closed. The two conditions share the run, the process and the
  minutes, so the machine's drift (20% between two identical headless runs here) cancels.
* **Whole runs**: the preset's run as a :class:`bnn.jobs.training_job.TrainingJob` in this process
  (headless), then the same run started with the Start button with the page open throughout
  (page load, plotly.js and evaluations included), then headless again; speed over the whole
  run (evaluations excluded) and as the median of its 20-step records.

Exits with status 1 when the interleaved ratio is below 0.8 (the Train page's budget).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bnn.config.presets import PRESETS  # noqa: E402
from bnn.jobs.training_job import TrainingJob  # noqa: E402
from bnn.training.data import load_mnist  # noqa: E402
from bnn.training.devices import cpu_threads_for  # noqa: E402
from tests.browser import chromium_page, streamlit_server, wait_for_app  # noqa: E402

BUDGET = 0.8
PHASE_GUARD = 3.0  # seconds left out at the start of each phase


def samples_per_second(summary: dict, config) -> float:
    samples = summary["steps"] * config.train.batch_size
    return samples / max(summary["train_seconds"], 1e-9)


def steady(records: list[dict]) -> float:
    """Median speed over the run's records (20 steps each): the start and the evaluations left out."""
    return statistics.median(r["samples_per_s"] for r in records)


def headless(config) -> tuple[float, float]:
    job = TrainingJob(config, load_mnist(), name="headless").start()
    job.join()
    snapshot = job.snapshot()
    return samples_per_second(snapshot.summary, config), steady(snapshot.records)


def train_page_url(base: str, preset: str, subset: int, epochs: int) -> str:
    return f"{base}/Train?preset={preset}&sub={subset}&ep={epochs}"


def open_train_page(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Start").wait_for(timeout=60_000)  # the settings may be folded
    wait_for_app(page)


def start_run(page) -> str:
    """Press Start; the page's URL then names the run (``run=``): reopening it shows that run."""
    page.get_by_role("button", name="Start").click()
    page.wait_for_url("**run=**", timeout=60_000)
    return page.url


def saved_metrics(runs: str) -> dict | None:
    """The run's metrics once the app has saved it (a page run after its end does that)."""
    files = list(Path(runs).glob("*/metrics.json"))
    return json.loads(files[0].read_text()) if files else None


def with_page(config, preset: str, subset: int, epochs: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as runs:
        with streamlit_server(env={"BNN_RUNS_DIR": runs}) as url, chromium_page(1400, 2200) as page:
            open_train_page(page, train_page_url(url, preset, subset, epochs))
            start_run(page)
            deadline = time.monotonic() + 1800
            while (metrics := saved_metrics(runs)) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError("the run did not finish within 30 minutes")
                page.wait_for_timeout(1000)  # the page stays open and keeps polling meanwhile
    return samples_per_second(metrics["summary"], config), steady(metrics["records"])


@dataclass(frozen=True)
class Phase:
    page_open: bool
    start: float  # Unix time
    end: float


def interleaved(preset: str, subset: int, epochs: int, phase_seconds: float) -> tuple[list[Phase], dict]:
    """One run in the app with the Train page open and closed in turns; its phases and metrics."""
    with tempfile.TemporaryDirectory() as runs:
        with streamlit_server(env={"BNN_RUNS_DIR": runs}) as url, chromium_page(1400, 2200) as page:
            train_url = train_page_url(url, preset, subset, epochs)
            open_train_page(page, train_url)
            train_url = start_run(page)
            phases, page_open, since = [], True, time.time()
            deadline = time.monotonic() + 3600
            while (metrics := saved_metrics(runs)) is None:  # saved by a page run after the end
                if time.monotonic() > deadline:
                    raise TimeoutError("the run did not finish within an hour")
                page.wait_for_timeout(500)
                if time.time() - since >= phase_seconds:
                    phases.append(Phase(page_open, since, time.time()))
                    page_open, since = not page_open, time.time()
                    if page_open:
                        open_train_page(page, train_url)  # a new session, showing the run its URL names
                    else:
                        page.goto("about:blank")
            phases.append(Phase(page_open, since, time.time()))
    return phases, metrics


def speeds_by_phase(phases: list[Phase], metrics: dict, guard: float) -> list[tuple[Phase, list[float]]]:
    """Each record's speed, under the phase its whole 20-step interval fell in (past the guard)."""
    started = metrics["summary"]["started_at"]
    previous = started
    grouped = [(phase, []) for phase in phases]
    for record in metrics["records"]:
        begin, end = previous, started + record["time"]
        previous = end
        for phase, speeds in grouped:
            if phase.start + guard <= begin and end <= phase.end:
                speeds.append(record["samples_per_s"])
    return [(phase, speeds) for phase, speeds in grouped if speeds]


def report_interleaved(preset: str, subset: int, epochs: int, phase_seconds: float) -> float:
    phases, metrics = interleaved(preset, subset, epochs, phase_seconds)
    grouped = speeds_by_phase(phases, metrics, PHASE_GUARD)
    pooled = {
        state: [s for phase, speeds in grouped if phase.page_open == state for s in speeds] for state in (True, False)
    }
    if not pooled[True] or not pooled[False]:
        raise RuntimeError("the run was too short for both phases; raise --interleaved-epochs")
    print(
        f"interleaved: one run of {epochs} epoch(s) of {subset or 60000:,} images, the Train page "
        f"open / closed in turns of {phase_seconds:g} s (first {PHASE_GUARD:g} s of each left out)"
    )
    for phase, speeds in grouped:
        print(
            f"  {'open  ' if phase.page_open else 'closed'} {phase.start - phases[0].start:6.1f} s  "
            f"{len(speeds):3d} records  median {statistics.median(speeds):7,.0f} samples/s"
        )
    open_speed, closed_speed = (statistics.median(pooled[state]) for state in (True, False))
    ratio = open_speed / closed_speed
    print(f"  page closed     {closed_speed:9,.0f} samples/s  ({len(pooled[False])} records)")
    print(f"  Train page open {open_speed:9,.0f} samples/s  ({len(pooled[True])} records)")
    print(f"  ratio           {ratio:9.2f}  (budget >= {BUDGET})")
    return ratio


def report_whole_runs(config, preset: str, subset: int, epochs: int, repeats: int) -> None:
    alone, watched = [], []
    for _ in range(repeats):
        alone.append(headless(config))
        watched.append(with_page(config, preset, subset, epochs))
    alone.append(headless(config))  # bracket the page runs: other load on the machine drifts
    print(f"whole runs: {epochs} epoch(s) of {subset or 60000:,} images")
    for column, label in ((0, "whole run"), (1, "steady (median of 20-step records)")):
        base = statistics.median(run[column] for run in alone)
        page = statistics.median(run[column] for run in watched)
        print(f"  {label}:")
        print(f"    headless        {base:9,.0f} samples/s  (runs: {', '.join(f'{r[column]:,.0f}' for r in alone)})")
        print(f"    Train page open {page:9,.0f} samples/s  (runs: {', '.join(f'{r[column]:,.0f}' for r in watched)})")
        print(f"    ratio           {page / base:9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast", choices=list(PRESETS))
    parser.add_argument("--train-subset", type=int, help="training images (default: the preset's run)")
    parser.add_argument("--epochs", type=int, help="whole runs; default: the preset's")
    parser.add_argument(
        "--repeats", type=int, default=1, help="whole runs: alternate headless and page runs this often (0: skip them)"
    )
    parser.add_argument("--interleaved-epochs", type=int, default=10, help="the interleaved run's epochs")
    parser.add_argument("--phase-seconds", type=float, default=10.0, help="interleaved: page open / closed turns")
    args = parser.parse_args()
    preset = PRESETS[args.preset]
    subset = preset.train.train_subset if args.train_subset is None else args.train_subset
    epochs = args.epochs or preset.train.epochs
    config = preset.replace_train(train_subset=subset, epochs=epochs)
    os.environ.setdefault("BNN_DATA_DIR", str(ROOT.parent / "shared" / "data" / "mnist"))
    load_mnist()
    print(f"{args.preset}: {cpu_threads_for(config)} torch thread(s), OMP_WAIT_POLICY=PASSIVE in the app")
    ratio = report_interleaved(args.preset, subset, args.interleaved_epochs, args.phase_seconds)
    if args.repeats:
        report_whole_runs(config, args.preset, subset, epochs, args.repeats)
    sys.exit(0 if ratio >= BUDGET else 1)


if __name__ == "__main__":
    main()
