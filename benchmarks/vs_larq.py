"""Training time per epoch of `fast`: this project against larq 0.14 on TensorFlow, one thread each.

Both train the identical network (benchmarks/larq_fast.py lists it) for the same epochs; the two
alternate within each round so a noisy machine hits both alike. Ours is the CLI as a user runs it
(``python -m bnn train --preset fast --json``, its ``seconds_per_epoch``: training steps only,
evaluations as always); larq's is the same span measured the same way. A round prints both, the
ratio ours / larq (per epoch, and per epoch after the first, which for larq includes building its
graph) and the test accuracies.

larq lives in a separate venv, never in this project's requirements::

    python3 -m venv .larq-venv
    .larq-venv/bin/pip install "tensorflow-cpu==2.21.*" "larq==0.14.*" tf-keras

    python -m benchmarks.vs_larq [--rounds 3] [--epochs 3] [--larq-python .larq-venv/bin/python] [--json]

Without that venv it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bnn.data import resolve_data_dir

ROOT = Path(__file__).resolve().parents[1]
LARQ_SCRIPT = ROOT / "benchmarks" / "larq_fast.py"
DEFAULT_LARQ_PYTHON = Path(os.environ.get("BNN_LARQ_PYTHON", ROOT / ".larq-venv" / "bin" / "python"))


def last_json_line(output: str) -> dict:
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


def one_thread_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TF_USE_LEGACY_KERAS": "1"}


def train_ours(epochs: int, data_dir: Path) -> dict:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "bnn", "train", "--preset", "fast", "--epochs", str(epochs)]
        command += ["--data-dir", str(data_dir), "--out", out, "--json"]
        done = subprocess.run(command, env=one_thread_env(), capture_output=True, text=True, cwd=ROOT, check=True)
    result = last_json_line(done.stdout)
    return {"seconds_per_epoch": result["seconds_per_epoch"], "test_accuracy": result["test_accuracy"]}


def train_larq(python: Path, epochs: int, data_dir: Path) -> dict:
    command = [str(python), str(LARQ_SCRIPT), "--epochs", str(epochs), "--data-dir", str(data_dir)]
    done = subprocess.run(command, env=one_thread_env(), capture_output=True, text=True, check=True)
    result = last_json_line(done.stdout)
    later = result["epoch_seconds"][1:] or result["epoch_seconds"]
    return {**result, "seconds_per_later_epoch": round(statistics.mean(later), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--larq-python", type=Path, default=DEFAULT_LARQ_PYTHON)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.larq_python.exists():
        print(f"skipped: no larq venv at {args.larq_python} (see this script's docstring to make one)")
        return
    data_dir = resolve_data_dir(args.data_dir)
    rounds = []
    for number in range(1, args.rounds + 1):
        ours = train_ours(args.epochs, data_dir)
        larq = train_larq(args.larq_python, args.epochs, data_dir)
        rounds.append(
            {
                "ours": ours,
                "larq": larq,
                "ratio": round(ours["seconds_per_epoch"] / larq["seconds_per_epoch"], 3),
                "ratio_to_later_epochs": round(ours["seconds_per_epoch"] / larq["seconds_per_later_epoch"], 3),
                "accuracy_gap": round(ours["test_accuracy"] - larq["test_accuracy"], 2),
            }
        )
        if not args.json:
            r = rounds[-1]
            print(
                f"round {number}: ours {ours['seconds_per_epoch']:.2f} s/epoch ({ours['test_accuracy']:.2f}%), "
                f"larq {larq['seconds_per_epoch']:.2f} s/epoch, {larq['seconds_per_later_epoch']:.2f} after the "
                f"first ({larq['test_accuracy']:.2f}%): ratio {r['ratio']:.3f}, {r['ratio_to_later_epochs']:.3f} "
                f"to larq's later epochs; accuracy gap {r['accuracy_gap']:+.2f} points",
                flush=True,
            )
    if args.json:
        print(json.dumps({"epochs": args.epochs, "rounds": rounds}))


if __name__ == "__main__":
    main()
