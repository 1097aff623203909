"""State the pages share: training jobs and the active model (process-wide), MNIST, run folders.

Training jobs and the active model live in one :class:`AppState` from ``st.cache_resource``, so
they survive page switches and browser reloads (a reload starts a new Streamlit session that
finds the same jobs still running). Per-tab choices live in ``st.session_state`` and the URL.

Directories: MNIST from ``streamlit run app.py -- --data-dir DIR`` or ``$BNN_DATA_DIR`` (else
torchvision downloads into a per-user cache); saved runs under ``--runs-dir`` or ``$BNN_RUNS_DIR``.
Runs training at once: ``--max-runs N`` or ``$BNN_MAX_RUNS`` (default: one per two cores); more
wait in a queue. A training run checkpoints into the runs folder, so a server that dies loses at
most a minute of it: the run is listed as interrupted and can be resumed.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st
import torch

from bnn.config import RunConfig
from bnn.data import DataError, MnistData, load_mnist, missing_files, resolve_data_dir
from bnn.jobs import RunSlots, TrainingJob
from bnn.metrics import StepRecord
from bnn.models import BinaryNet
from bnn.runs import RunFormatError, SavedRun, default_runs_dir, list_runs, load_run, save_run, slugify
from ui import keys

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
PRETRAINED_DIR = ASSETS_DIR / "pretrained-fast"


def _cli_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data-dir")
    parser.add_argument("--runs-dir")
    parser.add_argument("--max-runs", type=int)
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args


def data_dir() -> Path:
    """``--data-dir`` after ``streamlit run app.py --``, else ``$BNN_DATA_DIR``, else the cache."""
    return resolve_data_dir(_cli_args().data_dir)


def runs_dir() -> Path:
    chosen = _cli_args().runs_dir
    return Path(chosen).expanduser() if chosen else default_runs_dir()


@dataclass
class ActiveModel:
    """The model the Draw, Inspect and Efficiency pages use."""

    name: str
    model: BinaryNet
    config: RunConfig
    test_accuracy: float | None = None
    source: str = "pretrained"  # "pretrained", "job" or "saved"

    @property
    def cache_key(self) -> str:
        """Identifies the model for st.cache_data (the model itself is passed unhashed)."""
        return f"{self.source}:{self.name}:{id(self.model)}"


def max_runs() -> int | None:
    """``--max-runs`` after ``streamlit run app.py --``, else ``$BNN_MAX_RUNS``, else None (the default)."""
    chosen = _cli_args().max_runs or os.environ.get("BNN_MAX_RUNS")
    return int(chosen) if chosen else None


@dataclass
class AppState:
    jobs: dict[str, TrainingJob] = field(default_factory=dict)  # insertion order = start order
    saved_jobs: set[str] = field(default_factory=set)
    active: ActiveModel | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    slots: RunSlots = field(default_factory=lambda: RunSlots(max_runs()))


@st.cache_resource(show_spinner=False)
def app_state() -> AppState:
    return AppState()


@st.cache_resource(show_spinner="Loading MNIST ...")
def _load_data(directory: str) -> MnistData:
    return load_mnist(directory, device="cpu")


def get_data() -> MnistData | None:
    """MNIST, downloading it on first use; on failure show why (and where) and return None."""
    try:
        return _load_data(str(data_dir()))
    except DataError as exc:
        st.error(f"**MNIST is not available.** {exc}")
        return None


@st.cache_resource(show_spinner=False)
def warm_data() -> threading.Thread:
    """Read MNIST into memory in the background once per server, so that the first Start does
    not wait for it (2 s here); a problem with the files is reported when a page needs them."""

    def read() -> None:
        try:
            load_mnist(str(data_dir()), device="cpu", download=False)  # bnn.data keeps it for _load_data
        except DataError:
            pass

    # not a daemon: torch must not be torn down under it when the process exits within its 2 s
    thread = threading.Thread(target=read, name="bnn-warm-mnist")
    thread.start()
    return thread


def data_on_disk() -> bool:
    return not missing_files(data_dir())


@st.cache_resource(show_spinner=False)
def _pretrained() -> ActiveModel | None:
    try:
        run = load_run(PRETRAINED_DIR)
    except RunFormatError:
        return None
    if run.model is None:
        return None
    return ActiveModel(
        f"pretrained {run.preset or run.name}",
        run.model,
        run.config,
        run.summary.get("test_accuracy"),
        source="pretrained",
    )


def active_model() -> ActiveModel | None:
    """The user's activated model, else the shipped pretrained ``fast`` model."""
    return app_state().active or _pretrained()


