"""How much training speed the open Train page costs: headless job vs the same job watched live.

    python benchmarks/ui_overhead.py [--preset fast] [--train-subset N] [--epochs N] [--repeats 1]

Headless: a preset's (default ``fast``) :class:`bnn.jobs.TrainingJob` in this process. With the page: ``streamlit run
app.py`` in a subprocess, the Train page open in headless Chromium (charts refreshing every
second), the same run started with the Start button; its speed is read from the run it saves.
Speed is training samples per second of training time (evaluations excluded), over the whole run
and as the median of its 20-step records (the steady state, without the start). Prints both
and their ratios; exits with status 1 when the whole-run ratio is below 0.8 (the Train page's
budget).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bnn.data import load_mnist  # noqa: E402
from bnn.jobs import TrainingJob  # noqa: E402
from bnn.presets import PRESETS  # noqa: E402
from bnn.train import cpu_threads_for  # noqa: E402
from tests.browser import chromium_page, streamlit_server, wait_for_app  # noqa: E402

BUDGET = 0.8


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


def with_page(config, preset: str, subset: int, epochs: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as runs:
        env = {"BNN_RUNS_DIR": runs}
        with streamlit_server(env=env) as url, chromium_page(1400, 2200) as page:
            page.goto(f"{url}/Train?preset={preset}&sub={subset}&ep={epochs}")
            page.wait_for_selector("text=Preset", timeout=60_000)
            wait_for_app(page)
            page.get_by_role("button", name="Start").click()
            deadline = time.monotonic() + 1800
            while not list(Path(runs).glob("*/metrics.json")):
                if time.monotonic() > deadline:
                    raise TimeoutError("the run did not finish within 30 minutes")
                page.wait_for_timeout(1000)  # the page stays open and keeps polling meanwhile
        metrics = json.loads(next(Path(runs).glob("*/metrics.json")).read_text())
    return samples_per_second(metrics["summary"], config), steady(metrics["records"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast", choices=list(PRESETS))
    parser.add_argument("--train-subset", type=int, help="training images (default: the preset's run)")
    parser.add_argument("--epochs", type=int, help="default: the preset's")
    parser.add_argument("--repeats", type=int, default=1, help="alternate headless and page runs this often")
    args = parser.parse_args()
    preset = PRESETS[args.preset]
    subset = preset.train.train_subset if args.train_subset is None else args.train_subset
    epochs = args.epochs or preset.train.epochs
    config = preset.replace_train(train_subset=subset, epochs=epochs)
    os.environ.setdefault("BNN_DATA_DIR", str(ROOT.parent / "shared" / "data" / "mnist"))
    load_mnist()
    alone, watched = [], []
    for _ in range(args.repeats):
        alone.append(headless(config))
        watched.append(with_page(config, args.preset, subset, epochs))
    alone.append(headless(config))  # bracket the page runs: other load on the machine drifts
    print(f"{args.preset}: {epochs} epoch(s) of {subset or 60000:,} images, "
          f"{cpu_threads_for(config)} torch thread(s), OMP_WAIT_POLICY=PASSIVE in the app")
    ratios = []
    for column, label in ((0, "whole run"), (1, "steady (median of 20-step records)")):
        base = statistics.median(run[column] for run in alone)
        page = statistics.median(run[column] for run in watched)
        ratios.append(page / base)
        print(f"{label}:")
        print(f"  headless        {base:9,.0f} samples/s  (runs: {', '.join(f'{r[column]:,.0f}' for r in alone)})")
        print(f"  Train page open {page:9,.0f} samples/s  (runs: {', '.join(f'{r[column]:,.0f}' for r in watched)})")
        print(f"  ratio           {page / base:9.2f}  (budget >= {BUDGET})")
    ratio = ratios[0]
    sys.exit(0 if ratio >= BUDGET else 1)


if __name__ == "__main__":
    main()
