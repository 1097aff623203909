"""Test accuracy of the `fast` preset after each of its epochs (default 3), fixed seed.

python -m benchmarks.accuracy [--preset fast] [--epochs 3] [--seed 0] [--data-dir D] [--json]
"""

from __future__ import annotations

import argparse
import json

from bnn.config.presets import PRESETS
from bnn.training.data import load_mnist
from bnn.training.loop import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast", choices=list(PRESETS))
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--data-dir")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    config = PRESETS[args.preset]
    config = config.replace_train(
        epochs=args.epochs or config.train.epochs, seed=config.train.seed if args.seed is None else args.seed
    )
    trainer = Trainer(config, load_mnist(args.data_dir))
    for _ in trainer.steps():
        pass
    per_epoch = [round(e["accuracy"], 2) for e in trainer.evals if e["split"] == "test"]
    seconds = trainer.train_seconds / config.train.epochs
    for epoch, accuracy in enumerate(per_epoch, 1):
        print(f"{args.preset} epoch {epoch}: test accuracy {accuracy:.2f}%")
    print(f"training time per epoch: {seconds:.1f} s")
    if args.json:
        print(
            json.dumps(
                {
                    "preset": args.preset,
                    "seed": config.train.seed,
                    "test_accuracy_per_epoch": per_epoch,
                    "seconds_per_epoch": round(seconds, 2),
                }
            )
        )


if __name__ == "__main__":
    main()
