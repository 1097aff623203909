"""Train a binarized network on MNIST, watch it learn, and find out why when it does not.

Every setting of a run (Courbariaux et al. 2016, arXiv:1602.02830: which layers binarize weights
and activations, BatchNorm, the straight-through estimator, latent-weight clipping, optimizer)
is a control here and a URL query param, so a copied link reproduces the configuration. Training
runs in a process-wide background job (``bnn.jobs.TrainingJob``): clicks, page switches and
reloads never stop it; a fragment polls it once a second. When a run ends, ``bnn.diagnosis``
checks its numbers and offers a fix for each problem it finds.
"""

import streamlit as st

from bnn import plots
from bnn.config import (
    LAYER_SETTINGS,
    MAX_LAYERS,
    SETTINGS_BY_NAME,
    LayerConfig,
    RunConfig,
    describe,
    read_query_params,
    validate,
)
from bnn.diagnosis import apply_fixes, diagnose, probe
from bnn.jobs import ENDED, FAILED, PAUSED, QUEUED
from bnn.presets import PRESET_DESCRIPTIONS, PRESETS
from bnn.summary import model_summary, training_memory_problems
from ui import frame, live_chart
from ui import settings_form as form
from ui import state as shared

with st.sidebar:
    live_chart.preload_live_chart()
state = st.session_state
key = form.control_key
ARCHITECTURES = ("MLP", "small CNN")
CNN_STEM = PRESETS["best"].model.layers[:2]
LAYER_COLUMNS = [1.6, 1.3, 1, 1, 1, 1.1, 0.5]
LIVE_POINTS = 150  # points per live curve
LIVE_HEIGHT = 560  # pixels


# --- settings state ------------------------------------------------------------------------
def config_from_url() -> tuple[str, RunConfig]:
    """The preset and settings of the page's link; every value that cannot be used is named in
    one notice and the others are kept."""
    params = st.query_params.to_dict()
    name = params.get("preset", "fast")
    notes = []
    if name not in PRESETS:
        notes.append(f"unknown preset {name!r}, showing `fast`")
        name = "fast"
    config, problems = read_query_params(params, PRESETS[name])
    notes += problems
    if notes:
        state.tr_notice = "Some of the link's settings could not be used and were left as they were: " + "; ".join(
            f"`{note}`" for note in notes
        )
    return name, config


def settings() -> RunConfig:
    return form.config_from_controls(state, state.tr_cfg)


def set_settings(config: RunConfig) -> None:
    form.write_controls(state, config)
    state.tr_arch = ARCHITECTURES[config.model.is_cnn]
    state.tr_cfg = config


def on_preset() -> None:
    set_settings(PRESETS[state.tr_preset])


def on_architecture() -> None:
    config = settings()
    dense = tuple(layer for layer in config.model.layers if layer.kind == "dense")
    layers = (CNN_STEM + dense) if state.tr_arch == "small CNN" else dense
    set_settings(config.replace_model(layers=layers))


def add_layer() -> None:
    config = settings()
    layers = list(config.model.layers)
    hidden = [layer for layer in layers[:-1] if layer.kind == "dense"]
    template = hidden[-1] if hidden else LayerConfig(256)
    set_settings(config.replace_model(layers=tuple(layers[:-1]) + (template, layers[-1])))


def remove_layer(index: int) -> None:
    config = settings()
    set_settings(config.replace_model(layers=tuple(l for i, l in enumerate(config.model.layers) if i != index)))


def apply_to_settings(fixes: list, label: str) -> None:
    set_settings(apply_fixes(settings(), fixes))
    state.tr_notice = f"Applied: {label}. Press **Start** to train with the new settings."


url_params = st.query_params.to_dict()
if "tr_cfg" not in state or (url_params and url_params != state.get("tr_url")):  # first load, or a link
    state.tr_preset, config = config_from_url()
    set_settings(config)
form.fill_missing_controls(state, state.tr_cfg)
state.setdefault("tr_preset", "fast")
state.setdefault("tr_arch", ARCHITECTURES[state.tr_cfg.model.is_cnn])

# --- settings ------------------------------------------------------------------------------
st.title("Train")
st.caption(
    "Pick a preset, change anything, press Start. The settings live in the URL: copy it to share this configuration."
)
if not shared.data_on_disk():
    st.info(f"MNIST is not in `{shared.data_dir()}` yet: the first Start downloads it (about 11 MB).")

