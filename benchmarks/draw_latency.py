"""Server-side latency of one drawing on the Draw page: preprocessing + inference + activations.

    python benchmarks/draw_latency.py [--run assets/pretrained-fast] [--count 300] [--data-dir DIR]

Times :func:`bnn.draw.read_drawing` on :func:`bnn.draw.deployment_copy` of the model (sign(W)
stored once), exactly what the page runs per stroke, on 280x280 RGBA canvases made from MNIST
test digits (:func:`bnn.draw.digit_to_canvas`, not timed), one drawing at a time on the CPU,
after a warm-up. Prints p50, p95 and max in milliseconds and the share read right; the budget is
p95 <= 20 ms (``--check`` exits 1 when it is exceeded).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bnn.data import DataError, load_mnist  # noqa: E402
from bnn.draw import deployment_copy, digit_to_canvas, read_drawing  # noqa: E402
from bnn.runs import RunFormatError, load_run  # noqa: E402

BUDGET_P95_MS = 20.0
WARMUP = 10


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=ROOT / "assets" / "pretrained-fast", help="saved run to time")
    parser.add_argument("--count", type=int, default=300, help="test digits to time")
    parser.add_argument("--data-dir", help="MNIST directory (default: $BNN_DATA_DIR or a per-user cache)")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if p95 > {BUDGET_P95_MS:g} ms")
    args = parser.parse_args()
    try:
        run = load_run(args.run)
        data = load_mnist(args.data_dir)
    except (RunFormatError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if run.model is None:
        print(f"error: {args.run} has no weights", file=sys.stderr)
        return 1
    model = deployment_copy(run.model)  # as the Draw page runs it
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


if __name__ == "__main__":
    sys.exit(main())