def require_active_model() -> ActiveModel:
    """The active model, or a friendly message and the end of this page's run."""
    active = active_model()
    if active is None:
        st.info("No model yet: train one on the Train page and activate it.")
        st.stop()
    return active


def activate_job(job: TrainingJob) -> bool:
    """Make a job's current weights the active model; False when it has none yet."""
    model = job.model_copy()
    if model is None:  # released once saved: its weights are on disk
        try:
            model = load_run(runs_dir() / slugify(job.name)).model
        except RunFormatError:
            model = None
    if model is None:
        return False
    test = job.snapshot().last_eval("test")
    app_state().active = ActiveModel(
        job.name, model.cpu().eval(), job.config, test["accuracy"] if test else None, "job"
    )
    return True


def active_model_records(active: ActiveModel) -> list[StepRecord]:
    """The training metric records of the active model (for flip rates over training); [] if unknown."""
    if active.source == "job" and active.name in app_state().jobs:
        return list(app_state().jobs[active.name].snapshot().records)
    if active.source == "pretrained":
        candidates = [PRETRAINED_DIR]
    else:
        candidates = [runs_dir() / slugify(active.name)]
        candidates += [run.path for run in list_runs(runs_dir()) if run.name == active.name and run.path]
    for path in candidates:
        try:
            return load_run(path, with_model=False).records
        except RunFormatError:
            continue
    return []


def new_job_name(prefix: str) -> str:
    return f"{prefix}-{time.strftime('%H%M%S')}"


def start_job(
    config: RunConfig,
    name: str,
    data: MnistData,
    preset: str | None = None,
    resume_from: SavedRun | None = None,
    fixes: str | None = None,
) -> TrainingJob:
    """Train ``config`` in the background (or continue the unfinished run ``resume_from``),
    checkpointing into the runs folder, once a training slot is free; ``fixes``: the run whose
    diagnosis these settings fix (kept in the saved run)."""
    state = app_state()
    job = TrainingJob(
        config,
        data,
        name=name,  # without stop_on_nonfinite: a diverged run keeps recording, its NaN steps show
        preset=preset,
        checkpoint_dir=runs_dir(),
        resume_from=resume_from,
        slots=state.slots,
    )
    job.fixes = fixes  # type: ignore[attr-defined]
    with state.lock:
        state.jobs.pop(name, None)  # a resumed run takes its old place at the end
        state.jobs[name] = job
        state.saved_jobs.discard(name)
    return job.start()


def save_ended_jobs() -> None:
    """Write every ended, not yet saved job to the runs directory (once each)."""
    state = app_state()
    for name, job in list(state.jobs.items()):
        if name in state.saved_jobs:
            continue
        snapshot = job.snapshot()
        model = job.model_copy() if snapshot.ended else None
        if model is None:
            continue
        with state.lock:
            if name in state.saved_jobs:
                continue
            state.saved_jobs.add(name)
        try:
            save_run(
                SavedRun(
                    name=name,
                    config=job.config,
                    records=snapshot.records,
                    evals=snapshot.evals,
                    summary={
                        **(snapshot.summary or {}),
                        "status": snapshot.status,
                        "fixes": getattr(job, "fixes", None),
                    },
                    model=model,
                    preset=job.preset,
                ),
                runs_dir(),
            )
        except OSError as exc:
            st.warning(f"Could not save run {name} to {runs_dir()}: {exc}")
        else:
            job.release()  # its model and optimizer reload from disk when needed


def remember_drawing(image28) -> None:
    """Keep the Draw page's current drawing (its 28x28 model input, or None) for other pages:
    widget state is dropped on a page switch, a plain session-state key is not."""
    if image28 is None:
        st.session_state.pop(keys.LAST_DRAWING, None)
    else:
        st.session_state[keys.LAST_DRAWING] = torch.as_tensor(image28).detach().cpu().reshape(28, 28).clone()


def last_drawing():
    """The drawing kept by :func:`remember_drawing`, a (28, 28) tensor in [0, 1], or None."""
    return st.session_state.get(keys.LAST_DRAWING)
