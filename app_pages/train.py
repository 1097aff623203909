"""Train a binarized network on MNIST, turn its knobs while it learns, and find out why when it does not.

Every setting of a run (Courbariaux et al. 2016, arXiv:1602.02830: which layers binarize weights
and activations, BatchNorm, the straight-through estimator, latent-weight clipping, optimizer)
is a control here and a URL query param, so a copied link reproduces the configuration; the
``run`` param names the run this tab shows, so a reload shows the same run. Training runs in a
process-wide background job (``bnn.jobs.TrainingJob``): clicks, page switches and reloads never
stop it; a fragment polls it once a second. While it trains, its learning rate, optimizer and
per-layer binarization can be changed (``TrainingJob.edit``, applied at the next optimizer step
and marked on the chart). When a run ends, ``bnn.diagnosis`` checks its numbers, compares it
with a reference at the same epoch, and offers a fix for each problem it finds.
"""

import time

import streamlit as st

from bnn import plots
from bnn.architecture import layer_names
from bnn.diagnosis import GAP_POINTS, apply_fixes, diagnose, probe, reference_for
from bnn.links import read_query_params, to_query_params
from bnn.presets import PRESET_DESCRIPTIONS, PRESETS
from bnn.run import Status
from bnn.settings import (
    LAYER_SETTINGS,
    MAX_LAYERS,
    SETTINGS_BY_NAME,
    ConfigError,
    LayerConfig,
    RunConfig,
    describe,
    validate,
)
from bnn.summary import model_summary, training_memory_problems
from bnn.train import LIVE_LAYER_SETTINGS, describe_edit
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
LIVE_HEIGHT = 500  # pixels: the chart, and the same space before the first run
RUN_PARAM = "run"  # the URL param naming the run this tab shows


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
    state.pop("tr_fixes_of", None)


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


def apply_to_settings(fixes: list, label: str, run_name: str) -> None:
    set_settings(apply_fixes(settings(), fixes))
    state.tr_fixes_of = run_name  # the next run is compared with the run it fixes
    state.tr_notice = f"Applied: {label}. Press **Start** to train with the new settings."


def preset_label() -> str:
    """The chosen preset's name, or "custom (from NAME)" once its settings are edited. (Not the
    selectbox's own option labels: the browser sends the label back, and a label that changed
    between two runs would no longer match its option.)"""
    chosen = state.tr_preset
    return f"custom (from {chosen})" if settings() != PRESETS[chosen] else chosen


url_params = st.query_params.to_dict()
if "tr_cfg" not in state or (url_params and url_params != state.get("tr_url")):  # first load, or a link
    state.tr_preset, config = config_from_url()
    set_settings(config)
    if url_params.get(RUN_PARAM) in shared.app_state().jobs:
        state.tr_run = url_params[RUN_PARAM]
form.fill_missing_controls(state, state.tr_cfg)
# the preset selectbox's state is dropped while the settings are folded: keep the choice apart
state.tr_preset = state.get("tr_preset") or state.get("tr_preset_chosen", "fast")
state.tr_preset_chosen = state.tr_preset
state.setdefault("tr_arch", ARCHITECTURES[state.tr_cfg.model.is_cnn])
jobs = shared.app_state().jobs
job = jobs.get(state.get("tr_run"))  # this tab's run (a plain key: widget state is dropped on page switches)
snapshot = job.snapshot() if job is not None else None
trains = snapshot is not None and not snapshot.ended  # running, paused, loading, stopping


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}:{seconds:02d}"


# --- run controls: first on the page -----------------------------------------------------
st.title("Train")
st.caption(
    "Press Start, then turn the knobs on the right while it learns. Settings for the next run are below; "
    "they live in the URL, so a copied link reproduces them."
)
if not shared.data_on_disk():
    st.info(f"MNIST is not in `{shared.data_dir()}` yet: the first Start downloads it (about 11 MB).")
