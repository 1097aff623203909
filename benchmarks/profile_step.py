"""Where one training step of a preset spends its time: a torch.profiler table of the top ops, and
the seconds per epoch of training steps, as the Trainer (the one code path of the page, the API and
the CLI) runs them.

It builds a :class:`bnn.training.loop.Trainer` for the preset on MNIST, takes ``--warmup`` steps (torch's
one-time costs), then profiles ``--steps`` steps and prints the ops sorted by their own CPU time
(``self_cpu_time_total``), per step. With ``--epoch`` it also times one whole epoch of training
steps (no evaluation) and prints the seconds. ``--set name=value`` changes a setting (e.g.
``--set precision=fp32`` for the exact mode); ``--before`` profiles the step as it was before the
lean step (the model's own forward, float32 backward), so a before/after pair is two calls.

    python -m benchmarks.profile_step [--preset fast] [--threads 2] [--steps 50] [--warmup 10]
                                      [--set precision=fp32] [--before] [--epoch] [--rows 25] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.profiler import ProfilerActivity, profile

from bnn.config.presets import preset
from bnn.config.schema import SETTINGS_BY_NAME, with_settings
from bnn.training.data import load_mnist, resolve_data_dir
from bnn.training.loop import Trainer


def typed_value(name: str, text: str):
    """``text`` as the value of the setting ``name`` (bool: 1/0/true/false)."""
    kind = SETTINGS_BY_NAME[name].kind
    if kind is bool:
        return text in ("1", "true")
    return kind(text)


def make_trainer(preset_name: str, settings: dict, data, before: bool = False) -> Trainer:
    """The trainer of the preset with ``settings``; ``before``: as it ran before the lean step (the
    model's own forward, float32 backward products)."""
    if before:
        settings = {**settings, "precision": "fp32"}
    config = with_settings(preset(preset_name), settings)
    trainer = Trainer(config, data, "cpu", live_stats=False, train_eval="never", record_every=10**9)
    if before:
        trainer._forward = trainer.model
    return trainer


def run_steps(trainer: Trainer, count: int) -> None:
    """``count`` training steps (the trainer's own loop, evaluations skipped: a step only)."""
    steps = trainer.steps()
    for _ in range(count):
        next(steps)
    steps.close()


def epoch_seconds(trainer: Trainer) -> tuple[float, float]:
    """Wall and process CPU seconds of one whole epoch of training steps (the CPU seconds, on one
    thread, hardly depend on what else the machine runs)."""
    wall, cpu = time.perf_counter(), time.process_time()
    run_steps(trainer, trainer.steps_per_epoch)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rows", type=int, default=25)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--epoch", action="store_true", help="also time one whole epoch")
    parser.add_argument("--before", action="store_true", help="the step before the lean step (bnn.training.fast_step)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = {}
    for item in args.set:
        name, _, text = item.partition("=")
        settings[name] = typed_value(name, text)
    data = load_mnist(resolve_data_dir(args.data_dir))
    trainer = make_trainer(args.preset, settings, data, args.before)
    run_steps(trainer, args.warmup)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run_steps(trainer, args.steps)
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total_ms = sum(e.self_cpu_time_total for e in events) / 1e3 / args.steps
    rows = [
        {
            "op": e.key,
            "ms_per_step": round(e.self_cpu_time_total / 1e3 / args.steps, 3),
            "calls_per_step": e.count / args.steps,
        }
        for e in events[: args.rows]
    ]
    result = {
        "before": args.before,
        "preset": args.preset,
        "threads": args.threads,
        "settings": settings,
        "profiled_ms_per_step": round(total_ms, 2),
        "top_ops": rows,
    }
    if args.epoch:
        wall, cpu = epoch_seconds(make_trainer(args.preset, settings, data, args.before))  # one-time costs paid above
        result["seconds_per_epoch"], result["cpu_seconds_per_epoch"] = round(wall, 3), round(cpu, 3)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{args.preset}, {args.threads} thread(s), settings {settings or 'preset'}: "
        f"{total_ms:.2f} ms of ops per step (self CPU, profiled)"
    )
    for row in rows:
        print(f"  {row['ms_per_step']:8.3f} ms  {row['calls_per_step']:5.1f}x  {row['op']}")
    if args.epoch:
        print(f"one epoch of training steps: {wall:.2f} s ({cpu:.2f} CPU-seconds)")


if __name__ == "__main__":
    main()
