"""The one reader and writer of run folders: a :class:`bnn.jobs.run.Run` saved as a directory,
``meta.json`` (name, preset, status, the run its settings fix, its owner on a shared server),
``config.json`` (the settings **as trained**, live edits applied, so the folder describes exactly
the network that trained),
``metrics.json`` (records, evaluations, summary, live edits), ``weights.pt``, TensorBoard event files
(:mod:`bnn.training.tensorboard_log`, carried over at every save), and while it is
unfinished ``checkpoint.pt`` (optimizer and random states to continue it, see
:meth:`bnn.training.loop.Trainer.state_dict`).

Folders of format 1 (before the run type) kept the live edits in the summary only, and some kept
the starting settings in ``config.json``: they are read with the edits applied, which gives the
settings as trained whichever of the two was saved (an edit sets a value; setting it twice is
setting it once).

Written atomically: everything goes to a temporary sibling directory that is renamed into place,
so a crash never leaves half a run. Weights are a plain ``state_dict`` read back with
``torch.load(..., weights_only=True)`` (no pickle code execution).

A run folder is untrusted input: every file is checked on load (``meta.json`` field types,
``config.json`` through :func:`bnn.config.schema.validate`, each metric record against its type in
:mod:`bnn.training.metrics`) and only regular files inside the runs directory are read
(:mod:`bnn.jobs.safe_io`). What fails is a :class:`RunFormatError` naming the file and the reason;
:func:`scan_runs` lists such folders apart, so one bad run never hides the others.

Runs live under ``$BNN_RUNS_DIR``, else a per-user cache directory. :func:`metrics_csv` exports
a run's metrics as one CSV.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import stat
import tempfile
import threading
import time
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config.architecture import layer_names
from ..config.schema import ConfigError, RunConfig, validate
from ..network.models import BinaryNet, build_model
from ..training.live_edits import LIVE_LAYER_SETTINGS, LIVE_TRAIN_SETTINGS, edited_config
from ..training.metrics import EvalRecord, StepRecord, record_problem
from ..training.tensorboard_log import is_event_file
from .run import Run, Status, final_status
from .safe_io import check_folder, is_regular_file, read_bytes

FORMAT = "bnn-playground-run"
FORMAT_VERSION = 2  # 2: config.json as trained, status and fixes in meta.json, edits in metrics.json
RUNS_ENV_VAR = "BNN_RUNS_DIR"
WEIGHTS_FILE, CONFIG_FILE, METRICS_FILE, META_FILE = "weights.pt", "config.json", "metrics.json", "meta.json"
CHECKPOINT_FILE = "checkpoint.pt"
STUDY_FILE = "study.json"  # marks a study folder (bnn.jobs.studies): its variants' run folders are inside
MAX_JSON_BYTES = 256 * 1024**2  # no JSON file of a run is read beyond this, whatever its settings
# What a real run can write into metrics.json, from its own settings (metrics_limit): at most one
# record per optimizer step (the app and the CLI write one per 20; a notebook may ask for every
# step) plus one at each epoch's end and the early ones of a young run (bnn.training.loop.YOUNG_RUN_S of
# records every >= 0.1 s), each record at most RECORD_BYTES (8 numbers, and a flip rate and a
# saturation for each of up to 12 layers: ~1 kB); two evaluations per epoch; and SLACK_BYTES for
# "Test now" evaluations and live edits.
MNIST_TRAIN_IMAGES = 60_000
YOUNG_RECORDS = 100
RECORD_BYTES = 2048
EVAL_BYTES = 1024
SLACK_BYTES = 4 * 1024**2


class RunFormatError(ValueError):
    """The directory or file is not a BNN Playground run."""


def default_runs_dir() -> Path:
    if os.environ.get(RUNS_ENV_VAR):
        return Path(os.environ[RUNS_ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "bnn-playground" / "runs"


MAX_NAME_CHARS = 120  # a name someone types (Rename, the CLI's --name); the app's own are shorter
MAX_STORED_NAME_CHARS = 1000  # a meta.json name longer than this is not a run's (crafted): refused


class RunNameError(ValueError):
    """A name a run cannot take; the message says why, in one sentence."""


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a run (None when it can): empty, longer than
    :data:`MAX_NAME_CHARS`, or holding control or format characters (newlines, bidi overrides)."""
    if not name.strip():
        return "a run needs a name"
    if len(name) > MAX_NAME_CHARS:
        return f"a run's name has at most {MAX_NAME_CHARS} characters, this one {len(name):,}"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        return "a run's name cannot hold control characters (newlines, tabs, direction marks)"
    return None


