"""Train the shipped default model: the ``fast`` preset on full MNIST, saved to assets/.

    python scripts/make_pretrained.py [--data-dir DIR] [--epochs N] [--out assets/pretrained-fast]

The Draw and Inspect pages use this model until the user trains and activates one of their
own, so the app is useful on its very first launch. Training is reproducible: the preset's
seed fixes the initial weights and the data order (same seed, same run on the CPU; float sums may
differ in the last bits across CPUs and thread counts). The run is written with
:func:`bnn.jobs.run_folders.save_run` (config, metrics, weights) and the test accuracy printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bnn.cli.commands import load_mnist_or_report  # noqa: E402
from bnn.config.presets import PRESETS  # noqa: E402
from bnn.jobs.run import Run, Status  # noqa: E402
from bnn.jobs.run_folders import save_run  # noqa: E402
from bnn.training.loop import Trainer  # noqa: E402

PRESET = "fast"
DEFAULT_OUT = ROOT / "assets" / "pretrained-fast"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="MNIST directory (default: $BNN_DATA_DIR or a per-user cache)")
    parser.add_argument("--epochs", type=int, help=f"override the preset's {PRESETS[PRESET].train.epochs} epochs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="run directory to write")
    args = parser.parse_args()

    config = PRESETS[PRESET]
    if args.epochs is not None:
        if args.epochs < 1:
            parser.error("--epochs must be at least 1")
        config = config.replace_train(epochs=args.epochs)
    data = load_mnist_or_report(args.data_dir)
    if data is None:
        return 1

    started = time.perf_counter()
    trainer = Trainer(config, data, device="cpu")
    printed = 0

    def report() -> None:
        nonlocal printed
        for record in trainer.evals[printed:]:
            print(
                f"epoch {record['epoch']:.0f}/{config.train.epochs}: {record['split']} accuracy "
                f"{record['accuracy']:.2f}%",
                flush=True,
            )
        printed = len(trainer.evals)

    for _ in trainer.steps():
        report()
    report()
    summary = trainer.summary()
    out = args.out.resolve()
    run = Run(
        name=f"pretrained {PRESET}",
        config=config,
        status=Status.FINISHED,
        preset=PRESET,
        records=trainer.records,
        evals=trainer.evals,
        summary=summary,
        path=out,  # its folder, whatever the name's slug
    )
    path = save_run(run, out.parent, model=trainer.model.cpu().eval()).path
    path.chmod(0o755)  # written through a private temporary directory
    print(
        f"preset {PRESET}, seed {config.train.seed}, {config.train.epochs} epochs, "
        f"{time.perf_counter() - started:.0f} s"
    )
    print(f"test accuracy {summary['test_accuracy']:.2f}%  (train {summary['train_accuracy']:.2f}%)")
    print(f"saved to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