bar = st.columns([1, 1, 1, 1, 3.4], vertical_alignment="center")
start = bar[0].button(
    "Start",
    type="primary",
    icon=":material/play_arrow:",
    width="stretch",
    disabled=trains,
    help="This tab's run is still training: stop it first" if trains else "Train with the settings below",
)
busy = not trains or snapshot.status in (Status.STOPPING, Status.EVALUATING)  # nothing to pause or stop
final_eval = format_seconds(snapshot.final_eval_s) if snapshot is not None else "–"
run_buttons = [
    ("Resume", ":material/play_arrow:", "resume", "Continues from the step it paused after")
    if snapshot is not None and snapshot.status == Status.PAUSED
    else ("Pause", ":material/pause:", "pause", "Pauses after the optimizer step in flight (well within a second)"),
    (
        "Stop",
        ":material/stop:",
        "stop",
        f"Stops after the step in flight, then evaluates the test and training sets (about {final_eval}); "
        "what was trained is kept",
    ),
]
for column, (label, icon, action, help_text) in zip(bar[1:3], run_buttons):
    column.button(
        label,
        icon=icon,
        on_click=getattr(job, action) if job else None,
        disabled=busy and label != "Resume",
        width="stretch",
        help=help_text,
    )
bar[3].button(
    "Test now",
    icon=":material/fact_check:",
    on_click=job.request_eval if job else None,
    disabled=not trains or snapshot.status == Status.PAUSED,
    width="stretch",
    help="Evaluate on the test set between two steps",
)
names = list(reversed(jobs))
if job is not None:
    state.tr_run_pick = job.name
else:
    state.pop("tr_run_pick", None)
if names:
    bar[4].selectbox(
        "Run shown",
        names,
        index=None,
        key="tr_run_pick",
        on_change=lambda: state.update(tr_run=state.tr_run_pick),
        placeholder="show a run of another tab …",
        label_visibility="collapsed",
        help="This tab shows the run it started; the other runs of this app can be shown too",
    )
if start:
    config = settings()
    problems = validate(config)
    if config.model.num_classes != 10:
        problems.append(f"the output layer must have 10 units, one per digit (got {config.model.num_classes})")
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
            fixes_of = state.pop("tr_fixes_of", None) if edited else None
            name = shared.new_job_name(f"{preset}-fixed" if fixes_of else f"{preset}-edited" if edited else preset)
            while name in jobs:
                name = f"{name}-{len(jobs)}"
            shared.start_job(config, name, data, None if edited else preset, fixes=fixes_of)
            state.tr_run = name
            st.rerun()  # the whole page again: buttons and knobs for the new run
frame.still_progress_bars()


def status_text(snap) -> str:
    """What the run is doing and, while stopping, what it waits for."""
    if snap.status == Status.STOPPING:
        return (
            f"stopping: finishing step {snap.step:,}, then the final evaluation on the test and training sets "
            f"(about {format_seconds(snap.final_eval_s)})"
        )
    if snap.status == Status.EVALUATING:
        return f"final evaluation on the test and training sets (about {format_seconds(snap.eta_s)} left)"
    if snap.status == Status.PAUSED:
        return f"paused after step {snap.step:,}"
    if snap.status == Status.LOADING:
        return "loading MNIST"
    if snap.status == Status.QUEUED:
        return (
            f"waiting for a free training slot: number {snap.queue_position or '–'} in the queue "
            f"({shared.app_state().slots.limit} run(s) train at once on this server)"
        )
    if snap.ended:
        return snap.status
    return "training"


def button_state(snap) -> tuple[str, bool]:
    return snap.status, snap.nonfinite_step is not None


def live_chart_spec(job, snap, series: dict) -> dict:
    """The live chart's layout and trace styles, built again only for a new run, new lines or a
    new live edit (building a Plotly figure takes ~100 ms of the GIL the training thread needs).
    Its step and learning-rate axes are fixed to the whole run, so most refreshes only move the lines."""
    shape = (job.name, tuple(series), len(snap.edits))
    cached = state.get("tr_chart_spec")
    if cached is None or cached[0] != shape:
        train = job.config.train
        lrs = [train.lr, train.lr if train.schedule == "constant" else train.lr_end]
        lrs += [edit["new"] for edit in snap.edits if edit["setting"] == "lr"]
        figure = plots.live_training_figure(
            snap.records,
            snap.evals,
            height=LIVE_HEIGHT,
            max_points=LIVE_POINTS,
            total_steps=snap.total_steps,
            lr_range=(min(lrs), max(lrs)),
            edits=snap.edits,
        )
        figure.update_layout(uirevision=job.name)  # a zoom or hidden line survives the redraws
        cached = state.tr_chart_spec = (shape, live_chart.figure_spec(figure))
    return cached[1]