top = st.columns([1.2, 1, 2.2], vertical_alignment="bottom")
top[0].selectbox(
    "Preset",
    list(PRESETS),
    key="tr_preset",
    on_change=on_preset,
    help="Fills every control below; everything stays editable.",
)
top[1].radio("Architecture", ARCHITECTURES, key="tr_arch", on_change=on_architecture, horizontal=True)
top[2].caption(PRESET_DESCRIPTIONS.get(state.tr_preset, ""))


def settings_controls() -> None:
    """The layer table and the training settings, read back by settings()."""
    st.subheader("Layers", divider="gray")
    layers = state.tr_cfg.model.layers
    header = st.columns(LAYER_COLUMNS)
    header[0].caption("layer")
    for column, name in zip(header[1:], form.LAYER_CONTROLS):
        column.caption(LAYER_SETTINGS[name].label, help=LAYER_SETTINGS[name].help)
    row = st.columns(LAYER_COLUMNS, vertical_alignment="center")
    row[0].markdown("**input** · 28×28 pixels")
    form.control(row[1], "scale", collapsed=True)
    row[2].markdown("—")
    form.control(row[3], "binarize", collapsed=True)
    row[4].markdown("—")
    form.control(row[5], "dropout", collapsed=True)
    hidden_count = {"dense": 0, "conv": 0}
    for index, layer in enumerate(layers):
        is_output = index == len(layers) - 1
        row = st.columns(LAYER_COLUMNS, vertical_alignment="center")
        if is_output:
            row[0].markdown("**output** · dense")
            row[1].markdown(f"{layer.units} classes")
        else:
            hidden_count[layer.kind] += 1
            detail = f"conv {layer.kernel_size}×{layer.kernel_size}" + (", 2×2 pool" if layer.pool else "")
            label = f"{layer.kind}{hidden_count[layer.kind]}"
            row[0].markdown(f"**{label}** · {detail if layer.kind == 'conv' else 'dense'}")
            form.control(row[1], "units", layer=index, label=f"width of {label}", collapsed=True)
            row[6].button(
                "",
                key=f"tr_remove_{index}",
                icon=":material/delete:",
                on_click=remove_layer,
                args=(index,),
                help=f"remove {label}",
            )
        name = "output" if is_output else label
        for column, field in zip(row[2:6], ("binarize_weights", "binarize_activations", "batch_norm", "dropout")):
            form.control(column, field, layer=index, label=f"{LAYER_SETTINGS[field].label} of {name}", collapsed=True)
    st.button("Add a hidden layer", icon=":material/add:", on_click=add_layer, disabled=len(layers) >= MAX_LAYERS)
    if state[key("binarize_activations", len(layers) - 1)]:
        st.warning(
            "The output layer's activations are binarized: its 10 class scores become ±1, many classes tie, "
            "and argmax returns the first of them. This is the bug of the `seed` preset.",
            icon=":material/warning:",
        )

    st.subheader("Training", divider="gray")
    cols = st.columns(4)
    form.control(cols[0], "optimizer")
    if SETTINGS_BY_NAME["momentum"].applies_to(settings()):
        form.control(cols[0], "momentum")
    form.control(cols[1], "lr")
    form.control(cols[2], "schedule")
    if SETTINGS_BY_NAME["lr_end"].applies_to(settings()):
        form.control(cols[1], "lr_end")
    form.control(cols[2], "loss")
    form.control(cols[3], "batch_size")
    form.control(cols[3], "epochs")
    cols = st.columns(4)
    form.control(cols[0], "seed")
    form.control(cols[0], "train_subset")
    form.control(cols[1], "stochastic")
    form.control(cols[1], "real_activation")
    form.control(cols[2], "ste_cancel")
    form.control(cols[2], "clip_latent")
    form.control(cols[3], "glorot_lr_scale")


def shown_run_trains() -> bool:
    """Whether the run this page shows is training: the fragment then redraws once a second."""
    jobs = shared.app_state().jobs
    job = jobs.get(state.get("tr_job")) or (jobs[next(reversed(jobs))] if jobs else None)
    return job is not None and job.snapshot().status not in (PAUSED, *ENDED)


if shown_run_trains():
    # Every element on the page is re-rendered at each of the live view's refreshes: a hundred
    # controls cost the browser CPU that training shares (benchmarks/ui_overhead.py). They come
    # back when the run pauses or ends, when nothing polls: a control mounted during a refresh
    # can reach the server with its empty default instead of its value.
    with st.container(border=True):
        st.markdown(f"**Settings** · {describe(state.tr_cfg)}")
        st.caption(
            "Folded while the run trains, since redrawing every control at each refresh would slow it: "
            "pause or stop the run to edit them."
        )
