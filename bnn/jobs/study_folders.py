"""A study's folder: ``study.json`` written and read (:func:`save_study`, :func:`open_study`), the
runs saved in it and the ones still to train (:func:`pending_runs`: finished runs are kept,
interrupted ones continue from their checkpoint, missing or stopped ones start again), the study
folders of a runs folder (:func:`find_studies`), and the pending runs as ``python -m bnn train``
command lines for other machines (:func:`train_commands`). The study itself: :mod:`bnn.jobs.studies`.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from ..config.links import to_query_params
from ..config.presets import PRESETS, preset
from ..config.schema import RunConfig
from .run import Run
from .run_format import STUDY_FILE
from .run_listing import scan_runs
from .safe_io import read_bytes
from .studies import KEPT_STATUSES, Study, StudyError

MAX_STUDY_BYTES = 1024**2  # a study.json of 64 runs' grid is a few kB; anything bigger is not read


def save_study(study: Study, folder: str | os.PathLike) -> Path:
    """Write ``study.json`` into ``folder`` (made if missing); refuse a folder that holds another study."""
    folder = Path(folder)
    file = folder / STUDY_FILE
    if file.exists():
        existing = open_study(folder)
        if existing != study:
            raise StudyError(f"{folder} holds another study ({existing.name}); choose another folder")
        return folder
    if folder.exists() and any(child for child in folder.iterdir() if not child.name.startswith(".")):
        raise StudyError(f"{folder} is not empty and not a study folder; choose an empty or new folder")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{STUDY_FILE}.tmp"
    tmp.write_text(study.to_json())
    os.replace(tmp, file)
    return folder


def open_study(folder: str | os.PathLike) -> Study:
    """The study of ``folder``; :class:`StudyError` when it is not a study folder."""
    folder = Path(folder)
    file = folder / STUDY_FILE
    if not folder.is_dir():
        raise StudyError(f"{folder} is not a folder")
    if not file.is_file():
        raise StudyError(f"{folder} is not a study folder: it has no {STUDY_FILE}")
    try:
        text = read_bytes(file, MAX_STUDY_BYTES).decode()
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyError(f"{file.name} cannot be read ({exc})") from None
    try:
        return Study.from_json(text)
    except (StudyError, RecursionError) as exc:
        raise StudyError(f"{folder} is not a study folder that can be read: {exc}") from None


def saved_runs(folder: str | os.PathLike) -> dict[str, Run]:
    """Run name -> the run saved in the study folder (without weights); unreadable folders left out."""
    runs, _ = scan_runs(folder)
    return {run.name: run for run in sorted(runs, key=lambda r: r.created)}


def pending_runs(study: Study, folder: str | os.PathLike) -> list[tuple[str, RunConfig, Run | None]]:
    """The runs still to train: (name, settings, the interrupted run to resume or None). Finished
    and diverged runs are kept; interrupted ones resume from their checkpoint; missing, stopped
    and failed ones start again."""
    saved = saved_runs(folder)
    pending = []
    for _, name, config in study.runs():
        run = saved.get(name)
        if run is not None and run.status in KEPT_STATUSES:
            continue
        resumable = run is not None and run.status.resumable and run.config == config
        pending.append((name, config, run if resumable else None))
    return pending


def train_arguments(study: Study, name: str, config: RunConfig) -> list[str]:
    """``python -m bnn train`` arguments that train ``config`` as the run ``name``: the base's
    preset (else ``fast``) and ``--set KEY=VALUE`` for each link param that differs from it."""
    start = study.preset if study.preset in PRESETS else "fast"
    defaults = to_query_params(preset(start))
    params = to_query_params(config)
    arguments = ["--preset", start, "--name", name]
    for key, value in params.items():
        if defaults.get(key) != value:
            arguments += ["--set", f"{key}={value}"]
    return arguments


def train_commands(study: Study, folder: str | os.PathLike, python: str = "python") -> list[str]:
    """One shell line per pending run of the study in ``folder``: train it (or resume it) into ``folder``."""
    folder = Path(folder)
    lines = []
    for name, config, resume in pending_runs(study, folder):
        if resume is not None:
            arguments = ["--resume", str(resume.path)]
        else:
            arguments = train_arguments(study, name, config) + ["--out", str(folder)]
        lines.append(shlex.join([python, "-m", "bnn", "train", *arguments]))
    return lines


def find_studies(directory: str | os.PathLike) -> list[Path]:
    """The study folders directly inside ``directory`` (the runs folder), newest first."""
    parent = Path(directory)
    if not parent.is_dir():
        return []
    found = [child for child in parent.iterdir() if not child.name.startswith(".") and (child / STUDY_FILE).is_file()]
    return sorted(found, key=lambda path: (path / STUDY_FILE).stat().st_mtime, reverse=True)