@st.fragment(run_every=1.0 if trains and snapshot.status != Status.PAUSED else None)
def live_view(job, page_state: tuple[str, bool]) -> None:
    """Progress and the live chart, polled once a second. Only these two elements are redrawn:
    each refresh costs the browser a re-render, and the browser shares the CPU with training
    (benchmarks/ui_overhead.py)."""
    snap = job.snapshot()
    if button_state(snap) != page_state:
        st.rerun()  # the whole page: buttons for the new status; the diagnosis once it ends
    test = snap.last_eval("test")
    parts = [f"**{job.name}**", status_text(snap)]
    if snap.nonfinite_step is not None:
        parts.append(f"loss NaN since step {snap.nonfinite_step:,} (marked ✕ on the chart)")
    parts += [f"epoch {snap.epoch:.2f} / {snap.epochs}", f"step {snap.step:,} / {snap.total_steps:,}"]
    if not snap.ended:
        parts.append(f"{snap.samples_per_s:,.0f} samples/s")
        if snap.eta_s is not None:
            parts.append(f"ETA {format_seconds(snap.eta_s)} incl. the final evaluation")
    if test:
        parts.append(f"test accuracy {test['accuracy']:.2f}%")
    st.progress(min(snap.progress, 1.0), text=" · ".join(parts))
    if not snap.records:
        with st.container(height=LIVE_HEIGHT, border=True):
            if snap.status == Status.FAILED:
                st.error(f"The run failed: {snap.message.splitlines()[0] if snap.message else 'unknown error'}")
            elif snap.ended:
                st.caption(f"No training curves: the run ended at step {snap.step}, before its first record.")
            else:
                st.caption("The curves start after the first 20 steps …")
        return
    if snap.ended:
        figure = plots.live_training_figure(
            snap.records,
            snap.evals,
            height=LIVE_HEIGHT,
            max_points=LIVE_POINTS,
            total_steps=snap.step or None,  # the steps it trained (edit labels would widen an automatic axis)
            edits=snap.edits,
        )
        st.plotly_chart(figure, key="tr_final_chart", theme=None)
        return
    series = plots.live_training_series(snap.records, snap.evals, LIVE_POINTS)
    live_chart.live_plotly_chart(
        live_chart_spec(job, snap, series),
        series,
        version=f"{job.name}/{len(snap.records)}/{len(snap.evals)}/{len(snap.edits)}",
        key="tr_live_chart",
        height=LIVE_HEIGHT,
    )


def live_key(setting: str, layer: int | None = None) -> str:
    return f"tr_live_{setting}" if layer is None else f"tr_live_{setting}_{layer}"


def on_live_edit(setting: str, layer: int | None = None) -> None:
    value = state[live_key(setting, layer)]
    applied = len(job.snapshot().edits)
    try:
        job.edit(setting, value, layer)
    except ConfigError as exc:
        state.tr_notice = f"Not changed: {exc}"
        return
    if job.status == Status.PAUSED:
        st.toast("Applied when the run resumes, at its next optimizer step")
        return
    deadline = time.monotonic() + 1.0  # a step takes milliseconds: list the edit in this page run
    while len(job.snapshot().edits) == applied and time.monotonic() < deadline:
        time.sleep(0.02)
    st.toast("Applied at the next optimizer step; marked on the chart")