def unique_name(name: str, directory: str | os.PathLike, taken: Collection[str] = ()) -> str:
    """``name``, or ``name-2``, ``name-3`` ...: the first that is not in ``taken`` (names of runs
    training or saved) and whose folder :func:`slugify` gives is free in ``directory``."""
    parent, candidate, count = Path(directory), name, 1
    while candidate in taken or slugify(candidate) in taken or os.path.lexists(parent / slugify(candidate)):
        count += 1
        candidate = f"{name}-{count}"
    return candidate


def _free_folder(parent: Path, slug: str) -> Path:
    """``parent / slug``, or ``slug-2``, ``slug-3`` ...: the first that does not exist."""
    target, count = parent / slug, 1
    while os.path.lexists(target):
        count += 1
        target = parent / f"{slug}-{count}"
    return target


def _is_own_folder(path: Path, run: Run) -> bool:
    """``path`` holds nothing, or an earlier save of ``run`` itself (same ``created`` time, which a
    run keeps from its first save): the only folders a save may replace."""
    if not os.path.lexists(path):
        return True
    try:
        return bool(run.created) and _meta(path).get("created") == run.created
    except (RunFormatError, OSError, RecursionError):
        return False


def slugify(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return slug[:80] or "run"


def _clean(value):
    """JSON has no NaN: write null instead (and keep the structure)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def save_run(
    run: Run,
    directory: str | os.PathLike | None = None,
    *,
    model: BinaryNet | None = None,
    checkpoint: dict | None = None,
    replaces: Path | None = None,
) -> Run:
    """Write ``run`` atomically into its own folder when it is saved in ``directory`` already,
    else into ``replaces`` (a folder of ``directory`` the caller means it to take the place of,
    e.g. a study's stopped run trained again), else into a new folder ``directory / slug(name)``
    (``-2``, ``-3`` ... when that exists: a save never replaces a folder that is not the run's
    own, another owner's especially); with ``model``'s weights (default: :meth:`Run.model`) and,
    for an unfinished run, ``checkpoint``. Returns the run with its ``path`` and ``created`` time."""
    parent = Path(directory) if directory is not None else default_runs_dir()
    parent.mkdir(parents=True, exist_ok=True)
    if run.path is not None and run.path.parent == parent and _is_own_folder(run.path, run):
        target = run.path
    elif replaces is not None and Path(replaces).parent == parent:
        target = Path(replaces)
    else:
        target = _free_folder(parent, slugify(run.name))
    model = model if model is not None else run.model()
    status = Status.INTERRUPTED if checkpoint is not None else run.status
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=parent))
    carried: list[str] = []
    try:
        created = run.created or time.time()
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "name": run.name,
            "created": created,
            "preset": run.preset,
            "fixes": run.fixes,
            "owner": run.owner,
            "status": str(status),
            "message": run.message,
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
        (tmp / CONFIG_FILE).write_text(run.config.to_json())
        metrics = {"records": run.records, "evals": run.evals, "summary": run.summary, "edits": run.edits}
        (tmp / METRICS_FILE).write_text(json.dumps(_clean(metrics)))
        if model is not None:
            state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            torch.save(state, tmp / WEIGHTS_FILE)
        if checkpoint is not None:
            torch.save(checkpoint, tmp / CHECKPOINT_FILE)
        carried = _carry_event_files(target, tmp) if target.exists() else []
        if target.exists():
            old = parent / f".{target.name}.old-{os.getpid()}-{time.monotonic_ns()}"
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        if tmp.exists() and target.exists():
            _carry_event_files(tmp, target, carried)  # back where the run's writer left them
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return run.but(path=target, created=created, status=status, weights=_weights_reader(target, run.config))


def metrics_limit(config: RunConfig) -> int:
    """The most bytes a run of ``config`` can write into its ``metrics.json`` (see RECORD_BYTES):
    e.g. ``fast`` (3 epochs of 300 steps) 6.3 MB, ``best`` (12 epochs of 600) 19 MB; a larger
    file is not a run's, and is not read."""
    images = min(config.train.train_subset or MNIST_TRAIN_IMAGES, MNIST_TRAIN_IMAGES)
    steps = -(-images // config.train.batch_size) * config.train.epochs
    records = steps + config.train.epochs + YOUNG_RECORDS
    evals = 2 * config.train.epochs
    return min(records * RECORD_BYTES + evals * EVAL_BYTES + SLACK_BYTES, MAX_JSON_BYTES)


def _carry_event_files(source: Path, target: Path, names: list[str] | None = None) -> list[str]:
    """Move the TensorBoard event files (:mod:`bnn.training.tensorboard_log`) of the run folder ``source``
    into ``target`` (regular files only, never followed): a save replaces the folder, and a
    writer's open file follows its file. Returns their names."""
    if names is None:
        names = [
            entry.name
            for entry in os.scandir(source)
            if is_event_file(entry.name) and entry.is_file(follow_symlinks=False)
        ]
    for name in names:
        os.replace(source / name, target / name)
    return names


def _read_json(path: Path, limit: int = MAX_JSON_BYTES) -> dict:
    try:
        data = json.loads(read_bytes(path, limit))
    except FileNotFoundError:
        raise RunFormatError(f"{path.name} is missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise RunFormatError(f"{path.name} is not readable JSON ({exc})") from None
    except RecursionError:  # e.g. 100,000 nested [: json.loads gives up in the middle
        raise RunFormatError(f"{path.name} is nested too deeply to be a run's JSON") from None
    if not isinstance(data, dict):
        raise RunFormatError(f"{path.name} does not hold a JSON object")
    return data


def _torch_file(path: Path, what: str) -> dict:
    try:
        state = torch.load(io.BytesIO(read_bytes(path)), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunFormatError(f"{path} is missing") from None
    except Exception as exc:  # not a regular file, pickle errors, truncated zip, unsafe globals ...
        raise RunFormatError(f"{path} is not a BNN Playground {what} ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict):
        raise RunFormatError(f"{path} is not a BNN Playground {what}")
    return state


def load_weights(model: BinaryNet, path: str | os.PathLike) -> BinaryNet:
    """Load a ``state_dict`` saved by :func:`save_run` into ``model``; reject anything else."""
    state = _torch_file(Path(path), "weights file")
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RunFormatError(f"{path} does not hold a state_dict of tensors")
    expected = model.state_dict()
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in expected):
        raise RunFormatError(f"{path} holds weights of a different architecture than its config.json")
    model.load_state_dict(state)
    return model.eval()


def _model_to_load(config: RunConfig) -> BinaryNet:
    """A model of ``config`` with uninitialized weights, for :func:`load_weights` to fill.

    Built on the meta device, so that reading a run draws nothing from torch's global random
    generator: a run training in another thread draws its dropout masks from it, and saves its
    state in checkpoints (:meth:`bnn.training.loop.Trainer.state_dict`), so any draw here would make
    that run, and a run resumed from it, differ from the same run trained undisturbed.
    """
    with torch.device("meta"):
        model = build_model(config.model)
    return model.to_empty(device="cpu")


def _weights_reader(path: Path, config: RunConfig):
    """Reads the weights of the run folder ``path`` on each call (None when it has none)."""

    def read() -> BinaryNet | None:
        file = path / WEIGHTS_FILE
        return load_weights(_model_to_load(config), file) if is_regular_file(file) else None

    return read


def read_weights_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a run's weights file, for a download: only a regular file inside the run."""
    try:
        return read_bytes(Path(path) / WEIGHTS_FILE)
    except OSError as exc:
        raise RunFormatError(f"{WEIGHTS_FILE}: {exc}") from None


def load_checkpoint(run: Run | str | os.PathLike) -> dict:
    """The checkpoint of an unfinished run (a :class:`Run` or its folder); :class:`RunFormatError`
    if it has none."""
    path = run.path if isinstance(run, Run) else run
    if path is None:
        raise RunFormatError(f"{run.name} is not saved, so it has no checkpoint")
    file = Path(path) / CHECKPOINT_FILE
    if not is_regular_file(file):
        raise RunFormatError(f"{path} has no {CHECKPOINT_FILE}: the run has finished, or was saved without one")
    return _torch_file(file, "checkpoint")


def _meta(path: Path) -> dict:
    if not (path / META_FILE).exists():
        raise RunFormatError(f"{path} is not a BNN Playground run (no {META_FILE})")
    meta = _read_json(path / META_FILE)
    if meta.get("format") != FORMAT:
        raise RunFormatError(f"{META_FILE} does not say format {FORMAT!r}: not a BNN Playground run")
    version = meta.get("version", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool):
        raise RunFormatError(f"{META_FILE}: version must be a whole number, got {version!r:.40}")
    if version > FORMAT_VERSION:
        raise RunFormatError(f"{META_FILE}: written by a newer BNN Playground (format {version})")
    for key, kinds, label in (
        ("name", (str,), "text"),
        ("created", (int, float), "a number"),
        ("preset", (str, type(None)), "text or null"),
        ("fixes", (str, type(None)), "text or null"),
        ("owner", (str, type(None)), "text or null"),
        ("status", (str,), "text"),
        ("message", (str,), "text"),
    ):
        value = meta.get(key)
        if key in meta and (not isinstance(value, kinds) or isinstance(value, bool)):
            raise RunFormatError(f"{META_FILE}: {key} must be {label}, got {value!r:.40}")
    if len(meta.get("name", "")) > MAX_STORED_NAME_CHARS:
        raise RunFormatError(f"{META_FILE}: name has more than {MAX_STORED_NAME_CHARS:,} characters")
    if "status" in meta and meta["status"] not in Status.__members__.values():
        raise RunFormatError(f"{META_FILE}: status must be one of {', '.join(Status)}, got {meta['status']!r:.40}")
    return meta


SUMMARY_NUMBERS = ("test_accuracy", "train_accuracy", "final_loss", "test_loss", "train_seconds", "seconds", "epochs")


def _metrics(path: Path, config: RunConfig) -> dict:
    if not (path / METRICS_FILE).exists():
        return {}
    metrics = _read_json(path / METRICS_FILE, metrics_limit(config))
    for key, kind in (("records", StepRecord), ("evals", EvalRecord)):
        items = metrics.get(key, [])
        if not isinstance(items, list):
            raise RunFormatError(f"{METRICS_FILE}: {key} must be a list, got {type(items).__name__}")
        for index, item in enumerate(items):
            if problem := record_problem(item, kind):
                raise RunFormatError(f"{METRICS_FILE}: {key}[{index}]: {problem}")
    summary = metrics.get("summary", {})
    if not isinstance(summary, dict):
        raise RunFormatError(f"{METRICS_FILE}: summary must be an object, got {type(summary).__name__}")
    for key in SUMMARY_NUMBERS:
        value = summary.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise RunFormatError(f"{METRICS_FILE}: summary.{key} must be a number, got {value!r:.40}")
    return metrics


def _edits(items: object, where: str) -> list[dict]:
    """Live edits read back from a run folder, each checked (see :attr:`bnn.training.loop.Trainer.edits`)."""
    if not isinstance(items, list):
        raise RunFormatError(f"{where} must be a list, got {type(items).__name__}")
    for index, edit in enumerate(items):
        if not isinstance(edit, dict):
            raise RunFormatError(f"{where}[{index}] must be an object")
        setting, layer, step = edit.get("setting"), edit.get("layer"), edit.get("step")
        if setting not in LIVE_TRAIN_SETTINGS + LIVE_LAYER_SETTINGS:
            raise RunFormatError(f"{where}[{index}]: {setting!r:.40} is not a live setting")
        if (setting in LIVE_LAYER_SETTINGS) != isinstance(layer, str):
            raise RunFormatError(f"{where}[{index}]: a layer edit names its layer, another names none")
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise RunFormatError(f"{where}[{index}]: step must be a whole number, got {step!r:.40}")
    return items


def _as_trained(config: RunConfig, edits: list[dict]) -> RunConfig:
    """``config`` with every edit's new value set, in order (format 1 folders, see the module
    docstring); :class:`RunFormatError` when an edit does not fit the settings."""
    layers = layer_names(config.model)
    for edit in edits:
        layer = edit["layer"]
        if layer is not None and layer not in layers:
            raise RunFormatError(f"{METRICS_FILE}: an edit names layer {layer!r:.40}, which this network lacks")
        try:
            config = edited_config(config, edit["setting"], layers.index(layer) if layer else None, edit["new"])
        except (ConfigError, TypeError, ValueError) as exc:
            raise RunFormatError(f"{METRICS_FILE}: an edit does not fit the settings ({exc})") from None
    return config


def _steps_done(records: list[StepRecord], summary: dict, epochs: int) -> tuple[int, int]:
    """Steps trained and steps planned, from the last record (a saved run keeps no counter)."""
    last = records[-1] if records else None
    steps = summary.get("steps")
    step = steps if isinstance(steps, int) and not isinstance(steps, bool) else last["step"] if last else 0
    per_epoch = last["step"] / last["epoch"] if last and last.get("epoch") else 0
    return step, round(per_epoch * epochs)


def load_run(path: str | os.PathLike, with_model: bool = True) -> Run:
    """The run saved at ``path``, every file checked (:class:`RunFormatError` names the file and
    the reason). Only regular files are read: links, pipes and devices are refused. With
    ``with_model`` its weights are read (and checked) now and kept; else :meth:`Run.model` reads
    them when asked. Nothing is drawn from torch's random generator (see ``_model_to_load``)."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        raise RunFormatError(f"{path} is not a run directory") from None
    if not stat.S_ISDIR(mode):
        raise RunFormatError(f"{path} is not a run directory (a link, a file or a device)")
    meta = _meta(path)
    try:
        config = RunConfig.from_dict(_read_json(path / CONFIG_FILE))
    except ConfigError as exc:
        raise RunFormatError(f"{CONFIG_FILE}: {exc}") from None
    if problems := validate(config):
        raise RunFormatError(f"{CONFIG_FILE}: {problems[0]}")
    metrics = _metrics(path, config)
    summary = metrics.get("summary", {})
    records = metrics.get("records", [])
    unfinished = is_regular_file(path / CHECKPOINT_FILE)
    if meta.get("version", 1) >= 2:
        edits = _edits(metrics.get("edits", []), f"{METRICS_FILE}: edits")
        status = Status(meta.get("status", Status.FINISHED))
        if unfinished or not status.ended:  # saved while it trained
            status = Status.INTERRUPTED if unfinished else Status.STOPPED
        fixes = meta.get("fixes")
    else:
        edits = _edits(summary.get("edits") or [], f"{METRICS_FILE}: summary.edits")
        config = _as_trained(config, edits)
        status = final_status(summary, config, unfinished)
        fixes = summary.get("fixes") if isinstance(summary.get("fixes"), str) else None
    step, total_steps = _steps_done(records, summary, config.train.epochs)
    weights = _weights_reader(path, config)
    if with_model and is_regular_file(path / WEIGHTS_FILE):
        model = weights()

        def weights() -> BinaryNet | None:
            return model

    nonfinite = summary.get("first_nonfinite_step")
    return Run(
        name=meta.get("name", path.name),
        config=config,
        status=status,
        preset=meta.get("preset"),
        fixes=fixes,
        owner=meta.get("owner"),
        edits=edits,
        records=records,
        evals=metrics.get("evals", []),
        summary=summary,
        message=meta.get("message", ""),
        path=path,
        created=float(meta.get("created", 0.0)),
        step=step,
        total_steps=total_steps,
        nonfinite_step=nonfinite if isinstance(nonfinite, int) and not isinstance(nonfinite, bool) else None,
        weights=weights,
    )


MAX_LISTED = 4096  # run folders whose reading is kept (a Run without weights: its metrics, ~1 MB at most)
_listed_runs: dict[str, tuple[tuple, Run | str]] = {}  # folder -> (its signature, the run or why unreadable)
_listed_lock = threading.Lock()


def _signature(path: Path) -> tuple:
    """What changes when anything :func:`load_run` reads in ``path`` changes: inode, modification
    time, size and kind of the folder and of each of its files (a save replaces the folder, a
    rename replaces ``meta.json``; both give new inodes)."""
    stats = []
    for name in ("", META_FILE, CONFIG_FILE, METRICS_FILE, CHECKPOINT_FILE, WEIGHTS_FILE):
        try:
            info = os.lstat(path / name if name else path)
        except OSError:
            stats.append(None)
            continue
        stats.append((info.st_ino, info.st_mtime_ns, info.st_size, info.st_mode))
    return tuple(stats)


def _listed(path: Path) -> Run:
    """``load_run(path, with_model=False)``, read again only when the folder's :func:`_signature`
    changed (a refusal is kept too): a page that lists the runs checks each folder once, not at
    every page run (checking a run's metrics takes ~20 µs per record)."""
    key, signature = str(path), _signature(path)
    with _listed_lock:
        known = _listed_runs.get(key)
    if known is None or known[0] != signature:
        try:
            known = (signature, load_run(path, with_model=False))
        except (RunFormatError, RecursionError) as exc:
            known = (signature, str(exc) if isinstance(exc, RunFormatError) else f"{path.name}: nested too deeply")
        with _listed_lock:
            _listed_runs.pop(key, None)
            _listed_runs[key] = known
            while len(_listed_runs) > MAX_LISTED:
                _listed_runs.pop(next(iter(_listed_runs)))
    if isinstance(known[1], str):
        raise RunFormatError(known[1])
    return known[1]


@dataclass(frozen=True)
class UnreadableRun:
    path: Path
    reason: str  # names the file and what is wrong with it


def scan_runs(directory: str | os.PathLike | None = None) -> tuple[list[Run], list[UnreadableRun]]:
    """Every run under ``directory`` (without weights), newest first, and every entry there that
    is not a readable run, with the reason. Hidden entries (runs being written) are left out; the
    runs of a study folder (:mod:`bnn.jobs.studies`) in ``directory`` are listed too."""
    parent = Path(directory) if directory is not None else default_runs_dir()
    runs, unreadable = [], []
    if parent.is_dir():
        _recover_replaced_runs(parent)
        remove_stale_temporaries(parent)
        in_study = (parent / STUDY_FILE).is_file()
        for child in sorted(parent.iterdir()):
            if child.name.startswith(".") or (in_study and child.name == STUDY_FILE):
                continue  # runs being written; a study's own definition (bnn.jobs.studies)
            try:
                check_folder(child, parent)
                if (child / STUDY_FILE).is_file() and not in_study:
                    inside, bad = scan_runs(child)
                    runs += inside
                    unreadable += bad
                    continue
                runs.append(_listed(child))
            except (RunFormatError, OSError, RecursionError) as exc:  # one bad folder hides only itself
                unreadable.append(UnreadableRun(child, str(exc)))
    return sorted(runs, key=lambda r: r.created, reverse=True), unreadable


def _recover_replaced_runs(parent: Path) -> None:
    """Put back a run whose save was cut between moving the old copy aside and moving the new
    one in (see :func:`save_run`): the old copy is whole."""
    for old in parent.glob(".*.old-*"):
        target = parent / old.name[1:].split(".old-", 1)[0]
        if not target.exists() and not old.is_symlink() and old.is_dir():
            try:
                os.replace(old, target)
            except OSError:
                continue


STALE_TEMPORARY_S = 600.0  # a save takes seconds (the paper's 150 MB of weights: ~2 s); 10 min untouched is dead
_TEMPORARY = re.compile(r"\..+\.(?:tmp-(?P<tmp_pid>\d+)-[^/]*|old-(?P<old_pid>\d+)-\d+|[A-Za-z0-9_]{8})")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0
    return True


def remove_stale_temporaries(parent: Path) -> list[str]:
    """Remove the hidden folders that saves cut short left in ``parent`` (a kill during
    :func:`save_run`): its temporary folders ``.NAME.tmp-PID-XXXX`` (``.NAME.XXXXXXXX`` before),
    and old copies ``.NAME.old-PID-NS`` whose run is back in place (:func:`_recover_replaced_runs`
    runs first). One is stale when the process that wrote it is gone, or when nothing touched it
    for :data:`STALE_TEMPORARY_S`; a save in progress is neither. Returns the names removed."""
    removed = []
    now = time.time()
    for child in parent.iterdir() if parent.is_dir() else ():
        match = _TEMPORARY.fullmatch(child.name)
        if match is None:
            continue
        try:
            info = os.lstat(child)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode):
            continue
        pid = match["tmp_pid"] or match["old_pid"]
        if (pid is not None and not _alive(int(pid))) or now - info.st_mtime > STALE_TEMPORARY_S:
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child.name)
    return removed


def list_runs(directory: str | os.PathLike | None = None) -> list[Run]:
    """Every readable run under ``directory`` (without weights), newest first."""
    return scan_runs(directory)[0]


def _own_run_folder(path: Path) -> None:
    """Refuse to change anything but a real run folder (no link, in its runs directory)."""
    try:
        check_folder(path, path.parent)
    except OSError as exc:
        raise RunFormatError(str(exc)) from None


def rename_run(path: str | os.PathLike, new_name: str) -> None:
    """Give the run saved at ``path`` the name ``new_name`` (:class:`RunNameError` when
    :func:`name_problem` refuses it; that no other run has it is the caller's to check)."""
    if problem := name_problem(new_name):
        raise RunNameError(problem)
    path = Path(path)
    _own_run_folder(path)
    meta = _meta(path)
    meta["name"] = new_name
    tmp = path / f".{META_FILE}.tmp"
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, path / META_FILE)


def delete_run(path: str | os.PathLike) -> None:
    path = Path(path)
    _own_run_folder(path)
    load_run(path, with_model=False)  # refuse to delete what is not ours
    shutil.rmtree(path)


def metrics_csv(records: list[StepRecord], evals: list[EvalRecord]) -> str:
    """A run's metric records and evaluations as one CSV (``kind`` is "step" or "eval"); per-layer
    dicts (flip rate, saturation) become one column per layer, e.g. ``flip_rate.dense1``."""
    rows = []
    for kind, items in (("step", records), ("eval", evals)):
        for item in items:
            row = {"kind": kind}
            for name, value in item.items():
                if isinstance(value, dict):
                    row.update({f"{name}.{layer}": v for layer, v in value.items()})
                elif isinstance(value, (list, tuple)):
                    row[name] = " ".join(str(v) for v in value)
                else:
                    row[name] = value
            rows.append(row)
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns or ["kind"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