else:
    if state.get("tr_controls_run") != frame.page_runs() - 1:
        # Not drawn in the previous run (folded, another page, first visit): the browser has
        # forgotten these controls, so give each its value again rather than its empty default.
        form.write_controls(state, state.tr_cfg)
    settings_controls()
    state.tr_controls_run = frame.page_runs()
config = settings()
state.tr_cfg = config
wanted = {"preset": state.tr_preset, **config.to_query_params()}
if url_params != wanted:
    st.query_params.from_dict(wanted)
state.tr_url = wanted
if "tr_notice" in state:
    st.info(state.pop("tr_notice"), icon=":material/info:")

# --- start ---------------------------------------------------------------------------------
st.subheader("Run", divider="gray")
jobs = shared.app_state().jobs
start_column, info_column = st.columns([1, 4], vertical_alignment="center")
start = start_column.button("Start", type="primary", icon=":material/play_arrow:", width="stretch")
problems = validate(config)
if config.model.num_classes != 10:
    problems.append(f"the output layer must have 10 units, one per digit (got {config.model.num_classes})")
if not problems:
    info_column.caption(
        f"{model_summary(config.model).total_params:,} parameters · "
        f"{config.train.epochs} epoch(s) of {config.train.train_subset or 60000:,} images"
    )
if start:
    problems = problems or training_memory_problems(config)
    for problem in problems:
        st.error(f"Not started: {problem}", icon=":material/block:")
    if not problems:
        if not shared.data_on_disk():
            with st.status(f"Downloading MNIST into {shared.data_dir()} …", expanded=True) as status:
                data = shared.get_data()
                status.update(
                    label="MNIST is ready" if data else "MNIST could not be downloaded",
                    state="complete" if data else "error",
                )
        else:
            data = shared.get_data()
        if data is not None:
            preset = state.tr_preset
            edited = config != PRESETS[preset]
            name = shared.new_job_name(f"{preset}-edited" if edited else preset)
            while name in jobs:
                name = f"{name}-{len(jobs)}"
            shared.start_job(config, name, data, None if edited else preset)
            state.tr_job = name
            st.rerun()  # the whole page again: its settings fold while the run trains

names = list(reversed(jobs))
if not names:
    st.caption("No run yet in this app. Press Start.")
    st.stop()
if state.get("tr_job") not in jobs:
    state.tr_job = names[0]
st.selectbox("Showing run", names, key="tr_job", help="every run started since the app was launched")
job = jobs[state.tr_job]
snapshot = job.snapshot()


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


buttons = st.columns([1, 1, 1, 4], vertical_alignment="center")
if snapshot.status == PAUSED:
    buttons[0].button("Resume", icon=":material/play_arrow:", on_click=job.resume, width="stretch")
else:
    buttons[0].button("Pause", icon=":material/pause:", on_click=job.pause, disabled=snapshot.ended, width="stretch")
buttons[1].button("Stop", icon=":material/stop:", on_click=job.stop, disabled=snapshot.ended, width="stretch")
buttons[2].button(
    "Test now",
    icon=":material/fact_check:",
    on_click=job.request_eval,
    disabled=snapshot.ended or snapshot.status == PAUSED,
    width="stretch",
    help="evaluate on the test set between two steps",
)
buttons[3].markdown(f"**{job.name}**" + (f" · {snapshot.status}" if snapshot.ended else ""))
frame.still_progress_bars()


def button_state(snap) -> tuple[bool, bool]:
    return snap.ended, snap.status == PAUSED


