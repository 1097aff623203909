"""Command line: ``python -m bnn train --preset NAME [options]``, ``eval RUN``, ``export RUN --to c|onnx|packed``.

Trains a preset (optionally overriding epochs, lr, optimizer, batch size, seed) on MNIST with a
tqdm progress bar on the chosen ``--device``, saves the run after every epoch (with a checkpoint,
so ``--resume RUN`` continues it after a crash or a stop; TensorBoard event files too, see
:mod:`bnn.training.tensorboard_log`) and with ``--json`` prints one JSON
object on the last line of stdout. Started by ``torchrun`` as several processes, it trains one
run with all of them (:mod:`bnn.training.distributed`); only rank 0 prints and saves. A bad argument
gets a one-line error and exit code 2.

``eval`` loads a saved run (its folder, or its name in the runs directory) exactly as it trained
and evaluates it on the test set, next to the accuracy the run recorded itself.

``export`` writes a saved run's binarized network as the packed file (``--to packed``, ``.bnnx``), a
C99 source and header for a microcontroller (``--to c``, with what a device needs) or an ONNX graph
(``--to onnx``), :mod:`bnn.deploy.formats`.

``study`` trains, prints or collects a study of variants (:mod:`bnn.cli.study_commands`); ``train --set
KEY=VALUE`` sets any setting by its link key (:mod:`bnn.config.links`), so one command line expresses
any variant.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..config.links import LAYERS_KEY, read_query_params
from ..config.presets import PRESETS, preset
from ..config.schema import SETTINGS_BY_KEY, ConfigError
from ..config.train_settings import OPTIMIZERS
from ..deploy.formats import FORMATS
from ..jobs.run import Run, Status
from ..jobs.run_folders import default_runs_dir, load_run
from ..jobs.run_format import RunFormatError
from ..jobs.run_names import name_problem, slugify, unique_name
from ..jobs.run_weights import load_checkpoint
from ..jobs.start_rules import start_problems
from ..jobs.training_job import TrainingJob
from ..training.data import DataError, MnistData, load_mnist
from ..training.devices import DeviceError, resolve_device
from ..training.distributed import World, init_from_env, shutdown
from ..training.evaluation import evaluate
from ..training.loop import TRAIN_EVALS

AGREEMENT_POINTS = 0.01  # eval's accuracy and the recorded one agree within this many percentage points

PROGRESS_S = 0.5  # the progress bar follows the job this often
CONFIG_FLAGS = ("preset", "epochs", "lr", "optimizer", "batch_size", "seed", "train_subset", "set")


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    prog = "bnn" if Path(sys.argv[0]).name == "bnn" else "python -m bnn"  # the installed command, or the module
    parser = _ArgumentParser(prog=prog, description="Binarized Neural Networks on MNIST")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)
    train = commands.add_parser("train", help="train a preset on MNIST")
    train.add_argument("--preset", choices=list(PRESETS), help="default: fast")
    train.add_argument("--epochs", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--optimizer", choices=OPTIMIZERS)
    train.add_argument("--batch-size", type=int, help="global batch size (split over the processes of a torchrun)")
    train.add_argument("--seed", type=int)
    train.add_argument("--train-subset", type=int, help="use only the first N training images")
    train.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="any setting by its link key, e.g. inb=1 or layers=d1024-ab-0_d10-wb-0 (repeatable; see bnn.config.links)",
    )
    train.add_argument("--name", help="the run's name (default: PRESET-seedN, -2, -3 ... when taken)")
    train.add_argument("--data-dir", help="MNIST directory (default: $BNN_DATA_DIR or a per-user cache)")
    train.add_argument(
        "--out", help="save the run (config, metrics, weights, a checkpoint every epoch) here (default: the runs dir)"
    )
    train.add_argument("--resume", metavar="RUN", help="continue the unfinished run RUN (a directory or a run name)")
    train.add_argument("--device", default="auto", help="auto (default: cuda when available), cpu, cuda, cuda:N, mps")
    train.add_argument(
        "--train-eval", choices=TRAIN_EVALS, default="end", help="evaluate the whole training set (default: at the end)"
    )
    train.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    check = commands.add_parser("eval", help="evaluate a saved run on the test set")
    check.add_argument("run", metavar="RUN", help="the run's directory, or its name in the runs directory")
    check.add_argument("--runs-dir", help="where to look for a run named by name (default: the runs dir)")
    check.add_argument("--data-dir", help="MNIST directory (default: $BNN_DATA_DIR or a per-user cache)")
    check.add_argument("--device", default="auto", help="auto (default: cuda when available), cpu, cuda, cuda:N, mps")
    check.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    export = commands.add_parser("export", help="write a saved run's binarized network as C, ONNX or the packed file")
    export.add_argument("run", metavar="RUN", help="the run's directory, or its name in the runs directory")
    export.add_argument("--to", required=True, choices=FORMATS, help="c (C99 source + header), onnx, packed (.bnnx)")
    export.add_argument("--out", help="the file to write (default: the run's name in the current folder)")
    export.add_argument("--runs-dir", help="where to look for a run named by name (default: the runs dir)")
    from .study_commands import add_study_parser

    add_study_parser(commands)
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
    config = preset(args.preset or "fast").replace_train(**{k: v for k, v in overrides.items() if v is not None})
    return with_link_settings(config, args.set or [])


def with_link_settings(config, assignments: list[str]):
    """``config`` with each ``KEY=VALUE`` (link keys, :mod:`bnn.config.links`) set; ConfigError names a refused one."""
    params = dict(item.partition("=")[::2] for item in assignments)
    if bad := [item for item in assignments if "=" not in item]:
        raise ConfigError(f"--set {bad[0]!r}: write KEY=VALUE, e.g. --set lr=0.001")
    unknown = [key for key in params if key not in SETTINGS_BY_KEY and key != LAYERS_KEY]
    if unknown:
        raise ConfigError(f"--set {unknown[0]}: not a setting key (keys: {', '.join(SETTINGS_BY_KEY)}, {LAYERS_KEY})")
    config, problems = read_query_params(params, config)
    if problems:
        raise ConfigError("; ".join(problems))
    return config


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def load_mnist_or_report(data_dir: str | None) -> MnistData | None:
    """MNIST, or None after printing why it could not be loaded (for command-line tools)."""
    try:
        return load_mnist(data_dir)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _run_folder(run: str, runs_dir: str | None) -> Path:
    """A run given on the command line: its folder, or its name in ``runs_dir``."""
    path = Path(run)
    return path if path.is_dir() else (Path(runs_dir) if runs_dir else default_runs_dir()) / slugify(run)


def _run_to_resume(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[Run, dict]:
    given = [f"--{flag.replace('_', '-')}" for flag in CONFIG_FLAGS if getattr(args, flag) is not None]
    if given:
        parser.error(f"--resume continues a run with its own settings; drop {', '.join(given)}")
    path = _run_folder(args.resume, args.out)
    try:
        return load_run(path), load_checkpoint(path)
    except RunFormatError as exc:
        parser.error(f"cannot resume {args.resume}: {exc}")
    raise AssertionError("unreachable")


def train_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        device = resolve_device(args.device)
    except DeviceError as exc:
        parser.error(str(exc))
    if args.resume:
        run, checkpoint = _run_to_resume(args, parser)
        config = run.config
    else:
        config = _config_from_args(args)
        problems = start_problems(config)
        if problems:
            parser.error("; ".join(problems))
        if args.name is not None and (problem := name_problem(args.name)):
            parser.error(f"--name: {problem}")
        # the default name is new in the runs folder: an earlier run of the same preset and seed is kept
        out = Path(args.out) if args.out else default_runs_dir()
        name = args.name or unique_name(f"{args.preset or 'fast'}-seed{config.train.seed}", out)
        run, checkpoint = Run(name=name, config=config, preset=args.preset or "fast"), None
    data = load_mnist_or_report(args.data_dir)
    if data is None:
        return 1
    world, device = init_from_env(device)
    try:
        code = _train(args, run, checkpoint, data, world, device)
    except BaseException:
        shutdown()
        raise
    shutdown(together=True)
    return code


def _train(args, run: Run, checkpoint: dict | None, data: MnistData, world: World, device) -> int:
    """Train ``run`` (new, or an unfinished one to continue when ``checkpoint`` is given) as a
    :class:`bnn.jobs.training_job.TrainingJob`, the one launcher of every run, showing its progress;
    the first process of a group saves it. Prints the result; 1 when it failed or was not saved."""
    out = run.path.parent if run.path is not None else Path(args.out) if args.out else default_runs_dir()
    started = time.perf_counter()
    job = TrainingJob(
        run.config,
        data,
        name=run.name,
        preset=run.preset,
        device=device,
        train_eval=args.train_eval,
        runs_dir=out if world.is_main else None,  # one process of a group saves the run
        resume_from=run if checkpoint is not None else None,
        tensorboard=world.is_main,
    )
    ended = _follow(job.start(), show=world.is_main)
    if job.crash is not None:
        raise job.crash
    if not world.is_main:
        return 0
    if ended.status == Status.FAILED or ended.path is None:
        print(f"error: {ended.message}", file=sys.stderr)
        return 1
    _print_result(args, ended, time.perf_counter() - started, device, world)
    return 0


def _follow(job: TrainingJob, show: bool) -> Run:
    """Wait for ``job`` to end, with a progress bar on stderr (``show``); its ended run."""
    from tqdm import tqdm

    options = {"unit": "step", "file": sys.stderr, "dynamic_ncols": True, "disable": None if show else True}
    with tqdm(total=job.snapshot().total_steps or None, **options) as bar:
        while not job.join(PROGRESS_S):
            run = job.snapshot()
            bar.total = run.total_steps or None
            bar.update(run.step - bar.n)
            if run.records:
                record = run.records[-1]
                bar.set_postfix(
                    loss=f"{record['loss']:.4f}",
                    acc=f"{record['batch_accuracy']:.1f}%",
                    epoch=f"{run.step / max(1, run.total_steps) * run.config.train.epochs:.2f}",
                )
        run = job.snapshot()
        bar.update(run.step - bar.n)
    return run


def _print_result(args, run: Run, seconds: float, device, world: World) -> None:
    summary, config = run.summary, run.config
    result = {
        "preset": run.preset,
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
        "device": str(resolve_device(device)),
        "world_size": world.size,
        "run": str(run.path),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{run.preset}: test accuracy {result['test_accuracy']}%, train accuracy "
            f"{result['train_accuracy']}%, final loss {result['final_loss']}, {result['seconds']} s"
        )
        print(f"test predictions per class: {result['prediction_histogram']}")
        print(f"saved in {run.path}")


def _saved_model(args: argparse.Namespace, parser: argparse.ArgumentParser, verb: str):
    """The run ``args.run`` names and its model; one line and exit 2 for a bad run or one without weights."""
    try:
        run = load_run(_run_folder(args.run, args.runs_dir))
    except RunFormatError as exc:
        parser.error(f"cannot {verb} {args.run}: {exc}")
    model = run.model()
    if model is None:
        parser.error(f"cannot {verb} {args.run}: it has no weights")
    return run, model


def eval_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Evaluate a saved run on the test set, next to its own last test evaluation."""
    try:
        device = resolve_device(args.device)
    except DeviceError as exc:
        parser.error(str(exc))
    run, model = _saved_model(args, parser, "evaluate")
    data = load_mnist_or_report(args.data_dir)
    if data is None:
        return 1
    result = evaluate(model.to(device), data.test_images.to(device), data.test_labels.to(device), run.config.train.loss)
    recorded = run.test_accuracy
    report = {
        "run": str(run.path),
        "name": run.name,
        "status": str(run.status),
        "test_accuracy": round(result.accuracy, 4),
        "recorded_test_accuracy": None if recorded is None else round(recorded, 4),
        "agrees": recorded is not None and abs(result.accuracy - recorded) <= AGREEMENT_POINTS,
        "test_loss": result.loss,
        "prediction_histogram": result.prediction_histogram,
        "edits": len(run.edits),
        "device": str(device),
    }
    if args.json:
        print(json.dumps(report))
    else:
        recorded_text = "none recorded" if recorded is None else f"recorded {recorded:.2f}%"
        verdict = "agrees" if report["agrees"] else "DOES NOT agree"
        print(f"{run.name}: test accuracy {result.accuracy:.2f}% ({recorded_text}; {verdict})")
    return 0


