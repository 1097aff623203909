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
import json
import math
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

ASSETS_DIR = Path(__file__).parent / "assets"
PRETRAINED_DIR = ASSETS_DIR / "pretrained-fast"


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
    return ActiveModel(
        f"pretrained {run.preset or run.name}",
        run.model,
        run.config,
        run.summary.get("test_accuracy"),
        source="pretrained",
    )


def active_model() -> ActiveModel | None:
    """The user's activated model, else the shipped pretrained ``fast`` model."""
    state = app_state()
    return state.active or _pretrained()


def require_active_model() -> ActiveModel:
    """The active model, or a friendly message and the end of this page's run."""
    active = active_model()
    if active is None:
        st.info("No model yet: train one on the Train page and activate it.")
        st.stop()
    return active


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
                    summary=snapshot.summary or {},
                    model=model,
                    preset=getattr(job, "preset", None),
                ),
                runs_dir(),
            )
        except OSError as exc:
            st.warning(f"Could not save run {name} to {runs_dir()}: {exc}")


# --- layout ------------------------------------------------------------------------------
PAGE_RUNS = "page_runs"  # full page runs of this session (fragment reruns not counted)


def page_runs() -> int:
    return st.session_state.get(PAGE_RUNS, 0)


def page_setup(title: str, icon: str = ":material/memory:") -> None:
    """Page config + the sidebar's active-model card; call first on every page."""
    st.set_page_config(page_title=f"{title} · BNN Playground", page_icon=icon, layout="wide")
    st.session_state[PAGE_RUNS] = page_runs() + 1
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


# --- the Train page's live chart -----------------------------------------------------------
_live_chart = st.components.v2.component(
    "bnn_live_chart",
    html='<div class="bnn-live-chart"></div>',
    js=(ASSETS_DIR / "live_chart.js").read_text(encoding="utf-8"),
    isolate_styles=False,
)
LIVE_CHART_CONFIG = {"displaylogo": False, "responsive": True}


@st.cache_resource(show_spinner=False)
def _plotly_js() -> str:
    """plotly.js as shipped with the plotly package, so the figures' JSON matches its version."""
    import plotly

    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


def figure_spec(figure) -> dict:
    """A Plotly figure as plain JSON data with its traces' x/y left out (the live chart gets those
    as series, keyed by trace uid)."""
    spec = json.loads(figure.to_json())
    for trace, source in zip(spec["data"], figure.data):
        trace.pop("x", None)
        trace.pop("y", None)
        trace["uid"] = source.uid  # to_json leaves uids out
    return spec


def _finite_or_none(values) -> list:
    return [v if isinstance(v, int) or (isinstance(v, float) and math.isfinite(v)) else None for v in values]


PLOTLY_LOADED = "plotly_js_loaded"  # session flag: this browser tab has run plotly.js


def _plotly_loaded() -> None:
    st.session_state[PLOTLY_LOADED] = True


def _plotly_missing() -> None:
    st.session_state[PLOTLY_LOADED] = False


def _live_chart_data(extra: dict) -> dict:
    data = {"has_plotly": bool(st.session_state.get(PLOTLY_LOADED)), **extra}
    if not data["has_plotly"]:
        data["plotly_js"] = _plotly_js()  # sent until the browser reports it has run it
    return data


def live_plotly_chart(spec: dict, series: dict[str, tuple[list, list]], version: str, *, key: str, height: int) -> None:
    """A Plotly chart that redraws in place (``assets/live_chart.js``) when ``version`` changes.

    ``st.plotly_chart`` mounts a new chart whenever the figure changes, so the browser draws it
    from scratch at every refresh; benchmarks/ui_overhead.py measures what that takes from a
    training run on the same machine. ``spec`` is :func:`figure_spec` of the figure, ``series``
    its lines by trace uid.
    """
    data = _live_chart_data(
        {
            "figure": spec,
            "series": {uid: [_finite_or_none(xs), _finite_or_none(ys)] for uid, (xs, ys) in series.items()},
            "version": version,
            "config": LIVE_CHART_CONFIG,
        }
    )
    _live_chart(
        data=data, key=key, height=height, on_has_plotly_change=_plotly_loaded, on_needs_plotly_change=_plotly_missing
    )


def preload_live_chart() -> None:
    """Load plotly.js into the browser ahead of the first live chart (nothing is drawn), so a
    run's first seconds are not spent parsing it. Sent once per session (one browser tab).

    The preload does not report back: its report would rerun the page while the page's widgets
    mount, and the browser then sends some widgets' values before they are set (every Train
    control zeroed in 3 of 6 fresh loads on a busy machine, measured). A live chart that finds
    plotly.js missing asks for it again (``needs_plotly``)."""
    if not st.session_state.get(PLOTLY_LOADED):
        _live_chart(data=_live_chart_data({"preload": True}), key="plotly_preload", height="content")
        st.session_state[PLOTLY_LOADED] = True


