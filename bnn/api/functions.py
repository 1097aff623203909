"""The playground from Python: the public API that ``import bnn`` exports.

The app's parts one call away, with the app's behaviour and its run folders: train() a preset
or a config (in the calling thread or in the background, live=True for a figure that updates in
Jupyter), change a run while it trains (RunHandle.edit, the Train page's live edits), diagnose
it, predict with it, pack it for the XNOR engine, export it (C, ONNX, or the packed file that
load_packed() reads), compare() runs, and load_run() / runs() the saved ones.

A RunHandle is behaviour only; its data is one bnn.jobs.run.Run (handle.run), read afresh from the
training job at every access while it trains, else the saved run. Settings given as keywords are
the app's settings by name (bnn.settings() lists them: lr=1e-3, optimizer="sgd",
train_subset=5000 ...), checked by the same rules as the Train page; a bad name or value raises
ValueError naming it. Runs are saved where the app saves them ($BNN_RUNS_DIR, else a per-user
cache) unless runs_dir says otherwise; MNIST is read from $BNN_DATA_DIR (else downloaded once
into a per-user cache).

Binarized Neural Networks: Courbariaux, Hubara, Soudry, El-Yaniv, Bengio 2016, arXiv:1602.02830.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from ..config.schema import (
    ConfigError,
)
from ..jobs.run_folders import default_runs_dir
from ..jobs.run_folders import load_run as read_run
from ..jobs.run_listing import scan_runs
from ..jobs.run_names import slugify
from ..jobs.run_slots import RunSlots
from ..jobs.start_rules import start_problems
from ..jobs.training_job import TrainingJob
from .configuring import _config_of, configure
from .handle import EARLY_RECORD_S, RunHandle
from .results import Comparison, RunList

_slots: RunSlots | None = None  # the training slots of this process, as the app's (one run per two cores)
_names_given: set[str] = set()
_names_lock = threading.Lock()


def _unique_name(base: str, runs_dir: Path) -> str:
    """``base``, else ``base-2``, ``base-3`` ...: a name no saved run and no run of this process has."""
    with _names_lock:
        name, number = base, 1
        while name in _names_given or (runs_dir / slugify(name)).exists():
            number += 1
            name = f"{base}-{number}"
        _names_given.add(name)
        return name


def train(
    preset_or_config: Any = "fast",
    *,
    epochs: int | None = None,
    background: bool = False,
    runs_dir: str | os.PathLike | None = None,
    live: bool = False,
    name: str | None = None,
    fixes: Any = None,
    **settings: Any,
) -> RunHandle:
    """Train a preset or a config on MNIST and save it like the app (the Compare page lists it).

    Args:
        preset_or_config: a preset's name ("fast", "seed", ... see bnn.presets()), a config
            (bnn.configure(...), or a diagnosis' .apply()), its dict, or a run to train again.
        epochs: passes over the training images (default: the preset's).
        background: return at once while the run trains in a thread (run.wait() waits for it).
        runs_dir: the folder to save into (default: $BNN_RUNS_DIR, else the app's runs folder).
        live: in Jupyter, show the Train page's chart and the run's card, updated as it trains.
        name: the run's name (default: the preset's, or "<fixes>-fixed"), made unique in runs_dir.
        fixes: the run whose diagnosis gave these settings (Compare shows it).
        **settings: any setting by name: lr=1e-3, optimizer="sgd", batch_size=100,
            train_subset=5000, seed=1 ... (bnn.settings() lists every one, its values and default).

    Returns:
        A RunHandle: the run, ended (or training, with background=True).

    Raises:
        ValueError naming a bad setting name (with the closest one) or value.

    As in the app, at most one run per two cores trains at once; a further run waits for its
    turn (status "queued"). Every run also writes TensorBoard event files into its folder.

    Example:
        run = bnn.train("fast", epochs=1, train_subset=2000)
        run.test_accuracy
        run = bnn.train("fast", background=True, live=True)
        run.edit(lr=1e-3)
    """
    if epochs is not None:
        settings["epochs"] = epochs
    config = configure(preset_or_config, **settings)
    if problems := start_problems(config):
        raise ConfigError("; ".join(problems))
    _, preset = _config_of(preset_or_config)
    fixes = fixes.name if isinstance(fixes, RunHandle) else fixes
    directory = Path(runs_dir).expanduser() if runs_dir is not None else default_runs_dir()
    name = _unique_name(name or preset or (f"{fixes}-fixed" if fixes else "custom"), directory)
    job = TrainingJob(
        config,
        name=name,
        preset=preset,
        fixes=fixes,
        runs_dir=directory,
        slots=_shared_slots(),
        early_record_s=EARLY_RECORD_S if live else 0.0,  # a live chart moves from the first second
    )
    return _launch(job, live, background)


def _shared_slots() -> RunSlots:
    """The training slots of the runs this process starts (made at the first one)."""
    global _slots
    if _slots is None:
        _slots = RunSlots()
    return _slots


def _launch(job: TrainingJob, live: bool, background: bool) -> RunHandle:
    """Start ``job``; its handle, with the live figure shown first when ``live``, once the run has ended
    unless ``background``."""
    handle = RunHandle(job)
    if live:
        from .live_figure import LiveFigure

        handle._live = LiveFigure(handle)
        handle._live.show()
    job.start()
    if handle._live is not None and background:
        handle._live.follow_in_background()
    return handle if background else handle.wait()


def load_run(name_or_path: str | os.PathLike, runs_dir: str | os.PathLike | None = None) -> RunHandle:
    """A saved run, read back from its folder.

    Args:
        name_or_path: the run's folder, or its name in runs_dir.
        runs_dir: where to look for a name (default: $BNN_RUNS_DIR, else the app's runs folder).

    Returns:
        Its RunHandle (ValueError if there is no such run).

    Example:
        run = bnn.load_run("fast")
        run.predict(images)
    """
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        directory = Path(runs_dir).expanduser() if runs_dir is not None else default_runs_dir()
        path = directory / slugify(str(name_or_path))
        if not path.is_dir():
            raise ValueError(f"no run {str(name_or_path)!r} in {directory}")
    return RunHandle(read_run(path))


def runs(runs_dir: str | os.PathLike | None = None) -> RunList:
    """The saved runs, newest first.

    Args:
        runs_dir: the folder (default: $BNN_RUNS_DIR, else the app's runs folder).

    Returns:
        A list of RunHandle that shows as a table; .unreadable lists the folders that are not
        readable runs, with the reason.

    Example:
        bnn.runs()
        bnn.runs()[0].figure()
    """
    directory = Path(runs_dir).expanduser() if runs_dir is not None else default_runs_dir()
    saved, unreadable = scan_runs(directory)
    saved = sorted(saved, key=lambda run: run.created, reverse=True)
    return RunList((RunHandle(run) for run in saved), unreadable, directory)


def load_packed(path: str | os.PathLike):
    """A packed model file (.bnnx) as a bnn.xnor.PackedModel.

    The file comes from RunHandle.export("packed"), python -m bnn export RUN --to packed, or the
    app's download. It is checked before it is used (no pickle; sizes, types, checksum); the C file
    and the page's engine read the same bytes (the format: bnn/xnor/fileformat.py).

    Args:
        path: the .bnnx file.

    Returns:
        A PackedModel: predict(images) and scores(images) take pixels in [0, 1], (N, 784) or
        (N, 1, 28, 28). bnn.xnor.PackedFileError (a ValueError) says why a file is refused.

    Example:
        packed = bnn.load_packed("fast.bnnx")
        packed.predict(images / 255.0)[:5]  # array([7, 2, 1, 0, 4])
    """
    from ..deploy.formats import warm_kernels
    from ..xnor import load_packed as read_packed

    warm_kernels()
    return read_packed(path)


def compare(*runs: RunHandle | str) -> Comparison:
    """Runs side by side.

    Args:
        *runs: RunHandles, or saved runs' names or folders.

    Returns:
        A Comparison, shown as a table of their results and the settings that differ;
        .figure() overlays their test accuracy (.figure("loss"): their loss).

    Example:
        bnn.compare(seed, fixed).figure()
    """
    if not runs:
        raise ValueError("compare() needs at least one run")
    return Comparison([run if isinstance(run, RunHandle) else load_run(run) for run in runs])
