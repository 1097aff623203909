"""The runs of a runs folder, listed: :func:`scan_runs` reads each run folder (without weights, read
again only when it changed) and lists apart the entries that are not readable runs, with the reason,
so one bad folder never hides the others; the runs of a study folder are listed too. Before
listing, it puts back a run whose save was cut short and removes what such saves left behind
(:func:`remove_stale_temporaries`). Reading one folder: :func:`bnn.jobs.run_folders.load_run`."""

from __future__ import annotations

import os
import re
import shutil
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .run import Run
from .run_folders import default_runs_dir, load_run
from .run_format import CHECKPOINT_FILE, CONFIG_FILE, META_FILE, METRICS_FILE, STUDY_FILE, WEIGHTS_FILE, RunFormatError
from .safe_io import check_folder

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
