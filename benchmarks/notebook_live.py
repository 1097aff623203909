"""Training speed in a Jupyter kernel while the live figure (``bnn.train(..., live=True)``)
updates, against the same run with no figure: the budget is >= 0.8 of the speed without it.

One kernel (nbclient, as a notebook runs) trains ``fast`` in the background; the kernel's main
thread then spends alternate turns of ``--phase`` seconds refreshing the live figure once per
interval exactly as ``live=True`` does (:meth:`bnn.api.live_figure.LiveFigure.refresh`) and doing nothing.
Each turn's training speed is the steps the run made in it per second; the ratios are the median
speed of the live turns over that of the idle turns, and the median of each live turn's speed over
the mean of its two idle neighbours (turns without a step, the evaluation at the
epoch's end, left out). Turns in the same run alternate, so both see the same machine load (the
machine this was measured on is shared with other jobs, which makes single turns vary 2-3x);
the share of the live turns spent in ``refresh`` is the cost in time taken from training.
Run: ``python benchmarks/notebook_live.py [--phase 6] [--epochs 1]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CELL = """
import json, statistics, time
import bnn
from bnn.api.live_figure import LiveFigure

run = bnn.train("fast", background=True, epochs={epochs}, runs_dir={runs_dir!r})
figure = LiveFigure(run)
figure.show()
turns = []  # (live?, steps per second or None for a turn without training steps), in order
refreshing = 0.0  # seconds spent in refresh(): building the series, sending the update
live = True
began = time.monotonic()
while not run.status.ended:
    started, step = time.monotonic(), run.run.step
    while time.monotonic() - started < {phase}:
        if live:
            before = time.perf_counter()
            figure.refresh()
            refreshing += time.perf_counter() - before
        time.sleep(figure.interval if live else 0.1)
    snapshot = run.run
    trained = step and snapshot.step > step and snapshot.status == "running"  # not the epoch's evaluation
    turns.append((live, (snapshot.step - step) / (time.monotonic() - started) if trained else None))
    live = not live
live_seconds = (time.monotonic() - began) / 2
print(json.dumps({{"turns": turns, "updates": figure.updates, "refresh_share": refreshing / live_seconds}}))
"""


def main() -> None:
    import nbformat
    from nbclient import NotebookClient

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", type=float, default=6.0, help="seconds of one turn")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of `fast` on all of MNIST")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runs_dir:
        notebook = nbformat.v4.new_notebook()
        cell = CELL.format(epochs=args.epochs, runs_dir=runs_dir, phase=args.phase)
        notebook.cells = [nbformat.v4.new_code_cell(cell)]
        client = NotebookClient(
            notebook, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
        )
        client.execute()
    text = "".join(output.get("text", "") for output in notebook.cells[0].outputs if output.output_type == "stream")
    result = json.loads(text.strip().splitlines()[-1])
    turns = result["turns"]
    live = [speed for on, speed in turns if on and speed]
    idle = [speed for on, speed in turns if not on and speed]
    # each live turn against the mean of the idle turns just before and after it: load that drifts
    # over tens of seconds (the other jobs of a shared machine) cancels out
    paired = [
        speed / ((turns[i - 1][1] + turns[i + 1][1]) / 2)
        for i, (on, speed) in enumerate(turns[1:-1], 1)
        if on and speed and turns[i - 1][1] and turns[i + 1][1]
    ]
    print(f"steps/s with the live figure updating: {', '.join(f'{v:.2f}' for v in live)}")
    print(f"steps/s with no figure:                {', '.join(f'{v:.2f}' for v in idle)}")
    print(f"{result['updates']} figure updates, taking {result['refresh_share']:.2%} of the live turns' time")
    ratio = statistics.median(live) / statistics.median(idle)
    print(f"speed ratio (live / none, medians of {len(live)} and {len(idle)} turns): {ratio:.2f}")
    paired_ratio = statistics.median(paired)
    print(f"speed ratio (each live turn / its two idle neighbours, median of {len(paired)}): {paired_ratio:.2f}")


if __name__ == "__main__":
    main()
