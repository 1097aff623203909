"""`fast` trained in each gradient precision: test accuracy after its epochs and seconds per epoch,
for several seeds, the runs of a seed one after the other (so a noisy machine hits them alike).

The ``precision`` setting decides the arithmetic of the binarized layers' backward products
(bnn.training.fast_step): "fp32" exact float32, "bf16" bfloat16 operands with float32 sums. Its default is
"bf16" only if, here, the accuracy after 3 epochs stays within 0.2 points of "fp32" for seeds 0
and 1 (issue 31); this script measures that. Each run is a :class:`bnn.training.loop.Trainer` run, as the
page, the API and the CLI train (evaluations not timed).

    python -m benchmarks.precision [--preset fast] [--seeds 0 1] [--precisions fp32 bf16]
                                   [--epochs 3] [--threads 2] [--json]
"""

from __future__ import annotations

import argparse
import json

import torch

from bnn.config.presets import preset
from bnn.training.data import load_mnist, resolve_data_dir
from bnn.training.loop import Trainer
from bnn.training.metrics import last_eval


def train_once(name: str, precision: str, seed: int, epochs: int, data) -> dict:
    config = preset(name).replace_train(precision=precision, seed=seed, epochs=epochs)
    trainer = Trainer(config, data, "cpu", live_stats=False, train_eval="never", record_every=10**9)
    for _ in trainer.steps():
        pass
    return {
        "precision": precision,
        "seed": seed,
        "test_accuracy": last_eval(trainer.evals, "test")["accuracy"],
        "seconds_per_epoch": round(trainer.train_seconds / epochs, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mnist(resolve_data_dir(args.data_dir))
    runs = []
    for seed in args.seeds:
        for precision in args.precisions:
            run = train_once(args.preset, precision, seed, args.epochs, data)
            runs.append(run)
            if not args.json:
                print(
                    f"{args.preset} seed {seed} {precision}: {run['test_accuracy']:.2f}% test after {args.epochs} "
                    f"epochs, {run['seconds_per_epoch']:.2f} s/epoch ({args.threads} thread(s))",
                    flush=True,
                )
    gaps = {}
    for seed in args.seeds:
        by = {r["precision"]: r["test_accuracy"] for r in runs if r["seed"] == seed}
        if "fp32" in by:
            gaps[seed] = {p: round(acc - by["fp32"], 2) for p, acc in by.items() if p != "fp32"}
    if args.json:
        print(json.dumps({"preset": args.preset, "epochs": args.epochs, "runs": runs, "gap_to_fp32": gaps}))
        return
    for seed, gap in gaps.items():
        print(f"seed {seed}: accuracy minus fp32's: " + ", ".join(f"{p} {v:+.2f} points" for p, v in gap.items()))


if __name__ == "__main__":
    main()
