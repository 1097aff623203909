"""State the pages share: training jobs and the active model (process-wide), MNIST, run folders.

Training jobs and the active model (a :class:`bnn.jobs.run.Run` with its weights read once) live in
one :class:`AppState` from ``st.cache_resource``, so they survive page switches and browser
reloads (a reload starts a new Streamlit session that finds the same jobs still running). Per-tab
choices live in ``st.session_state`` and the URL.

Directories: MNIST from ``streamlit run app.py -- --data-dir DIR`` or ``$BNN_DATA_DIR`` (else
torchvision downloads into a per-user cache); saved runs under ``--runs-dir`` or ``$BNN_RUNS_DIR``.
Runs training at once: ``--max-runs N`` or ``$BNN_MAX_RUNS`` (default: one per two cores); more
wait in a queue. A training run saves itself into the runs folder (checkpoints while it trains, so
a server that dies loses at most a minute of it, and once more when it ends).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st
import torch

from bnn.config.presets import PRESETS
from bnn.config.schema import RunConfig
from bnn.jobs import run_listing
from bnn.jobs.run import Run
from bnn.jobs.run_folders import default_runs_dir, load_run
from bnn.jobs.run_format import RunFormatError
from bnn.jobs.run_listing import UnreadableRun
from bnn.jobs.run_names import slugify, unique_name
from bnn.jobs.run_slots import RunSlots
from bnn.jobs.training_job import TrainingJob
from bnn.training.data import DataError, MnistData, load_mnist, missing_files, resolve_data_dir
from bnn.training.devices import enter_background, set_background_priority
from bnn.training.runners import warm_up as warm_up_training
from ui import access, keys

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
PRETRAINED_DIR = ASSETS_DIR / "pretrained-fast"
# a young run records at least this often, more often than the page polls it (live_view.YOUNG_POLL_S),
# so that each poll finds a new point
EARLY_RECORD_S = 0.15


def data_dir() -> Path:
    """``--data-dir`` after ``streamlit run app.py --``, else ``$BNN_DATA_DIR``, else the cache."""
    return resolve_data_dir(access.server_options().data_dir)


def runs_dir() -> Path:
    chosen = access.server_options().runs_dir
    return Path(chosen).expanduser() if chosen else default_runs_dir()


def max_runs() -> int | None:
    """``--max-runs`` after ``streamlit run app.py --``, else ``$BNN_MAX_RUNS``, else None (the default)."""
    return access.limit("max_runs") or None


class JobConflict(RuntimeError):
    """A run cannot start: another job of this server trains its folder."""


@dataclass
class AppState:
    # key (job_key: its folder, relative to the runs folder) -> job; insertion order = start order
    jobs: dict[str, TrainingJob] = field(default_factory=dict)
    studies: dict[str, object] = field(
        default_factory=dict
    )  # study folder -> its bnn.jobs.study_job.StudyJob (ui.study_jobs)
    active: Run | None = None  # the model the Draw, Inspect and Efficiency pages use by default
    lock: threading.Lock = field(default_factory=threading.Lock)
    slots: RunSlots = field(default_factory=lambda: RunSlots(max_runs()))


@st.cache_resource(show_spinner=False)
def app_state() -> AppState:
    return AppState()


@st.cache_resource(show_spinner="Loading MNIST ...")
def _load_data(directory: str) -> MnistData:
    return load_mnist(directory, device="cpu")


def data_in_memory() -> MnistData | None:
    """MNIST when its files are on disk and readable (read once per server), else None; shows nothing."""
    if not data_on_disk():
        return None
    try:
        return _load_data(str(data_dir()))
    except DataError:
        return None


def get_data() -> MnistData | None:
    """MNIST, downloading it on first use; on failure show why (and where) and return None."""
    try:
        return _load_data(str(data_dir()))
    except DataError as exc:
        st.error(f"**MNIST is not available.** {exc}")
        return None


WARM_UP_PRESETS = ("fast", "best")  # the Train page's default and the CNN: their first steps come at once
# Training threads run this many nice steps below the pages (bnn.training.devices.set_background_priority), the
# lowest: they take the CPU the pages and the browsers leave. A browser drawing on the same 2-core machine
# kept its frame (the Draw page's pen-to-prediction p95, benchmarks/draw_latency.py --browser) with the
# run in the background, not without it
BACKGROUND_NICE = 19


@st.cache_resource(show_spinner=False)
def warm_up() -> list[threading.Thread]:
    """Once per server, in three background threads: import what the first live chart needs; read
    MNIST into memory (2 s here) and take one thrown-away training step of :data:`WARM_UP_PRESETS`
    (torch's one-time setup, ~0.5 s) and build their live charts' layout (0.1 s of the page run
    after Start otherwise); compile or load the packed engine's kernels. The first Start's first
    chart point then waits for none of them. A problem with the files is reported when a page needs them."""

    # pandas here, not in a thread: plotly looks it up in sys.modules without importing it, so a figure
    # built by the page while a thread is halfway through importing pandas fails ("partially initialized
    # module 'pandas' has no attribute 'Series'"), as the first Efficiency page did now and then
    import pandas  # noqa: F401

    set_background_priority(BACKGROUND_NICE)

    def chart() -> None:
        # Streamlit imports pyarrow the first time a component gets data (the live chart after Start:
        # 0.7 s here with pandas), and plotly builds its first figure slowly (0.2 s)
        import pyarrow  # noqa: F401

        from bnn.plots import live_training_figure

        live_training_figure([], [], height=100, max_points=2)

    def training() -> None:
        enter_background()
        try:
            data = load_mnist(
                str(data_dir()), device="cpu", download=False
            )  # bnn.training.data keeps it for _load_data
        except DataError:
            data = None
        from ui.train_panels.live_view import warm_live_chart

        for name in WARM_UP_PRESETS:
            trainer = warm_up_training(PRESETS[name], data=data)
            if data is not None:
                warm_live_chart(trainer)  # the layout of its live chart, for its first Start

    def xnor_kernels() -> None:
        # the packed engine's compiled kernels (Efficiency, exports): loaded from numba's cache in ~1 s,
        # compiled in ~40 s in a low-priority child process on a machine's first start; the Efficiency
        # page uses the numpy engine meanwhile
        from bnn.deploy.formats import prepare_kernels

        prepare_kernels()

    # not daemons (said outright: a thread inherits its starter's flag, and a page's script thread may be
    # one): torch must not be torn down under them when the process exits within their 2 s; a daemon
    # killed there inside torch ends the process with "terminate called without an active exception"
    works = (chart, training, xnor_kernels)
    threads = [threading.Thread(target=work, name=f"bnn-warm-up-{work.__name__}", daemon=False) for work in works]
    for thread in threads:
        thread.start()
    return threads


def data_on_disk() -> bool:
    return not missing_files(data_dir())


@st.cache_resource(show_spinner=False)
def pretrained() -> Run | None:
    """The shipped pretrained ``fast`` run, its weights read once (None if it cannot be read)."""
    try:
        run = load_run(PRETRAINED_DIR)
    except RunFormatError:
        return None
    return run if run.model() is not None else None


def activated() -> Run | None:
    """The run made active ("Make active"): the server's, or on a shared server this session's
    (``ui.access``), so that one session's choice does not change another's pages."""
    return st.session_state.get(keys.ACTIVE_RUN) if access.shared() else app_state().active


def active_model() -> Run | None:
    """The user's activated run, else the shipped pretrained ``fast`` run."""
    return activated() or pretrained()


def require_active_model() -> Run:
    """The active run, or a friendly message and the end of this page's run."""
    active = active_model()
    if active is None:
        st.info("No model yet: train one on the Train page and activate it.")
        st.stop()
    return active


def activate(run: Run) -> bool:
    """Make ``run``'s weights as of now the active model; False when it has none yet."""
    model = run.model()
    if model is None:
        return False
    active = run.but(weights=lambda: model)
    if access.shared():
        st.session_state[keys.ACTIVE_RUN] = active
    else:
        app_state().active = active
    return True


def job_key(folder: Path) -> str:
    """The key of the job training into ``folder``: the folder relative to the runs folder (a
    run's name can be given to another run; its folder is its own)."""
    try:
        return folder.relative_to(runs_dir()).as_posix()
    except ValueError:
        return str(folder)


def live_jobs() -> list[TrainingJob]:
    """Every job of this server: the Train page's and the studies' (ended ones too)."""
    state = app_state()
    return list(state.jobs.values()) + [job for study in list(state.studies.values()) for job in study.jobs.values()]


@dataclass(frozen=True)
class RunCatalog:
    """This server's jobs and the runs folder's saved runs, read together: the one list the run
    picker, the Compare page and the names in use draw on (a job's run is saved too once it ends,
    or while it trains: :meth:`saved_apart_from` lists it once)."""

    train_jobs: dict[str, TrainingJob]  # the Train page's, by :func:`job_key`, oldest first
    jobs: list[TrainingJob]  # every job of this server (:func:`live_jobs`), oldest first
    saved: list[Run]  # every saved run (without weights), newest first
    unreadable: list[UnreadableRun]  # the runs folder's entries that are not readable runs

    def names(self) -> set[str]:
        return {job.name for job in self.jobs} | {run.name for run in self.saved}

    def saved_apart_from(self, folders: set[Path]) -> list[Run]:
        """The saved runs but those in ``folders`` (jobs of this server list them)."""
        return [run for run in self.saved if run.path not in folders]


def run_catalog() -> RunCatalog:
    """The :class:`RunCatalog` as it is now (the runs folder is read once; a folder that cannot be
    listed counts as unreadable)."""
    state = app_state()
    try:
        saved, unreadable = run_listing.scan_runs(runs_dir())
    except OSError as exc:
        saved, unreadable = [], [UnreadableRun(runs_dir(), str(exc))]
    return RunCatalog(dict(state.jobs), live_jobs(), saved, unreadable)


def names_in_use() -> set[str]:
    """Names no new or renamed run may take: those of this server's jobs and of every saved run."""
    return run_catalog().names()


def start_problems(config: RunConfig | None) -> list[str]:
    """Why this session may not start a run of ``config`` now (None: resume a saved run), by
    the limits of a shared server (:func:`ui.access.start_problems`) counted over every job of
    this server, the studies' included; none outside shared mode."""
    runs = [job.snapshot() for job in live_jobs()]
    return access.start_problems(config, runs, runs_dir(), server_waiting=app_state().slots.waiting)


def new_job_name(prefix: str) -> str:
    """``prefix-HHMMSS``, unique against this server's jobs and the runs folder's runs and folders
    (``-2``, ``-3`` ... when taken), so that its folder is new."""
    state = app_state()
    return unique_name(f"{prefix}-{time.strftime('%H%M%S')}", runs_dir(), names_in_use() | set(state.jobs))


def start_job(
    config: RunConfig,
    name: str,
    data: MnistData,
    preset: str | None = None,
    *,
    fixes: str | None = None,
    resume_from: Run | None = None,
) -> str:
    """Train ``config`` in the background (or continue the unfinished run ``resume_from`` in its
    own folder), saving into the runs folder, once a training slot is free; the job's key in
    ``app_state().jobs``. ``name``: new ones from :func:`new_job_name`. ``fixes``: the run whose
    diagnosis gave these settings. :class:`JobConflict` when a job of this server trains that
    folder already: a start never replaces another job."""
    state = app_state()
    folder = (
        resume_from.path if resume_from is not None and resume_from.path is not None else runs_dir() / slugify(name)
    )
    key = job_key(folder)
    with state.lock:
        if any(not job.status.ended and job.snapshot().path == folder for job in live_jobs()):
            raise JobConflict(f"{name} is training already")
        if key in state.jobs and not state.jobs[key].status.ended:
            raise JobConflict(f"another run of this server trains into the folder {key}")
        job = TrainingJob(
            config,
            data,
            name=name,  # without stop_on_nonfinite: a diverged run keeps recording, its NaN steps show
            preset=preset,
            fixes=fixes,
            owner=access.owner_id(),  # a resumed run keeps its own
            runs_dir=folder.parent,
            resume_from=resume_from,
            slots=access.slots_for(state.slots),
            early_record_s=EARLY_RECORD_S,
        )
        state.jobs.pop(key, None)  # a resumed run takes its old place (an ended job of its folder) at the end
        state.jobs[key] = job
    job.start()
    return key


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
