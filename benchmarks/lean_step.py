"""Seconds per epoch of `fast`'s training steps before and after the lean step (bnn.training.fast_step),
variants interleaved in one process so that a noisy machine hits them alike.

Variants, each a :class:`bnn.training.loop.Trainer` (the one code path of the page, the API and the CLI):

* ``before``: the model's own forward (float32 first layer, int8 ±1 products) and float32
  backward products, as the trainer ran before the lean step;
* ``lean fp32``: the lean forward (exact integer first layer), float32 backward (``precision="fp32"``);
* ``lean bf16``: the lean forward, bfloat16 backward products (``precision="bf16"``, the default).

After a warm-up, rounds of ``--steps`` steps go to each variant in turn; it prints, per variant,
the median over rounds of wall and process-CPU milliseconds per step and the seconds one epoch
(300 steps) takes at that pace, and each variant's wall-time ratio to ``before`` per round.

    python -m benchmarks.lean_step [--threads 1 2] [--rounds 7] [--steps 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from bnn.config.presets import preset
from bnn.training.data import load_mnist, resolve_data_dir
from bnn.training.loop import Trainer

VARIANTS = {"before": ("fp32", False), "lean fp32": ("fp32", True), "lean bf16": ("bf16", True)}


def make(precision: str, lean: bool, data) -> Trainer:
    config = preset("fast").replace_train(precision=precision, epochs=100)
    trainer = Trainer(config, data, "cpu", live_stats=False, train_eval="never", record_every=10**9)
    if not lean:
        trainer._forward = trainer.model  # the trainer as it was: the model's own forward
    return trainer


def measure(threads: int, rounds: int, steps: int, data) -> dict:
    torch.set_num_threads(threads)
    loops = {name: make(*spec, data).steps() for name, spec in VARIANTS.items()}
    for loop in loops.values():
        for _ in range(5):
            next(loop)
    wall = {name: [] for name in loops}
    cpu = {name: [] for name in loops}
    for _ in range(rounds):
        for name, loop in loops.items():
            w, c = time.perf_counter(), time.process_time()
            for _ in range(steps):
                next(loop)
            wall[name].append((time.perf_counter() - w) / steps * 1e3)
            cpu[name].append((time.process_time() - c) / steps * 1e3)
    result = {}
    for name in loops:
        ratios = [mine / before for mine, before in zip(wall[name], wall["before"])]
        result[name] = {
            "wall_ms_per_step": round(statistics.median(wall[name]), 2),
            "cpu_ms_per_step": round(statistics.median(cpu[name]), 2),
            "seconds_per_epoch": round(statistics.median(wall[name]) * 300 / 1e3, 2),
            "ratio_to_before": round(statistics.median(ratios), 3),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data = load_mnist(resolve_data_dir(args.data_dir))
    results = {threads: measure(threads, args.rounds, args.steps, data) for threads in args.threads}
    if args.json:
        print(json.dumps(results))
        return
    for threads, result in results.items():
        for name, r in result.items():
            print(
                f"{threads} thread(s) {name:<10} {r['wall_ms_per_step']:6.2f} ms/step wall "
                f"({r['cpu_ms_per_step']:6.2f} CPU), {r['seconds_per_epoch']:5.2f} s/epoch, "
                f"{r['ratio_to_before']:.3f}x before"
            )


if __name__ == "__main__":
    main()
