"""Seconds per epoch of `fast` through every way in: the Train page, the notebook API, the CLI, and
the bare training steps that `profile_step` and `lean_step` time.

Each way trains one epoch (``--epochs``) in a fresh process, as a user starts it:

* ``steps``: a :class:`bnn.training.loop.Trainer` driven in the process's main thread (the
  benchmarks' way: no job, no thread, no saving);
* ``page``: :func:`ui.state.start_job`, what the Train page's Start calls (MNIST read by the
  calling thread, the run in a job's thread at the app's background priority, saved to a runs
  folder);
* ``notebook``: ``bnn.train("fast", epochs=1)`` (the notebook API, waiting for the run);
* ``cli``: ``python -m bnn train --preset fast --epochs 1 --json``.

Every way reports the trainer's own seconds of training steps per epoch (evaluations, loading and
saving excluded). The ways alternate within each round, so a noisy machine hits them alike; it
prints each way's seconds per epoch and its ratio to ``steps``.

    python -m benchmarks.entry_points [--rounds 3] [--epochs 1] [--threads 2] [--data-dir D] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

from bnn.training.data import resolve_data_dir

ROOT = Path(__file__).resolve().parents[1]

# each prints the seconds per epoch of training steps; {epochs} is filled in
WAYS = {
    "steps": """
from bnn.config.presets import preset
from bnn.config.schema import with_settings
from bnn.training.data import load_mnist, resolve_data_dir
from bnn.training.devices import use_cpu_threads_for
from bnn.training.loop import Trainer
config = with_settings(preset("fast"), {{"epochs": {epochs}}})
use_cpu_threads_for(config, "cpu")
trainer = Trainer(config, load_mnist(resolve_data_dir(None)), "cpu")
for _ in trainer.steps():
    pass
print(trainer.train_seconds / trainer.epoch)
""",
    "page": """
from bnn.config.presets import preset
from bnn.config.schema import with_settings
from ui import state
state.set_background_priority(state.BACKGROUND_NICE)  # as the app's warm_up sets it at the server's start
config = with_settings(preset("fast"), {{"epochs": {epochs}}})
key = state.start_job(config, "fast", state.load_mnist(state.data_dir()), preset="fast")
job = state.app_state().jobs[key]
job.join()
summary = job.snapshot().summary
print(summary["train_seconds"] / summary["epochs"])
""",
    "notebook": """
import bnn
summary = bnn.train("fast", epochs={epochs}).run.summary
print(summary["train_seconds"] / summary["epochs"])
""",
}


def seconds_per_epoch(way: str, epochs: int, env: dict[str, str]) -> float:
    """One epoch-count run of ``way`` in a fresh process: its seconds per epoch of training steps."""
    if way == "cli":
        command = [sys.executable, "-m", "bnn", "train", "--preset", "fast", "--epochs", str(epochs), "--json"]
        command += ["--out", env["BNN_RUNS_DIR"]]
    else:
        command = [sys.executable, "-c", WAYS[way].format(epochs=epochs)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT, check=True)
    last = done.stdout.strip().splitlines()[-1]
    return float(json.loads(last)["seconds_per_epoch"] if way == "cli" else last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ways = [*WAYS, "cli"]
    measured: dict[str, list[float]] = {way: [] for way in ways}
    with tempfile.TemporaryDirectory() as runs:
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "BNN_RUNS_DIR": runs}
        env["BNN_DATA_DIR"] = str(resolve_data_dir(args.data_dir))
        for number in range(1, args.rounds + 1):
            for way in ways:
                measured[way].append(seconds_per_epoch(way, args.epochs, env))
            if not args.json:
                row = ", ".join(f"{way} {measured[way][-1]:.2f}" for way in ways)
                print(f"round {number}, {args.threads} thread(s), s/epoch: {row}", flush=True)
    steps = median(measured["steps"])
    ratios = {way: round(median(values) / steps, 3) for way, values in measured.items()}
    if args.json:
        print(json.dumps({"threads": args.threads, "seconds_per_epoch": measured, "ratio_to_steps": ratios}))
    else:
        print("median / steps' median: " + ", ".join(f"{way} {ratio:.3f}" for way, ratio in ratios.items()))


if __name__ == "__main__":
    main()
