"""Command line: ``python -m bnn train --preset NAME [options]``.

Trains a preset (optionally overriding epochs, lr, optimizer, batch size, seed) on MNIST with a
tqdm progress bar, optionally saves the run, and with ``--json`` prints one JSON object on the
last line of stdout. A bad argument gets a one-line error and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from .config import OPTIMIZERS, ConfigError, validate
from .data import DataError, MnistData, load_mnist
from .presets import PRESETS, preset
from .runs import SavedRun, save_run
from .train import Trainer, default_device, use_cpu_threads_for


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="python -m bnn", description="Binarized Neural Networks on MNIST")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)
    train = commands.add_parser("train", help="train a preset on MNIST")
    train.add_argument("--preset", default="fast", choices=list(PRESETS))
    train.add_argument("--epochs", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--optimizer", choices=OPTIMIZERS)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--train-subset", type=int, help="use only the first N training images")
    train.add_argument("--data-dir", help="MNIST directory (default: $BNN_DATA_DIR or a per-user cache)")
    train.add_argument("--out", help="save the run (config, metrics, weights) in this directory")
    train.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    train.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    return parser


def _config_from_args(args: argparse.Namespace):
    overrides = {
        "epochs": args.epochs,
        "lr": args.lr,
        "optimizer": args.optimizer,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "train_subset": args.train_subset,
    }
    return preset(args.preset).replace_train(**{k: v for k, v in overrides.items() if v is not None})


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def load_mnist_or_report(data_dir: str | None) -> MnistData | None:
    """MNIST, or None after printing why it could not be loaded (for command-line tools)."""
    try:
        return load_mnist(data_dir)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def train_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    config = _config_from_args(args)
    problems = validate(config)
    if problems:
        parser.error("; ".join(problems))
    data = load_mnist_or_report(args.data_dir)
    if data is None:
        return 1
    from tqdm import tqdm

    started = time.perf_counter()
    use_cpu_threads_for(config, args.device or default_device())
    trainer = Trainer(config, data, args.device)
    with tqdm(total=trainer.total_steps, unit="step", file=sys.stderr, disable=None, dynamic_ncols=True) as bar:
        for step in trainer.steps():
            bar.update(1)
            if trainer.records and trainer.records[-1]["step"] == step:
                record = trainer.records[-1]
                bar.set_postfix(
                    loss=f"{record['loss']:.4f}",
                    acc=f"{record['batch_accuracy']:.1f}%",
                    epoch=f"{trainer.epoch_progress:.2f}",
                )
    summary = trainer.summary()
    seconds = time.perf_counter() - started
    if args.out:
        save_run(
            SavedRun(
                name=f"{args.preset}-seed{config.train.seed}",
                config=config,
                records=trainer.records,
                evals=trainer.evals,
                summary=summary,
                model=trainer.model.cpu(),
                preset=args.preset,
            ),
            args.out,
        )
    result = {
        "preset": args.preset,
        "epochs": config.train.epochs,
        "test_accuracy": _round(summary["test_accuracy"]),
        "train_accuracy": _round(summary["train_accuracy"]),
        "final_loss": summary["final_loss"],
        "test_loss": summary["test_loss"],
        "seconds": round(seconds, 1),
        "train_seconds": round(summary["train_seconds"], 1),
        "seconds_per_epoch": round(summary["train_seconds"] / config.train.epochs, 2),
        "prediction_histogram": summary["prediction_histogram"],
        "train_prediction_histogram": summary["train_prediction_histogram"],
        "first_nonfinite_step": summary["first_nonfinite_step"],
        "device": str(trainer.device),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.preset}: test accuracy {result['test_accuracy']}%, train accuracy "
            f"{result['train_accuracy']}%, final loss {result['final_loss']}, {result['seconds']} s"
        )
        print(f"test predictions per class: {result['prediction_histogram']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return train_command(args, parser)
    except ConfigError as exc:
        parser.error(str(exc))
    return 2
