"""Training speed in a Jupyter kernel with the live figure (``bnn.train(..., live=True)``) and
without it: the budget is >= 0.8 of the speed without it.

Each round starts a fresh kernel (nbclient) per variant, in turns (live, headless, live, ...), so
both see the same machine load; each trains ``fast`` on a part of MNIST in the background and
waits for it, and reports the seconds of its training steps (evaluations excluded, from the
run's summary). The ratio is headless seconds / live seconds (1.0: no cost), the median of the
rounds. Run: ``python benchmarks/notebook_live.py [--rounds 2] [--subset 10000]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CELL = """
import json, bnn
run = bnn.train("fast", background=True, live={live}, epochs=1, train_subset={subset}, runs_dir={runs_dir!r})
run.wait()
print(json.dumps({{"train_seconds": run.run.summary["train_seconds"],
                  "updates": run._live.updates if run._live else 0, "status": str(run.status)}}))
"""


def train_in_kernel(live: bool, subset: int) -> dict:
    import nbformat
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory() as runs_dir:
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell(CELL.format(live=live, subset=subset, runs_dir=runs_dir))]
        NotebookClient(
            notebook, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
        ).execute()
    text = "".join(output.get("text", "") for output in notebook.cells[0].outputs if output.output_type == "stream")
    return json.loads(text.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--subset", type=int, default=10_000, help="training images (one epoch)")
    args = parser.parse_args()
    ratios = []
    for round_ in range(args.rounds):
        live = train_in_kernel(True, args.subset)
        headless = train_in_kernel(False, args.subset)
        ratio = headless["train_seconds"] / live["train_seconds"]
        ratios.append(ratio)
        print(
            f"round {round_ + 1}: headless {headless['train_seconds']:.1f} s, live {live['train_seconds']:.1f} s "
            f"({live['updates']} figure updates): speed ratio {ratio:.2f}",
            flush=True,
        )
    print(f"speed with the live figure / without: {statistics.median(ratios):.2f} (median of {len(ratios)} rounds)")


if __name__ == "__main__":
    main()