def live_knobs(job, snap) -> None:
    """The settings a training run takes without restarting: learning rate, optimizer, and each
    layer's binarization; every change is applied at the next optimizer step."""
    current = job.config
    if state.get("tr_live_for") != job.name:  # another run: its knobs start at its settings
        state[live_key("optimizer")] = current.train.optimizer
        state[live_key("lr")] = float(current.train.lr)
        for index, layer in enumerate(current.model.layers):
            for setting in LIVE_LAYER_SETTINGS:
                state[live_key(setting, index)] = getattr(layer, setting)
        state.tr_live_for = job.name
    st.markdown("**Change while it trains**")
    st.caption("Applied at the next optimizer step, without a restart; marked on the chart and kept in the run.")
    form.control(st, "optimizer", key=live_key("optimizer"), on_change=on_live_edit, args=("optimizer",))
    form.control(st, "lr", key=live_key("lr"), on_change=on_live_edit, args=("lr",))
    header = st.columns([1.3, 1, 1])
    header[1].caption("binary W", help=LAYER_SETTINGS["binarize_weights"].help)
    header[2].caption("binary A", help=LAYER_SETTINGS["binarize_activations"].help)
    for index, name in enumerate(layer_names(current.model)):
        row = st.columns([1.3, 1, 1], vertical_alignment="center")
        row[0].markdown(name)
        for column, setting in zip(row[1:], LIVE_LAYER_SETTINGS):
            form.control(
                column,
                setting,
                layer=index,
                label=f"{LAYER_SETTINGS[setting].label} of {name} in the running run",
                collapsed=True,
                key=live_key(setting, index),
                on_change=on_live_edit,
                args=(setting, index),
            )
    edit_list(snap.edits)


def edit_list(edits: list[dict]) -> None:
    if edits:
        st.markdown("  \n".join(f"step {edit['step']:,}: {describe_edit(edit)}" for edit in edits))


chart_column, knob_column = st.columns([3.3, 1])
with chart_column:
    if job is None:
        st.progress(0.0, text="No run in this tab yet: press **Start**")
        with st.container(height=LIVE_HEIGHT, border=True):
            st.caption(
                "The loss, accuracy, learning rate and weight sign flips of the run draw here as it trains "
                "(the `fast` preset takes about half a minute per epoch on this machine)."
            )
    else:
        live_view(job, button_state(snapshot))
with knob_column.container(height=LIVE_HEIGHT + 56, border=True):
    if job is None:
        st.markdown("**Change while it trains**")
        st.caption("Once a run trains, its learning rate, optimizer and each layer's binarization can be changed here.")
    elif not snapshot.ended:
        live_knobs(job, snapshot)
    else:
        st.markdown("**Live edits of this run**")
        if not snapshot.edits:
            st.caption("None: it trained with the settings it started with.")
        edit_list(snapshot.edits)
if "tr_notice" in state:
    st.info(state.pop("tr_notice"), icon=":material/info:")


# --- after the run ---------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=64)
def cached_probe(config_json: str, _images, _labels):
    return probe(RunConfig.from_json(config_json), _images, _labels)


