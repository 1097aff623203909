"""``python -m bnn study``: train a study (:mod:`bnn.jobs.studies`) here, print it as commands, or collect it.

* ``python -m bnn study --preset fast --ablate --epochs 1 [--seeds N] [--workers N] [--out DIR] [--json]``
  trains every variant as ``python -m bnn train`` in N worker processes at once, into the study
  folder DIR; run again with the same DIR (``--out DIR`` alone is enough), it keeps the finished
  runs, resumes the interrupted ones from their checkpoint and starts the missing ones.
* ``--commands`` writes ``study.json`` and prints one ``python -m bnn train ... --out DIR`` line
  per run still to train, to hand to GNU parallel, a Slurm job array or a Kubernetes Job.
* ``python -m bnn study --collect DIR [--json]`` summarises whatever has finished in DIR.

With ``--json`` the last line is one JSON object whose ``variants`` list has per variant ``name``,
``changes``, ``test_accuracy`` (the mean over seeds), ``bits``, ``binary_mac_share`` and ``seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..config.presets import PRESETS, preset
from ..jobs.run_folders import default_runs_dir
from ..jobs.run_format import STUDY_FILE
from ..jobs.run_names import slugify
from ..jobs.studies import KINDS, MAX_RUNS, StudyError, make_study, study_name
from ..jobs.study_folders import open_study, pending_runs, save_study, train_commands
from ..jobs.study_results import VariantResult, collect


def add_study_parser(commands) -> None:
    study = commands.add_parser(
        "study",
        help="train a base configuration and its variants (an ablation or a sweep); summarise them",
        description=f"A study trains at most {MAX_RUNS} runs (variants x seeds).",
    )
    study.add_argument("--preset", choices=list(PRESETS), help="the base configuration (default: fast)")
    kind = study.add_mutually_exclusive_group()
    kind.add_argument("--ablate", action="store_true", help="each layer's weights and activations, one at a time")
    kind.add_argument(
        "--sweep",
        action="append",
        metavar="SETTING=V1,V2",
        help="a grid over settings by their app names, e.g. --sweep lr=0.01,0.001 --sweep optimizer=adam,sgd",
    )
    study.add_argument("--epochs", type=int, default=1, help="epochs per run (default: 1)")
    study.add_argument("--train-subset", type=int, help="train on the first N images only")
    study.add_argument("--seeds", type=int, default=1, help="runs per variant, for a mean and a spread (default: 1)")
    study.add_argument("--name", help="the study's name (default: PRESET-KIND-time)")
    study.add_argument("--out", help="the study folder (default: a new folder in the runs dir)")
    study.add_argument("--workers", type=int, default=1, help="runs training at once here (default: 1)")
    study.add_argument("--commands", action="store_true", help="print one python -m bnn train line per run instead")
    study.add_argument("--collect", metavar="DIR", help="summarise the study folder DIR (what has finished)")
    study.add_argument("--data-dir", help="MNIST directory (default: $BNN_DATA_DIR or a per-user cache)")
    study.add_argument("--json", action="store_true", help="print one JSON object on the last line")


def _study_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """The study and its folder: a new one from the flags, or the one already in ``--out``."""
    if not args.ablate and not args.sweep:
        if args.out and (Path(args.out) / STUDY_FILE).is_file():
            return open_study(args.out), Path(args.out)
        parser.error("say what to study: --ablate, or --sweep SETTING=V1,V2 (or --out DIR of a study to continue)")
    kind = KINDS[0] if args.ablate else KINDS[1]
    base_name = args.preset or "fast"
    name = args.name or study_name(base_name, kind)
    study = make_study(
        name,
        preset(base_name),
        kind=kind,
        grid=args.sweep,
        seeds=args.seeds,
        epochs=args.epochs,
        train_subset=args.train_subset,
        preset=base_name,
    )
    folder = Path(args.out) if args.out else default_runs_dir() / slugify(name)
    return study, folder


def study_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        if args.collect:
            study, folder = open_study(args.collect), Path(args.collect)
            return _report(study, folder, args.json, None)
        if args.workers < 1:
            parser.error("--workers must be at least 1")
        study, folder = _study_from_args(args, parser)
        save_study(study, folder)
    except StudyError as exc:
        parser.error(str(exc))
    if args.commands:
        for line in train_commands(study, folder):
            print(line)
        return 0
    started = time.perf_counter()
    failures = _train_here(study, folder, args.workers, args.data_dir)
    return _report(study, folder, args.json, time.perf_counter() - started) or (1 if failures else 0)


def _train_here(study, folder: Path, workers: int, data_dir: str | None) -> int:
    """Train the pending runs as ``python -m bnn train`` processes, ``workers`` at once; the
    number of runs that failed."""
    lines = train_commands(study, folder, python=sys.executable)
    total = len(study.runs())
    done = total - len(lines)
    print(f"{study.name}: {len(lines)} of {total} runs to train in {folder}, {workers} at a time", file=sys.stderr)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cores // workers))}
    names = [name for name, _, _ in pending_runs(study, folder)]
    failures = 0

    def train(line: str):
        command = shlex.split(line) + (["--data-dir", data_dir] if data_dir else []) + ["--json"]
        return subprocess.run(command, env=env, capture_output=True, text=True)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for name, result in zip(names, pool.map(train, lines)):
            done += 1
            if result.returncode != 0:
                failures += 1
                reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
                print(f"[{done}/{total}] {name}: FAILED ({reason})", file=sys.stderr)
                continue
            report = json.loads(result.stdout.strip().splitlines()[-1])
            print(
                f"[{done}/{total}] {name}: test accuracy {report['test_accuracy']}% in {report['seconds']} s",
                file=sys.stderr,
            )
    return failures


def _report(study, folder: Path, as_json: bool, seconds: float | None) -> int:
    results = collect(study, folder)
    if as_json:
        print(
            json.dumps(
                {
                    "study": study.name,
                    "kind": study.kind,
                    "folder": str(folder),
                    "seeds": study.seeds,
                    "epochs": study.base.train.epochs,
                    "wall_seconds": None if seconds is None else round(seconds, 1),
                    "variants": [result.to_dict() for result in results],
                }
            )
        )
    else:
        print(_table(study, results))
        if seconds is not None:
            print(f"{seconds:.0f} s wall time; saved in {folder}")
    return 0


def _table(study, results: list[VariantResult]) -> str:
    lines = [f"{study.name} ({study.kind}, {study.base.train.epochs} epoch(s), {study.seeds} seed(s) per variant)"]
    lines.append(f"{'variant':<28} {'test acc %':>12} {'kbit':>8} {'binary MACs':>12}  changes")
    for result in results:
        accuracy = result.test_accuracy
        text = "–" if accuracy is None else f"{accuracy:.2f}"
        if result.spread is not None:
            text += f" ±{result.spread:.2f}"
        if result.finished < len(result.runs):
            text += f" ({result.finished}/{len(result.runs)})"
        lines.append(
            f"{result.variant.name:<28} {text:>12} {result.variant.bits / 1000:>8,.0f} "
            f"{result.variant.binary_mac_share:>12.1%}  {'; '.join(result.variant.changes) or '–'}"
        )
    return "\n".join(lines)
