"""Shared UI helpers for the Streamlit pages: app state, data, the active model, the sidebar.

Pages read widgets, call :mod:`bnn`, and render; whatever more than one page needs lives here.

State that must survive page switches *and* browser reloads (training jobs, the active model)
is held by one process-wide :class:`AppState` from ``st.cache_resource``: a reload starts a new
Streamlit session but finds the same jobs still running. Per-tab choices live in
``st.session_state`` and in the URL query params.

Settings: MNIST directory from ``streamlit run app.py -- --data-dir DIR`` or ``$BNN_DATA_DIR``
(else torchvision downloads into a per-user cache); saved runs under ``--runs-dir`` or
``$BNN_RUNS_DIR``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st
import torch

from bnn.config import RunConfig
from bnn.data import DataError, MnistData, load_mnist, resolve_data_dir
from bnn.jobs import TrainingJob
from bnn.models import BinaryNet
from bnn.runs import RunFormatError, SavedRun, default_runs_dir, load_run, save_run

PRETRAINED_DIR = Path(__file__).parent / "assets" / "pretrained-fast"


# --- settings ---------------------------------------------------------------------------
def _cli_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data-dir")
    parser.add_argument("--runs-dir")
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args


def data_dir() -> Path:
    """``--data-dir`` after ``streamlit run app.py --``, else ``$BNN_DATA_DIR``, else the cache."""
    return resolve_data_dir(_cli_args().data_dir)


def runs_dir() -> Path:
    chosen = _cli_args().runs_dir
    return Path(chosen).expanduser() if chosen else default_runs_dir()


# --- process-wide state -----------------------------------------------------------------
@dataclass
class ActiveModel:
    """The model the Draw, Inspect and Efficiency pages use."""

    name: str
    model: BinaryNet
    config: RunConfig
    test_accuracy: float | None = None
    source: str = "pretrained"  # "pretrained", "job" or "saved"


@dataclass
class AppState:
    jobs: dict[str, TrainingJob] = field(default_factory=dict)  # insertion order = start order
    saved_jobs: set[str] = field(default_factory=set)
    active: ActiveModel | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


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


def data_on_disk() -> bool:
    from bnn.data import missing_files

    return not missing_files(data_dir())


@st.cache_resource(show_spinner=False)
def _pretrained() -> ActiveModel | None:
    try:
        run = load_run(PRETRAINED_DIR)
    except RunFormatError:
        return None
    if run.model is None:
        return None
    return ActiveModel(f"pretrained {run.preset or run.name}", run.model, run.config,
                       run.summary.get("test_accuracy"), source="pretrained")


def active_model() -> ActiveModel | None:
    """The user's activated model, else the shipped pretrained ``fast`` model."""
    state = app_state()
    return state.active or _pretrained()


def activate(model: BinaryNet, config: RunConfig, name: str, test_accuracy: float | None, source: str) -> None:
    model = model.cpu().eval()
    app_state().active = ActiveModel(name, model, config, test_accuracy, source)


def activate_job(job: TrainingJob) -> bool:
    model = job.model_copy()
    if model is None:
        return False
    snapshot = job.snapshot()
    test = snapshot.last_eval("test")
    activate(model, job.config, job.name, test["accuracy"] if test else None, "job")
    return True


def activate_saved(path: Path) -> bool:
    try:
        run = load_run(path)
    except RunFormatError as exc:
        st.error(str(exc))
        return False
    if run.model is None:
        st.error(f"{path} has no weights")
        return False
    activate(run.model, run.config, run.name, run.summary.get("test_accuracy"), "saved")
    return True


# --- jobs --------------------------------------------------------------------------------
def new_job_name(prefix: str) -> str:
    return f"{prefix}-{time.strftime('%H%M%S')}"


def start_job(config: RunConfig, name: str, data: MnistData, preset: str | None = None) -> TrainingJob:
    job = TrainingJob(config, data, name=name, stop_on_nonfinite=True)
    job.preset = preset  # type: ignore[attr-defined]
    state = app_state()
    with state.lock:
        state.jobs[name] = job
    return job.start()


def save_ended_jobs() -> None:
    """Write every ended, not yet saved job to the runs directory (once each)."""
    state = app_state()
    for name, job in list(state.jobs.items()):
        snapshot = job.snapshot()
        if not snapshot.ended or name in state.saved_jobs or job.model_copy() is None:
            continue
        with state.lock:
            if name in state.saved_jobs:
                continue
            state.saved_jobs.add(name)
        try:
            save_run(SavedRun(name=name, config=job.config, records=snapshot.records, evals=snapshot.evals,
                              summary=snapshot.summary or {}, model=job.model_copy(),
                              preset=getattr(job, "preset", None)), runs_dir())
        except OSError as exc:
            st.warning(f"Could not save run {name} to {runs_dir()}: {exc}")


# --- layout ------------------------------------------------------------------------------
def page_setup(title: str, icon: str = ":material/memory:") -> None:
    """Page config + the sidebar's active-model card; call first on every page."""
    st.set_page_config(page_title=f"{title} · BNN Playground", page_icon=icon, layout="wide")
    save_ended_jobs()
    sidebar_active_model()


def sidebar_active_model() -> None:
    with st.sidebar:
        active = active_model()
        st.caption("Active model")
        if active is None:
            st.markdown("**none** — train a run on the Train page and activate it")
            return
        accuracy = f"{active.test_accuracy:.2f}% test accuracy" if active.test_accuracy is not None else "not evaluated"
        st.markdown(f"**{active.name}**  \n{accuracy}")
        running = [job for job in app_state().jobs.values() if not job.snapshot().ended]
        if running:
            st.caption(f"{len(running)} run(s) training: {', '.join(job.name for job in running)}")


def device_name() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"