@st.fragment(run_every=None if snapshot.ended or snapshot.status == PAUSED else 1.0)
def live_view(job, page_buttons: tuple[bool, bool]) -> None:
    """Progress and the live chart, polled once a second. Only these two elements are redrawn:
    each refresh costs the browser a re-render, and the browser shares the CPU with training
    (benchmarks/ui_overhead.py)."""
    snap = job.snapshot()
    if button_state(snap) != page_buttons:
        st.rerun()  # the whole page: buttons for the new status; the diagnosis once it ends
    test = snap.last_eval("test")
    parts = [] if snap.ended else [snap.status]  # an ended run's status is next to its name
    parts += [
        f"epoch {snap.epoch:.2f} / {snap.epochs}",
        f"step {snap.step:,} / {snap.total_steps:,}",
        f"{snap.samples_per_s:,.0f} samples/s",
        f"ETA {format_seconds(snap.eta_s)}",
    ]
    if test:
        parts.append(f"test accuracy {test['accuracy']:.2f}%")
    text = " · ".join(parts)
    st.progress(min(snap.progress, 1.0), text=text)
    if snap.status == FAILED:
        st.error(f"The run failed: {snap.message.splitlines()[0] if snap.message else 'unknown error'}")
    elif snap.status == "diverged":
        st.error(f"Diverged: {snap.message}", icon=":material/error:")
    elif snap.status == "loading data":
        st.caption("Loading MNIST …")
    elif snap.status == QUEUED:
        slots = shared.app_state().slots.limit
        st.caption(
            f"Waiting for a free training slot: number {snap.queue_position or '–'} in the queue "
            f"({slots} run(s) train at once on this server)."
        )
    if not snap.records:
        if snap.ended:
            st.caption(
                f"No training curves: the run ended at step {snap.step}, before its first record (one every 20 steps)."
            )
        return
    if snap.ended:
        figure = plots.live_training_figure(snap.records, snap.evals, max_points=LIVE_POINTS)
        st.plotly_chart(figure, key="tr_final_chart", theme=None)
        return
    series = plots.live_training_series(snap.records, snap.evals, LIVE_POINTS)
    live_chart.live_plotly_chart(
        live_chart_spec(job, snap, series),
        series,
        version=f"{job.name}/{len(snap.records)}/{len(snap.evals)}",
        key="tr_live_chart",
        height=LIVE_HEIGHT,
    )


def live_chart_spec(job, snap, series: dict) -> dict:
    """The live chart's layout and trace styles, built again only for a new run or new lines
    (building a Plotly figure takes ~100 ms of the GIL the training thread needs). Its step and
    learning-rate axes are fixed to the whole run, so most refreshes only move the lines."""
    shape = (job.name, tuple(series))
    cached = state.get("tr_chart_spec")
    if cached is None or cached[0] != shape:
        train = job.config.train
        lr_range = (train.lr, train.lr if train.schedule == "constant" else train.lr_end)
        figure = plots.live_training_figure(
            snap.records,
            snap.evals,
            height=LIVE_HEIGHT,
            max_points=LIVE_POINTS,
            total_steps=snap.total_steps,
            lr_range=lr_range,
        )
        figure.update_layout(uirevision=job.name)  # a zoom or hidden line survives the redraws
        cached = state.tr_chart_spec = (shape, live_chart.figure_spec(figure))
    return cached[1]


live_view(job, button_state(snapshot))

# --- after the run ---------------------------------------------------------------------------
if not snapshot.ended:
    st.caption("The diagnosis appears when the run ends: stop it to diagnose it now.")
    st.stop()


@st.cache_data(show_spinner=False, max_entries=64)
def cached_probe(config_json: str, _images, _labels):
    return probe(RunConfig.from_json(config_json), _images, _labels)


actions = st.columns([1, 1, 3])
active = shared.active_model()
is_active = active is not None and active.source == "job" and active.name == job.name
if actions[0].button(
    "Make active",
    icon=":material/check_circle:",
    disabled=is_active or snapshot.status == FAILED,
    help="use this model on the Draw, Inspect and Efficiency pages",
):
    if shared.activate_job(job):
        st.toast(f"{job.name} is now the active model")
        st.rerun()
actions[1].button(
    "Load its settings", icon=":material/settings_backup_restore:", on_click=lambda: set_settings(job.config)
)

st.subheader("Diagnosis: why is my BNN not learning?", divider="gray")
data = shared.get_data()
run_probe = cached_probe(job.config.to_json(), data.train_images, data.train_labels) if data is not None else None
model = job.model_copy() if not job.config.train.clip_latent else None  # only the clipping check needs it
findings = diagnose(job.config, snapshot, run_probe, model.latent_weights() if model is not None else None)
if not findings:
    test = snapshot.last_eval("test")
    st.success(
        "No problem found: the run learns" + (f" ({test['accuracy']:.2f}% test accuracy)." if test else "."),
        icon=":material/check:",
    )
    st.stop()
pending = [f for f in findings if f.fix(config) != config]
st.button(
    f"Apply all fixes ({len(pending)})",
    type="primary",
    icon=":material/build:",
    disabled=not pending,
    on_click=apply_to_settings,
    args=(findings, "all fixes"),
)
ICONS = {"error": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"}
for finding in findings:
    with st.container(border=True):
        st.markdown(f"{ICONS[finding.severity]} **{finding.title}**  \n{finding.evidence}  \n*{finding.explanation}*")
        done = finding not in pending
        st.button(
            "Fixed in settings" if done else finding.fix_label,
            key=f"tr_fix_{finding.id}",
            disabled=done,
            on_click=apply_to_settings,
            args=([finding], finding.fix_label),
            icon=":material/check:" if done else ":material/build:",
        )