def still_progress_bars() -> None:
    """Progress bars without their CSS animation. Updated once a second, the animation kept
    headless Chromium's compositor busy: 13.5% of a core for a page with one bar, 4.5% without
    (measured), CPU a training run on the same machine needs."""
    st.html("<style>[data-testid='stProgress'] * { transition: none !important; animation: none !important; }</style>")


# --- Draw and Inspect pages ----------------------------------------------------------------
def drawing_canvas(stroke_width: int, key: str, size: int = 280):
    """A square canvas, white ink on black; returns the drawing as an RGBA uint8 array, or
    None before the first stroke. Tests replace this function: AppTest cannot draw."""
    from streamlit_drawable_canvas import st_canvas  # a Streamlit v2 component: import inside a run

    result = st_canvas(
        stroke_width=stroke_width,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=size,
        width=size,
        drawing_mode="freedraw",
        return_image_data=True,
        key=key,
    )
    return result.image_data


def model_cache_key(active: ActiveModel) -> str:
    """Identifies the active model for st.cache_data (the model itself is passed unhashed)."""
    return f"{active.source}:{active.name}:{id(active.model)}"


def active_model_records(active: ActiveModel) -> list[dict]:
    """The training metric records of the active model (for flip rates over training); [] if unknown."""
    if active.source == "job" and active.name in app_state().jobs:
        return list(app_state().jobs[active.name].snapshot().records)
    if active.source == "pretrained":
        candidates = [PRETRAINED_DIR]
    else:
        from bnn.runs import list_runs, slugify

        candidates = [runs_dir() / slugify(active.name)]
        candidates += [run.path for run in list_runs(runs_dir()) if run.name == active.name and run.path]
    for path in candidates:
        try:
            return load_run(path, with_model=False).records
        except RunFormatError:
            continue
    return []


# --- Train page: controls <-> RunConfig --------------------------------------------------------
# Every Train-page control has a session-state key below; the two functions map a RunConfig to
# those values and back, so presets, "apply fix" and the URL all fill the same controls.
CONTROL_PREFIX = "tr_"
LR_LADDER = tuple(float(f"{mantissa}e{exponent}") for exponent in range(-7, 1) for mantissa in (1, 2, 3, 5)) + (10.0,)
_LAYER_FIELDS = {
    "units": "units",
    "w": "binarize_weights",
    "a": "binarize_activations",
    "bn": "batch_norm",
    "drop": "dropout",
}
_SCALAR_CONTROLS = {  # control key -> (section, field)
    "opt": ("train", "optimizer"),
    "lr": ("train", "lr"),
    "lr_end": ("train", "lr_end"),
    "sched": ("train", "schedule"),
    "mom": ("train", "momentum"),
    "loss": ("train", "loss"),
    "bs": ("train", "batch_size"),
    "epochs": ("train", "epochs"),
    "seed": ("train", "seed"),
    "clip": ("train", "clip_latent"),
    "glr": ("train", "glorot_lr_scale"),
    "sub": ("train", "train_subset"),
    "stoch": ("model", "stochastic"),
    "ste": ("model", "ste_cancel"),
    "act": ("model", "real_activation"),
    "in_scale": ("input", "scale"),
    "in_bin": ("input", "binarize"),
    "in_drop": ("input", "dropout"),
}


def control_key(name: str, layer: int | None = None) -> str:
    return f"{CONTROL_PREFIX}{name}" if layer is None else f"{CONTROL_PREFIX}l{layer}_{name}"


def lr_options(*values: float) -> list[float]:
    """The log-spaced learning-rate ladder plus any other value in use (so it can be shown)."""
    return sorted(set(LR_LADDER) | {float(v) for v in values})


def config_to_controls(config: RunConfig) -> dict[str, object]:
    """Session-state values of every Train-page control for ``config``."""
    sections = {"input": config.model.input, "model": config.model, "train": config.train}
    values: dict[str, object] = {control_key(k): getattr(sections[s], f) for k, (s, f) in _SCALAR_CONTROLS.items()}
    for k in ("lr", "lr_end", "mom", "in_drop"):
        values[control_key(k)] = float(values[control_key(k)])
    for index, layer in enumerate(config.model.layers):
        for short, name in _LAYER_FIELDS.items():
            value = getattr(layer, name)
            values[control_key(short, index)] = float(value) if short == "drop" else value
    return values