def export_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Write a saved run's packed network in the format ``--to``; for C, what a device needs."""
    from ..deploy.formats import SUFFIXES, check_out, warm_kernels, write_export
    from ..xnor import XnorExportError, export_packed

    run, model = _saved_model(args, parser, "export")
    try:
        out = check_out(args.out or slugify(run.name) + SUFFIXES[args.to], args.to)
        warm_kernels()
        packed = export_packed(model.eval())
        written = write_export(packed, args.to, out)
    except (XnorExportError, ValueError) as exc:
        parser.error(f"cannot export {run.name}: {exc}")
    for path in written:
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    if args.to == "c":
        from ..deploy.c_device import code_bytes, device_rows
        from ..deploy.c_source import c_source

        source = c_source(packed, written[0].stem)
        measured = code_bytes(source)
        code = measured[0] if measured else None
        code_text = f"{code:,} bytes of code ({measured[1]})" if measured else "code (no compiler here to measure it)"
        print(
            f"flash: {source.const_bytes + (code or 0):,} bytes ({source.const_bytes:,} const data + {code_text}); "
            f"RAM: {source.ram_bytes:,} bytes of buffers"
        )
        for row in device_rows(source, code):
            print(f"  {row['part']}: {'fits' if row['fits'] else 'does not fit'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "eval":
            return eval_command(args, parser)
        if args.command == "export":
            return export_command(args, parser)
        if args.command == "study":
            from .study_commands import study_command

            return study_command(args, parser)
        return train_command(args, parser)
    except ConfigError as exc:
        parser.error(str(exc))
    return 2