ICONS = {"error": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"}


def after_the_run(job, snapshot) -> None:
    """Make active / load settings, then the diagnosis with a fix for each finding."""
    actions = st.columns([1, 1, 3], vertical_alignment="center")
    active = shared.active_model()
    is_active = active is not None and (active.name, active.path) == (snapshot.name, snapshot.path)
    refused = {
        Status.DIVERGED: f"it diverged (loss NaN from step {snapshot.nonfinite_step}): its weights are NaN and "
        "every answer would be class 0",
        Status.FAILED: "it failed before it had a model",
    }.get(snapshot.status)
    if actions[0].button(
        "Make active",
        icon=":material/check_circle:",
        disabled=is_active or refused is not None,
        help=f"Not offered: {refused}" if refused else "Use this model on the Draw, Inspect and Efficiency pages",
    ):
        if shared.activate(job.snapshot()):
            st.toast(f"{job.name} is now the active model")
            st.rerun()
    actions[1].button(
        "Load its settings",
        icon=":material/settings_backup_restore:",
        on_click=lambda: set_settings(job.config),
        help="Fill the settings below with this run's (including its live edits)",
    )
    if refused:
        actions[2].caption(f"Not offered as the active model: {refused}.")

    st.subheader("Diagnosis: why is my BNN not learning?", divider="gray")
    data = shared.get_data()
    config_used = snapshot.config
    run_probe = cached_probe(config_used.to_json(), data.train_images, data.train_labels) if data is not None else None
    model = snapshot.model() if not config_used.train.clip_latent else None  # only the clipping check needs it
    reference = reference_for(config_used, snapshot.preset)
    findings = diagnose(snapshot, run_probe, model.latent_weights() if model is not None else None, reference)
    test = snapshot.last_eval("test")
    if not findings:
        at = reference.accuracy_at(test["epoch"]) if reference and test else None
        compared = ""
        if at:
            epochs = f"{at[0]:g} epoch{'s' if at[0] != 1 else ''}"
            compared = f", within {GAP_POINTS:g} point of {reference.name} after {epochs} ({at[1]:.2f}%)"
        st.success(
            "No problem found: the run learns"
            + (f" ({test['accuracy']:.2f}% test accuracy{compared})." if test else "."),
            icon=":material/check:",
        )
        return
    config = settings()
    pending = [f for f in findings if f.fix(config) != config]
    st.button(
        f"Apply all fixes ({len(pending)})",
        type="primary",
        icon=":material/build:",
        disabled=not pending,
        on_click=apply_to_settings,
        args=(findings, "all fixes", job.name),
        help="Edit the settings below; Start then trains the fixed run (Compare overlays the two)",
    )
    for finding in findings:
        with st.container(border=True):
            text = f"{ICONS[finding.severity]} **{finding.title}**  \n{finding.evidence}  \n*{finding.explanation}*"
            if finding.on_chart:
                text += f"  \n:material/show_chart: On the chart: {finding.on_chart}."
            st.markdown(text)
            done = finding not in pending
            st.button(
                "Fixed in settings" if done else finding.fix_label,
                key=f"tr_fix_{finding.id}",
                disabled=done,
                on_click=apply_to_settings,
                args=([finding], finding.fix_label, job.name),
                icon=":material/check:" if done else ":material/build:",
            )


if snapshot is not None and snapshot.ended:
    after_the_run(job, snapshot)
elif snapshot is not None:
    st.caption("The diagnosis appears when the run ends: stop it to diagnose it now.")


# --- settings for the next run ---------------------------------------------------------------
# On a phone the layer table's columns stack: each cell then shows its own label ("binarize
# weights of dense1") and the column titles, which no longer sit above their cells, are hidden.
NARROW_LAYER_TABLE_CSS = """<style>
@media (max-width: 640px) {
  .st-key-tr_layer_header { display: none; }
  [data-testid="stMain"] [data-testid="stWidgetLabel"] {
    display: flex !important; visibility: visible !important; height: auto !important; min-height: 1rem;
    position: static !important;
  }
}
</style>"""


def settings_controls() -> None:
    """The preset, the layer table, the common training settings and the advanced ones, read
    back by settings()."""
    top = st.columns([1.2, 1, 2.2], vertical_alignment="bottom")
    top[0].selectbox(
        "Preset",
        list(PRESETS),
        key="tr_preset",
        on_change=on_preset,
        help="Fills every control below; everything stays editable",
    )
    top[1].radio("Architecture", ARCHITECTURES, key="tr_arch", on_change=on_architecture, horizontal=True)
    label = preset_label()
    top[2].markdown(
        f"**{label}** · {describe(settings())}"
        if label != state.tr_preset
        else f"**{label}** · {PRESET_DESCRIPTIONS.get(label, '')}"
    )
    layers = state.tr_cfg.model.layers
    st.html(NARROW_LAYER_TABLE_CSS)
    header = st.container(key="tr_layer_header").columns(LAYER_COLUMNS)
    header[0].caption("layer")
    for column, name in zip(header[1:], form.LAYER_CONTROLS):
        column.caption(LAYER_SETTINGS[name].label, help=LAYER_SETTINGS[name].help)
    row = st.columns(LAYER_COLUMNS, vertical_alignment="center")
    _, height, width = state.tr_cfg.model.image_shape
    row[0].markdown(f"**input** · {height}×{width} pixels")
    form.control(row[1], "scale", collapsed=True)
    row[2].markdown("—")
    form.control(row[3], "binarize", collapsed=True)
    row[4].markdown("—")
    form.control(row[5], "dropout", collapsed=True)
    for index, (name, layer) in enumerate(zip(layer_names(state.tr_cfg.model), layers)):
        row = st.columns(LAYER_COLUMNS, vertical_alignment="center")
        if index == len(layers) - 1:
            row[0].markdown(f"**{name}** · dense")
            row[1].markdown(f"{layer.units} classes")
        else:
            detail = f"conv {layer.kernel_size}×{layer.kernel_size}" + (", 2×2 pool" if layer.pool else "")
            row[0].markdown(f"**{name}** · {detail if layer.kind == 'conv' else 'dense'}")
            form.control(row[1], "units", layer=index, label=f"width of {name}", collapsed=True)
            row[6].button(
                "",
                key=f"tr_remove_{index}",
                icon=":material/delete:",
                on_click=remove_layer,
                args=(index,),
                help=f"remove {name}",
            )
        for column, field in zip(row[2:6], ("binarize_weights", "binarize_activations", "batch_norm", "dropout")):
            form.control(column, field, layer=index, label=f"{LAYER_SETTINGS[field].label} of {name}", collapsed=True)
    st.button("Add a hidden layer", icon=":material/add:", on_click=add_layer, disabled=len(layers) >= MAX_LAYERS)
    if state[key("binarize_activations", len(layers) - 1)]:
        st.warning(
            "The output layer's activations are binarized: its 10 class scores become ±1, many classes tie, "
            "and argmax returns the first of them. This is the bug of the `seed` preset.",
            icon=":material/warning:",
        )
    cols = st.columns(4)
    form.control(cols[0], "optimizer")
    if SETTINGS_BY_NAME["momentum"].applies_to(settings()):
        form.control(cols[0], "momentum")
    form.control(cols[1], "lr")
    form.control(cols[2], "epochs")
    form.control(cols[3], "batch_size")
    with st.expander(
        "Advanced: loss, schedule, STE cancellation, clipping, Glorot scaling, stochastic binarization, seed, subset"
    ):
        cols = st.columns(4)
        form.control(cols[0], "loss")
        form.control(cols[0], "schedule")
        if SETTINGS_BY_NAME["lr_end"].applies_to(settings()):
            form.control(cols[0], "lr_end")
        form.control(cols[1], "ste_cancel")
        form.control(cols[1], "clip_latent")
        form.control(cols[1], "glorot_lr_scale")
        form.control(cols[2], "stochastic")
        form.control(cols[2], "real_activation")
        form.control(cols[3], "seed")
        form.control(cols[3], "train_subset")


st.subheader("Settings for the next run", divider="gray")
if trains and snapshot.status != Status.PAUSED:
    # Every element on the page is re-rendered at each of the live view's refreshes: a hundred
    # controls cost the browser CPU that training shares (benchmarks/ui_overhead.py). They come
    # back when the run pauses or ends, when nothing polls: a control mounted during a refresh
    # can reach the server with its empty default instead of its value.
    with st.container(border=True):
        st.markdown(f"**{preset_label()}** · {describe(state.tr_cfg)}")
        st.caption(
            "Folded while this tab's run trains, since redrawing every control at each refresh would slow it: "
            "use the knobs next to the chart to change the run now, or pause it to edit the next run's settings."
        )
else:
    if state.get("tr_controls_run") != frame.page_runs() - 1:
        # Not drawn in the previous run (folded, another page, first visit): the browser has
        # forgotten these controls, so give each its value again rather than its empty default.
        form.write_controls(state, state.tr_cfg)
    settings_controls()
    state.tr_controls_run = frame.page_runs()
    config = settings()
    problems = validate(config)
    if not problems:
        st.caption(
            f"{model_summary(config.model).total_params:,} parameters · "
            f"{config.train.epochs} epoch(s) of {config.train.train_subset or 60000:,} images"
        )
state.tr_cfg = settings()
wanted = {"preset": state.tr_preset, **to_query_params(state.tr_cfg)}
if job is not None:
    wanted[RUN_PARAM] = job.name
if url_params != wanted:
    st.query_params.from_dict(wanted)
state.tr_url = wanted
