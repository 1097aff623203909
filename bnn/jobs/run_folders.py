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
:func:`bnn.jobs.run_listing.scan_runs` lists such folders apart, so one bad run never hides the others.

Runs live under ``$BNN_RUNS_DIR``, else a per-user cache directory. A run's name:
:mod:`bnn.jobs.run_names`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

import torch

from ..config.architecture import layer_names
from ..config.schema import ConfigError, RunConfig, validate
from ..network.models import BinaryNet
from ..training.live_edits import LIVE_LAYER_SETTINGS, LIVE_TRAIN_SETTINGS, edited_config
from ..training.metrics import EvalRecord, StepRecord, record_problem
from ..training.tensorboard_log import is_event_file
from .run import Run, Status, final_status
from .run_format import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    FORMAT,
    FORMAT_VERSION,
    MAX_JSON_BYTES,
    META_FILE,
    METRICS_FILE,
    RUNS_ENV_VAR,
    WEIGHTS_FILE,
    RunFormatError,
    metrics_limit,
)
from .run_names import MAX_STORED_NAME_CHARS, RunNameError, name_problem, slugify
from .run_weights import weights_reader
from .safe_io import check_folder, is_regular_file, read_bytes

# meta.json holds ``format`` and ``version``, then these fields of the :class:`Run`, in this order
# (the one list of them, for the writer and the reader): the attribute's name, the JSON types a
# reader accepts and their words, and its value for a folder that has none (the name: the folder's).
META_FIELDS: dict[str, tuple[tuple[type, ...], str, object]] = {
    "name": ((str,), "text", None),
    "created": ((int, float), "a number", 0.0),
    "preset": ((str, type(None)), "text or null", None),
    "fixes": ((str, type(None)), "text or null", None),
    "owner": ((str, type(None)), "text or null", None),
    "status": ((str,), "text", Status.FINISHED),
    "message": ((str,), "text", ""),
}


def default_runs_dir() -> Path:
    if os.environ.get(RUNS_ENV_VAR):
        return Path(os.environ[RUNS_ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "bnn-playground" / "runs"


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


def _clean(value):
    """JSON has no NaN: write null instead (and keep the structure)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _save_target(run: Run, parent: Path, replaces: Path | None) -> Path:
    """The folder :func:`save_run` writes ``run`` into: its own folder in ``parent``, else ``replaces``
    (when in ``parent``), else a new folder named after the run."""
    if run.path is not None and run.path.parent == parent and _is_own_folder(run.path, run):
        return run.path
    if replaces is not None and Path(replaces).parent == parent:
        return Path(replaces)
    return _free_folder(parent, slugify(run.name))


def _write_files(
    folder: Path, run: Run, created: float, status: Status, model: BinaryNet | None, checkpoint: dict | None
) -> None:
    """Write the files of ``run`` into ``folder`` (a temporary one, see :func:`save_run`)."""
    fields = {key: getattr(run, key) for key in META_FIELDS} | {"created": created, "status": str(status)}
    meta = {"format": FORMAT, "version": FORMAT_VERSION, **fields}
    (folder / META_FILE).write_text(json.dumps(meta, indent=2))
    (folder / CONFIG_FILE).write_text(run.config.to_json())
    metrics = {"records": run.records, "evals": run.evals, "summary": run.summary, "edits": run.edits}
    (folder / METRICS_FILE).write_text(json.dumps(_clean(metrics)))
    if model is not None:
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(state, folder / WEIGHTS_FILE)
    if checkpoint is not None:
        torch.save(checkpoint, folder / CHECKPOINT_FILE)


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
    target = _save_target(run, parent, replaces)
    model = model if model is not None else run.model()
    status = Status.INTERRUPTED if checkpoint is not None else run.status
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=parent))
    carried: list[str] = []
    try:
        created = run.created or time.time()
        _write_files(tmp, run, created, status, model, checkpoint)
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
    return run.but(path=target, created=created, status=status, weights=weights_reader(target, run.config))


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
    for key, (kinds, label, _) in META_FIELDS.items():
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


def _config(path: Path) -> RunConfig:
    """The settings in the run folder ``path``'s ``config.json``, checked."""
    try:
        config = RunConfig.from_dict(_read_json(path / CONFIG_FILE))
    except ConfigError as exc:
        raise RunFormatError(f"{CONFIG_FILE}: {exc}") from None
    if problems := validate(config):
        raise RunFormatError(f"{CONFIG_FILE}: {problems[0]}")
    return config


def _stored_fields(meta: dict, path: Path) -> dict:
    """The :class:`Run` fields ``meta.json`` keeps (:data:`META_FIELDS`), a default for each it lacks."""
    stored = {key: meta.get(key, default) for key, (_, _, default) in META_FIELDS.items()}
    return stored | {"name": meta.get("name", path.name), "created": float(stored["created"])}


def _history(
    meta: dict, stored: dict, metrics: dict, config: RunConfig, unfinished: bool
) -> tuple[RunConfig, list[dict], Status, str | None]:
    """The settings as trained, the live edits, the status and the run it fixes, as the folder's
    format version keeps them (format 1: in the summary, see the module docstring)."""
    summary = metrics.get("summary", {})
    if meta.get("version", 1) >= 2:
        edits = _edits(metrics.get("edits", []), f"{METRICS_FILE}: edits")
        status = Status(stored["status"])
        if unfinished or not status.ended:  # saved while it trained
            status = Status.INTERRUPTED if unfinished else Status.STOPPED
        return config, edits, status, stored["fixes"]
    edits = _edits(summary.get("edits") or [], f"{METRICS_FILE}: summary.edits")
    config = _as_trained(config, edits)
    fixes = summary.get("fixes") if isinstance(summary.get("fixes"), str) else None
    return config, edits, final_status(summary, config, unfinished), fixes


def load_run(path: str | os.PathLike, with_model: bool = True) -> Run:
    """The run saved at ``path``, every file checked (:class:`RunFormatError` names the file and
    the reason). Only regular files are read: links, pipes and devices are refused. With
    ``with_model`` its weights are read (and checked) now and kept; else :meth:`Run.model` reads
    them when asked. Nothing is drawn from torch's random generator (see :func:`bnn.jobs.run_weights.model_to_load`)."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        raise RunFormatError(f"{path} is not a run directory") from None
    if not stat.S_ISDIR(mode):
        raise RunFormatError(f"{path} is not a run directory (a link, a file or a device)")
    meta = _meta(path)
    config = _config(path)
    metrics = _metrics(path, config)
    summary = metrics.get("summary", {})
    records = metrics.get("records", [])
    unfinished = is_regular_file(path / CHECKPOINT_FILE)
    stored = _stored_fields(meta, path)
    config, edits, status, fixes = _history(meta, stored, metrics, config, unfinished)
    step, total_steps = _steps_done(records, summary, config.train.epochs)
    weights = weights_reader(path, config)
    if with_model and is_regular_file(path / WEIGHTS_FILE):
        model = weights()

        def weights() -> BinaryNet | None:
            return model

    nonfinite = summary.get("first_nonfinite_step")
    return Run(
        **stored | {"status": status, "fixes": fixes},
        config=config,
        edits=edits,
        records=records,
        evals=metrics.get("evals", []),
        summary=summary,
        path=path,
        step=step,
        total_steps=total_steps,
        nonfinite_step=nonfinite if isinstance(nonfinite, int) and not isinstance(nonfinite, bool) else None,
        weights=weights,
    )


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
