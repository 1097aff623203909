"""Training throughput of `fast`: binarized vs the same architecture in full precision, and
in-memory tensor batching vs a per-sample torchvision DataLoader. Ratios measured in one run.

    python -m benchmarks.throughput [--steps N] [--data-dir D] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from bnn.data import load_mnist, resolve_data_dir
from bnn.presets import PRESETS
from bnn.train import Trainer


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
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