def config_from_controls(values, base: RunConfig) -> RunConfig:
    """``base`` with every control found in ``values`` (a mapping such as st.session_state)
    applied; layer kinds, kernel sizes and settings without a control come from ``base``."""
    from dataclasses import replace

    changes: dict[str, dict[str, object]] = {"input": {}, "model": {}, "train": {}}
    for k, (section, name) in _SCALAR_CONTROLS.items():
        if control_key(k) in values:
            changes[section][name] = values[control_key(k)]
    layers = []
    for index, layer in enumerate(base.model.layers):
        edits = {
            name: values[control_key(short, index)]
            for short, name in _LAYER_FIELDS.items()
            if control_key(short, index) in values
        }
        if "units" in edits:
            edits["units"] = int(edits["units"])
        layers.append(replace(layer, **edits))
    model = replace(
        base.model, input=replace(base.model.input, **changes["input"]), layers=tuple(layers), **changes["model"]
    )
    return RunConfig(model=model, train=replace(base.train, **changes["train"]))


def write_controls(state, config: RunConfig) -> None:
    """Set every control of ``config`` in ``state`` (st.session_state) and drop stale layer rows."""
    for key, value in config_to_controls(config).items():
        state[key] = value
    count = len(config.model.layers)
    for key in [k for k in list(state.keys()) if str(k).startswith(f"{CONTROL_PREFIX}l")]:
        index = str(key)[len(CONTROL_PREFIX) + 1 :].split("_", 1)[0]
        if index.isdigit() and int(index) >= count:
            del state[key]


def fill_missing_controls(state, config: RunConfig) -> None:
    """Give controls that lost their state (page switch, hidden widget) the value of ``config``."""
    for key, value in config_to_controls(config).items():
        if key not in state:
            state[key] = value


def training_memory_problems(config: RunConfig, available_bytes: int | None = None) -> list[str]:
    """A rough check that one training step fits in memory (activations, weights, optimizer)."""
    from bnn.config import parameter_count

    channels, height, width = config.model.image_shape
    per_sample = 0
    for layer in config.model.layers:
        if layer.kind == "conv":
            per_sample += layer.units * height * width  # before the pool
            if layer.pool:
                height, width = height // 2, width // 2
        else:
            per_sample += layer.units
    activation_bytes = per_sample * config.train.batch_size * 4 * 6  # pre, BN, sign, grads ...
    weight_bytes = parameter_count(config.model) * 4 * 5  # latent, grad, two Adam moments, copy
    needed = activation_bytes + weight_bytes
    if available_bytes is None:
        available_bytes = _available_memory()
    if available_bytes and needed > 0.7 * available_bytes:
        return [
            f"one training step needs about {needed / 2**30:.1f} GiB of memory, but only "
            f"{available_bytes / 2**30:.1f} GiB are free: use narrower layers or a smaller batch"
        ]
    return []


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


# --- Compare page ------------------------------------------------------------------------------
def metrics_csv(records: list[dict], evals: list[dict]) -> str:
    """A run's metric records and evaluations as one CSV (``kind`` is "step" or "eval"); per-layer
    dicts (flip rate, saturation) become one column per layer, e.g. ``flip_rate.dense1``."""
    import csv
    import io

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


# --- Efficiency page ---------------------------------------------------------------------------
LAST_DRAWING_KEY = "last_drawing28"  # the Draw page's last drawing as the model saw it (28x28)


def remember_drawing(image28) -> None:
    """Keep the Draw page's current drawing (its 28x28 model input, or None) for other pages:
    widget state is dropped on a page switch, a plain session-state key is not."""
    if image28 is None:
        st.session_state.pop(LAST_DRAWING_KEY, None)
    else:
        st.session_state[LAST_DRAWING_KEY] = torch.as_tensor(image28).detach().cpu().reshape(28, 28).clone()


def last_drawing():
    """The drawing kept by :func:`remember_drawing`, a (28, 28) tensor in [0, 1], or None."""
    return st.session_state.get(LAST_DRAWING_KEY)


def parse_signs(text: str, name: str = "vector", max_len: int = 16) -> list[int]:
    """``"+1 -1 1, -1"`` (also ``+``/``-``) -> ``[1, -1, 1, -1]``; ValueError with a message for
    anything else (empty, other numbers, more than ``max_len`` elements)."""
    tokens = text.replace(",", " ").split()
    if not tokens:
        raise ValueError(f"{name} is empty: type ±1 values separated by spaces, e.g. +1 -1 +1 +1")
    values = []
    for token in tokens:
        if token in ("+1", "1", "+"):
            values.append(1)
        elif token in ("-1", "−1", "-", "−"):
            values.append(-1)
        else:
            raise ValueError(f"{name}: {token!r} is not +1 or −1; a binarized vector holds only +1 and −1")
    if len(values) > max_len:
        raise ValueError(f"{name} has {len(values)} elements; use at most {max_len}")
    return values


def median_ms(functions: dict, runs: int = 30, warmup: int = 2) -> dict[str, float]:
    """Median wall time in milliseconds of each ``name -> function()`` over ``runs`` calls, after
    ``warmup`` calls; the functions take turns call by call, so a busy moment of a shared CPU
    hits them alike."""
    import statistics

    for _ in range(warmup):
        for function in functions.values():
            function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(runs):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}
