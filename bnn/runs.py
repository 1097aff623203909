"""A run saved as a directory: ``meta.json``, ``config.json``, ``metrics.json``, ``weights.pt``,
and while it is unfinished ``checkpoint.pt`` (optimizer and random states to continue it, see
:meth:`bnn.train.Trainer.state_dict`).

Written atomically: everything goes to a temporary sibling directory that is renamed into place,
so a crash never leaves half a run. Weights are a plain ``state_dict`` read back with
``torch.load(..., weights_only=True)`` (no pickle code execution); files that are not ours are
rejected with a clear :class:`RunFormatError`.

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
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import ConfigError, RunConfig
from .models import BinaryNet, build_model

FORMAT = "bnn-playground-run"
FORMAT_VERSION = 1
RUNS_ENV_VAR = "BNN_RUNS_DIR"
WEIGHTS_FILE, CONFIG_FILE, METRICS_FILE, META_FILE = "weights.pt", "config.json", "metrics.json", "meta.json"
CHECKPOINT_FILE = "checkpoint.pt"


class RunFormatError(ValueError):
    """The directory or file is not a BNN Playground run."""


def default_runs_dir() -> Path:
    if os.environ.get(RUNS_ENV_VAR):
        return Path(os.environ[RUNS_ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "bnn-playground" / "runs"


def slugify(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return slug[:80] or "run"


@dataclass
class SavedRun:
    name: str
    config: RunConfig
    records: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    model: BinaryNet | None = None
    path: Path | None = None
    created: float = 0.0
    preset: str | None = None
    checkpoint: dict | None = None  # written when set; never read by load_run (see load_checkpoint)


def _clean(value):
    """JSON has no NaN: write null instead (and keep the structure)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def save_run(run: SavedRun, directory: str | os.PathLike | None = None) -> Path:
    """Write ``run`` to ``directory / slug(name)`` atomically; returns the run's path."""
    parent = Path(directory) if directory is not None else default_runs_dir()
    parent.mkdir(parents=True, exist_ok=True)
    target = run.path if run.path is not None and run.path.parent == parent else parent / slugify(run.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    try:
        created = run.created or time.time()
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "name": run.name, "created": created, "preset": run.preset}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
        (tmp / CONFIG_FILE).write_text(run.config.to_json())
        metrics = {"records": run.records, "evals": run.evals, "summary": run.summary}
        (tmp / METRICS_FILE).write_text(json.dumps(_clean(metrics)))
        if run.model is not None:
            state = {k: v.detach().cpu() for k, v in run.model.state_dict().items()}
            torch.save(state, tmp / WEIGHTS_FILE)
        if run.checkpoint is not None:
            torch.save(run.checkpoint, tmp / CHECKPOINT_FILE)
        if target.exists():
            old = parent / f".{target.name}.old-{os.getpid()}-{time.monotonic_ns()}"
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    run.path, run.created = target, created
    return target


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFormatError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RunFormatError(f"{path} does not hold a JSON object")
    return data


def load_weights(model: BinaryNet, path: str | os.PathLike) -> BinaryNet:
    """Load a ``state_dict`` saved by :func:`save_run` into ``model``; reject anything else."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated zip, unsafe globals ...
        raise RunFormatError(f"{path} is not a BNN Playground weights file ({type(exc).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RunFormatError(f"{path} does not hold a state_dict of tensors")
    expected = model.state_dict()
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in expected):
        raise RunFormatError(f"{path} holds weights of a different architecture than its config.json")
    model.load_state_dict(state)
    return model.eval()


def load_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint of the unfinished run at ``path``; :class:`RunFormatError` if it has none."""
    file = Path(path) / CHECKPOINT_FILE
    if not file.is_file():
        raise RunFormatError(f"{path} has no {CHECKPOINT_FILE}: the run has finished, or was saved without one")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated zip, unsafe globals ...
        raise RunFormatError(f"{file} is not a BNN Playground checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict):
        raise RunFormatError(f"{file} is not a BNN Playground checkpoint")
    return state


def load_run(path: str | os.PathLike, with_model: bool = True) -> SavedRun:
    path = Path(path)
    if not path.is_dir():
        raise RunFormatError(f"{path} is not a run directory")
    meta = _read_json(path / META_FILE) if (path / META_FILE).exists() else {}
    if meta.get("format") != FORMAT:
        raise RunFormatError(f"{path} is not a BNN Playground run (no {META_FILE} with format {FORMAT!r})")
    if meta.get("version", 0) > FORMAT_VERSION:
        raise RunFormatError(f"{path} was written by a newer BNN Playground (format {meta['version']})")
    try:
        config = RunConfig.from_dict(_read_json(path / CONFIG_FILE))
    except ConfigError as exc:
        raise RunFormatError(f"{path / CONFIG_FILE}: {exc}") from None
    metrics = _read_json(path / METRICS_FILE) if (path / METRICS_FILE).exists() else {}
    model = None
    if with_model and (path / WEIGHTS_FILE).exists():
        model = load_weights(build_model(config.model), path / WEIGHTS_FILE)
    return SavedRun(
        name=str(meta.get("name", path.name)),
        config=config,
        records=list(metrics.get("records", [])),
        evals=list(metrics.get("evals", [])),
        summary=dict(metrics.get("summary", {})),
        model=model,
        path=path,
        created=float(meta.get("created", 0.0)),
        preset=meta.get("preset"),
    )


def list_runs(directory: str | os.PathLike | None = None) -> list[SavedRun]:
    """Every readable run under ``directory`` (without weights), newest first; others skipped."""
    parent = Path(directory) if directory is not None else default_runs_dir()
    runs = []
    if parent.is_dir():
        for child in parent.iterdir():
            if child.is_dir() and not child.name.startswith("."):
                try:
                    runs.append(load_run(child, with_model=False))
                except RunFormatError:
                    continue
    return sorted(runs, key=lambda r: r.created, reverse=True)


def rename_run(path: str | os.PathLike, new_name: str) -> None:
    path = Path(path)
    meta = _read_json(path / META_FILE)
    if meta.get("format") != FORMAT:
        raise RunFormatError(f"{path} is not a BNN Playground run")
    meta["name"] = new_name
    tmp = path / f".{META_FILE}.tmp"
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, path / META_FILE)


def delete_run(path: str | os.PathLike) -> None:
    path = Path(path)
    load_run(path, with_model=False)  # refuse to delete what is not ours
    shutil.rmtree(path)


def metrics_csv(records: list[dict], evals: list[dict]) -> str:
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
