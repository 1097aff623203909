"""Training throughput of `fast`: binarized vs the same architecture in full precision, and
in-memory tensor batching vs a per-sample torchvision DataLoader; and the CPU-seconds
(``time.process_time``) of one whole epoch of `fast` (evaluations included) before and after
the leaner training step, with and without the live statistics, variants interleaved in one run.

    python -m benchmarks.throughput [--steps N] [--rounds R] [--no-epoch-cpu] [--data-dir D] [--json]

"before" is the step as it was: ``sign`` as nested ``torch.where`` (:func:`legacy_sign`), the
loss read back to the host every step (``watch_nonfinite``), live statistics every 20 steps and
the whole training set evaluated after the run (here: after its one epoch).
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager
from unittest import mock

import torch

import bnn.network.binarize
from bnn.config.presets import PRESETS
from bnn.training.data import load_mnist, resolve_data_dir
from bnn.training.loop import Trainer
from bnn.training.metrics import last_eval

EPOCH_VARIANTS = {  # name -> (legacy sign, Trainer options)
    "before: stats every 20 steps, train-set eval": (
        True,
        {"live_stats": True, "train_eval": "end", "watch_nonfinite": True},
    ),
    "after: live stats, train-set eval": (False, {"live_stats": True, "train_eval": "end"}),
    "after: live stats, no train-set eval": (False, {"live_stats": True, "train_eval": "never"}),
    "after: no live stats, no train-set eval": (False, {"live_stats": False, "train_eval": "never"}),
}


def legacy_sign(x: torch.Tensor) -> torch.Tensor:
    """bnn.network.binarize.sign before the leaner step (same values, ~5x slower on a CPU)."""
    return torch.where(x >= 0, 1.0, torch.where(x < 0, -1.0, x)).to(x.dtype)


@contextmanager
def sign_as(legacy: bool):
    if legacy:
        with mock.patch.object(bnn.network.binarize, "sign", legacy_sign):
            yield
    else:
        yield


def epoch_cpu_seconds(config, data, legacy: bool, options: dict) -> tuple[float, float]:
    """CPU-seconds of one epoch of ``config`` (its evaluations included) and its test accuracy."""
    trainer = Trainer(config, data, device="cpu", **options)
    with sign_as(legacy):
        started = time.process_time()
        for _ in trainer.steps():
            pass
        seconds = time.process_time() - started
    return seconds, last_eval(trainer.evals, "test")["accuracy"]


def trainer_samples_per_s(config, data, steps: int, warmup: int = 5) -> float:
    trainer = Trainer(config, data, device="cpu")
    step_iter = trainer.steps()
    for _ in range(warmup):
        next(step_iter)
    started = time.perf_counter()
    for _ in range(steps):
        next(step_iter)
    return steps * config.train.batch_size / (time.perf_counter() - started)


def dataloader_samples_per_s(config, data, data_dir, steps: int, warmup: int = 5) -> float:
    """The same training step fed by DataLoader(torchvision MNIST, ToTensor()), one sample at a time."""
    from torchvision import datasets, transforms

    dataset = datasets.MNIST(str(data_dir), train=True, download=False, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.train.batch_size, shuffle=True, num_workers=0)
    trainer = Trainer(config, data.subset(train=config.train.batch_size), device="cpu")
    batches = iter(loader)
    for _ in range(warmup):
        trainer.train_step(*next(batches))
    started = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(*next(batches))
    return steps * config.train.batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1, help="epochs per variant, interleaved")
    parser.add_argument("--no-epoch-cpu", action="store_true", help="skip the CPU-seconds per epoch comparison")
    parser.add_argument("--data-dir")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data = load_mnist(args.data_dir)
    fast = PRESETS["fast"].replace_train(epochs=100)
    full_precision = PRESETS["float"].replace_train(epochs=100, batch_size=fast.train.batch_size)
    binary = trainer_samples_per_s(fast, data, args.steps)
    real = trainer_samples_per_s(full_precision, data, args.steps)
    loader = dataloader_samples_per_s(fast, data, resolve_data_dir(args.data_dir), args.steps)
    result = {
        "threads": torch.get_num_threads(),
        "batch_size": fast.train.batch_size,
        "fast_samples_per_s": round(binary),
        "float_samples_per_s": round(real),
        "dataloader_samples_per_s": round(loader),
        "fast_vs_float": round(binary / real, 3),
        "tensor_batching_vs_dataloader": round(binary / loader, 2),
        "fast_epoch_seconds": round(60000 / binary, 2),
    }
    print(f"fast (binarized), in-memory batches : {binary:9.0f} samples/s  ({60000 / binary:.1f} s/epoch)")
    print(f"same architecture, full precision   : {real:9.0f} samples/s  (fast/float = {binary / real:.2f}x)")
    print(
        f"fast, per-sample DataLoader         : {loader:9.0f} samples/s  (in-memory is {binary / loader:.1f}x faster)"
    )
    if not args.no_epoch_cpu:
        result["epoch_cpu"] = compare_epoch_cpu(data, args.rounds)
    if args.json:
        print(json.dumps(result))


def compare_epoch_cpu(data, rounds: int) -> dict:
    """CPU-seconds per epoch of `fast` for every variant, interleaved ``rounds`` times; prints a table."""
    one_epoch = PRESETS["fast"].replace_train(epochs=1)
    seconds: dict[str, list[float]] = {name: [] for name in EPOCH_VARIANTS}
    accuracy: dict[str, float] = {}
    for _ in range(rounds):
        for name, (legacy, options) in EPOCH_VARIANTS.items():
            cpu, accuracy[name] = epoch_cpu_seconds(one_epoch, data, legacy, options)
            seconds[name].append(cpu)
    before = min(seconds[next(iter(EPOCH_VARIANTS))])
    print(f"CPU-seconds per epoch of fast, {torch.get_num_threads()} thread(s), best of {rounds}:")
    table = {}
    for name, values in seconds.items():
        best = min(values)
        table[name] = {"cpu_s": round(best, 2), "vs_before": round(best / before, 3), "test_accuracy": accuracy[name]}
        print(f"  {name:42s} {best:7.2f} s  {best / before:5.2f}x  test accuracy {accuracy[name]:.2f}%")
    return table


if __name__ == "__main__":
    main()
