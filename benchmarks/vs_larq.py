"""Training time per epoch of `fast`: this project against larq 0.14 at its best, on 1 and on 2 threads.

Both train the identical network (benchmarks/larq_fast.py lists it) for the same epochs. larq trains
the way its users train it: one ``model.fit`` over the NumPy arrays, once plainly and once with XLA
(``jit_compile=True``); the faster of the two counts, its graph building and compilation included,
as a user waits for them. Ours is the CLI as a user runs it (``python -m bnn train --preset fast
--json``, its ``seconds_per_epoch``: training steps only). Within a round the three runs alternate,
first on 1 thread each, then on 2 threads each, so a noisy machine hits them alike; a round prints
each time, the ratio ours / larq's best, and the test accuracies.

larq lives in a separate venv, never in this project's requirements::

    python3 -m venv .larq-venv
    .larq-venv/bin/pip install "tensorflow-cpu==2.21.*" "larq==0.14.*" tf-keras

    python -m benchmarks.vs_larq [--rounds 3] [--epochs 3] [--threads 1 2] [--json]
                                 [--larq-python .larq-venv/bin/python]

Without that venv it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bnn.training.data import resolve_data_dir

ROOT = Path(__file__).resolve().parents[1]
LARQ_SCRIPT = ROOT / "benchmarks" / "larq_fast.py"
DEFAULT_LARQ_PYTHON = Path(os.environ.get("BNN_LARQ_PYTHON", ROOT / ".larq-venv" / "bin" / "python"))


def last_json_line(output: str) -> dict:
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


def threads_env(threads: int) -> dict[str, str]:
    n = str(threads)
    return {**os.environ, "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "TF_USE_LEGACY_KERAS": "1"}


def train_ours(epochs: int, data_dir: Path, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "bnn", "train", "--preset", "fast", "--epochs", str(epochs)]
        command += ["--data-dir", str(data_dir), "--out", out, "--json"]
        env = threads_env(threads)
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT, check=True)
    result = last_json_line(done.stdout)
    return {"seconds_per_epoch": result["seconds_per_epoch"], "test_accuracy": result["test_accuracy"]}


def train_larq(python: Path, epochs: int, data_dir: Path, threads: int, xla: bool) -> dict:
    command = [str(python), str(LARQ_SCRIPT), "--epochs", str(epochs), "--data-dir", str(data_dir)]
    command += ["--xla"] if xla else []
    done = subprocess.run(command, env=threads_env(threads), capture_output=True, text=True, check=True)
    return last_json_line(done.stdout)


def one_round(python: Path, epochs: int, data_dir: Path, threads: int) -> dict:
    ours = train_ours(epochs, data_dir, threads)
    plain = train_larq(python, epochs, data_dir, threads, xla=False)
    xla = train_larq(python, epochs, data_dir, threads, xla=True)
    best = min(plain, xla, key=lambda r: r["seconds_per_epoch"])
    return {
        "threads": threads,
        "ours": ours,
        "larq_plain": plain,
        "larq_xla": xla,
        "larq_best": "xla" if best is xla else "plain",
        "larq_best_accuracy": best["test_accuracy"],
        "ratio": round(ours["seconds_per_epoch"] / best["seconds_per_epoch"], 3),
        "accuracy_gap": round(ours["test_accuracy"] - best["test_accuracy"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
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
        for threads in args.threads:
            r = one_round(args.larq_python, args.epochs, data_dir, threads)
            rounds.append({"round": number, **r})
            if not args.json:
                print(
                    f"round {number}, {threads} thread(s): ours {r['ours']['seconds_per_epoch']:.2f} s/epoch "
                    f"({r['ours']['test_accuracy']:.2f}%), larq {r['larq_plain']['seconds_per_epoch']:.2f} plain / "
                    f"{r['larq_xla']['seconds_per_epoch']:.2f} XLA ({r['larq_best_accuracy']:.2f}%"
                    f"): ratio to larq's best {r['ratio']:.3f}; accuracy gap {r['accuracy_gap']:+.2f} points",
                    flush=True,
                )
    if args.json:
        print(json.dumps({"epochs": args.epochs, "rounds": rounds}))


if __name__ == "__main__":
    main()
