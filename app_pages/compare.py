"""Compare runs: which setting mattered? Their curves step by step, the settings that differ, their status.

Runs (:class:`bnn.jobs.run.Run`) are the training jobs of this app that are still training and every
run saved under the runs directory (``bnn.runs``; a job saves itself when it ends). The curves are
overlaid per step (training loss, batch accuracy, weight sign-flip rate) and at every test
evaluation, over epochs so runs with other batch sizes line up; each run's live edits
(``bnn.training.loop.Trainer.edits``) are marked. The settings table lists, in words, the settings whose
values differ where they apply (``bnn.config.descriptions.settings_in_words``). Curves, edits and
differing settings are computed once, by what ``bnn.compare()`` returns (``bnn.api.results.Comparison``).
By default the best and the newest runs are chosen, or the newest and the run its settings fix
(Train's "Apply fixes").
"""

import math

import streamlit as st

from bnn import plots
from bnn.api.handle import RunHandle
from bnn.api.results import Comparison
from bnn.config.descriptions import describe_layers
from bnn.jobs.run import Run, Status
from bnn.jobs.run_folders import delete_run, load_run, rename_run
from bnn.jobs.run_format import RunFormatError
from bnn.jobs.run_names import RunNameError, slugify
from bnn.jobs.run_weights import read_weights_bytes
from bnn.network.summary import training_memory_problems
from bnn.training.live_edits import describe_edit
from bnn.training.metrics import metrics_csv
from ui import access, exports, keys, state
from ui.names import as_code, capped, shown


def collect_runs(catalog: state.RunCatalog) -> dict[str, Run]:
    """Label -> run: this server's runs still training (newest first; studies' too), then every
    saved run. Labels are names as plain text, with the folder when two runs share a name."""
    entries: dict[str, Run] = {}
    live = set()
    train_jobs = {id(job) for job in catalog.train_jobs.values()}
    for job in reversed(catalog.jobs):
        run = job.snapshot()
        if run.ended and (run.path is not None or id(job) not in train_jobs):
            continue  # saved when it ended: listed with the saved runs (a study's unsaved ones: not at all)
        live.add(run.path)
        label = f"{capped(run.name)} ({run.status})"
        entries[label if label not in entries else f"{label} ({id(job):x})"] = run
    # a run training here has its checkpoint saved: not listed, not to be resumed, renamed or deleted
    for run in catalog.saved_apart_from(live):
        label = capped(run.name)
        entries[label if label not in entries else f"{label} ({state.job_key(run.path)})"] = run
    return entries


def default_choice(runs: dict[str, Run]) -> list[str]:
    """The newest run and the run it fixes, else the newest and the best (highest test accuracy)."""
    labels = list(runs)
    if not labels:
        return []
    newest = labels[0]
    fixed = [label for label in labels if runs[newest].fixes and runs[label].name == runs[newest].fixes]
    if fixed:
        return [newest, fixed[0]]
    scored = [label for label in labels if runs[label].test_accuracy is not None]
    best = max(scored, key=lambda label: runs[label].test_accuracy) if scored else newest
    return list(dict.fromkeys([newest, best]))


def final_metrics(entry: Run) -> dict:
    train = next((e for e in reversed(entry.evals) if e.get("split") == "train"), None)
    last = entry.records[-1] if entry.records else {}
    test = entry.test_accuracy
    return {
        "status": entry.status,
        "test acc %": round(test, 2) if test is not None else None,
        "train acc %": round(train["accuracy"], 2) if train else None,
        "final loss": last.get("loss"),
        "epochs done": round(last.get("epoch") or 0.0, 2),
    }


def run_details(entry: Run) -> dict:
    return {
        "layers": describe_layers(entry.config),
        "live edits": "; ".join(f"step {e['step']}: {describe_edit(e)}" for e in entry.edits) or "–",
    }


st.title("Compare runs")
catalog = state.run_catalog()
unreadable = catalog.unreadable
if unreadable:
    with st.expander(f"{len(unreadable)} folder(s) in the runs directory could not be read", icon=":material/warning:"):
        st.markdown("\n".join(f"- {as_code(item.path.name)}: {shown(item.reason, 300)}" for item in unreadable))
runs = collect_runs(catalog)
if not runs:
    st.info(f"No runs yet: train one on the Train page. Saved runs are read from `{state.runs_dir()}`.")
    st.stop()
labels = list(runs)
picked = [label for label in st.session_state.pop(keys.COMPARE_PICK, []) if label in runs]  # Study's "Open in Compare"
if picked:
    st.session_state.pop("cmp_runs", None)
chosen = st.multiselect(
    "Runs",
    labels,
    default=picked or default_choice(runs),
    key="cmp_runs",
    help="Runs of this app that are still training, and every saved run. "
    "Chosen first: the newest and the run it fixes, else the best and the newest.",
)
if not chosen:
    st.caption("Choose one or more runs.")
    st.stop()

comparison = Comparison([RunHandle(runs[label]) for label in chosen], labels=chosen)  # what bnn.compare() shows
events = comparison.events()
panels = [
    ("Test accuracy at every evaluation", "accuracy (%)", comparison.series("test accuracy"), False),
    ("Training loss per step", "loss", comparison.series("loss"), True),
    ("Batch accuracy per step", "accuracy (%)", comparison.series("batch accuracy"), False),
    ("Weight sign flips per record (mean over layers)", "share flipped", comparison.series("sign flips"), False),
]
columns = st.columns(2) + st.columns(2)
for index, (column, (title, axis, series, log_y)) in enumerate(zip(columns, panels)):
    if not any(math.isfinite(y) for _, ys in series.values() for y in ys if y is not None):
        column.markdown(f"**{title}**")
        column.caption("Nothing to show: no binarized weights in these runs." if index == 3 else "No numbers yet.")
        continue
    figure = plots.run_overlay(series, title, axis, log_y=log_y, events=events)
    if index == 3:
        figure.update_yaxes(tickformat=".2%")
    column.plotly_chart(figure, theme="streamlit", key=f"cmp_chart_{index}")
if any(events.values()):
    st.caption("Dotted lines: live edits made while a run trained, in the run's colour.")

st.subheader("Settings that differ, and final metrics", divider="gray")
words, differing = comparison.settings()
differing = [name for name in differing if name != "Layers"]  # the layers: a column of run_details
rows = [
    {
        "run": label,
        **final_metrics(runs[label]),
        **{name: row.get(name, "–") for name in differing},
        **run_details(runs[label]),
    }
    for label, row in zip(chosen, words)
]
st.dataframe(rows, hide_index=True, width="stretch")
if len(chosen) > 1 and not differing and len({describe_layers(runs[l].config) for l in chosen}) == 1:
    st.caption("These runs have the same settings.")

st.subheader("Manage a run", divider="gray")
label = st.selectbox("Run", chosen, key="cmp_manage")
entry = runs[label]
mine = access.may_control(entry)  # else watched: downloads of its metrics only
if not mine:
    access.watching_caption(entry)
downloads = st.columns(2)
downloads[0].download_button(
    "Metrics (CSV)",
    metrics_csv(entry.records, entry.evals),
    file_name=f"{slugify(entry.name)}-metrics.csv",
    mime="text/csv",
    icon=":material/download:",
    width="stretch",
)
try:
    weights = read_weights_bytes(entry.path) if entry.path is not None and mine else None
except RunFormatError:
    weights = None
if weights is not None:
    downloads[1].download_button(
        "Weights (weights.pt)",
        weights,
        file_name=f"{slugify(entry.name)}-weights.pt",
        mime="application/octet-stream",
        icon=":material/download:",
        width="stretch",
    )
elif mine:
    downloads[1].caption("Weights can be downloaded once the run has ended and been saved.")
if weights is not None and entry.status == Status.FINISHED:
    model = entry.model()
    packed, refusal = exports.packed_of(entry.cache_key, model) if model is not None else (None, "no weights")
    if packed is not None:
        exports.download_buttons(packed, entry.name, entry.cache_key, "cmp_download")
    else:
        st.caption(f"No packed, C or ONNX download: the packed engine cannot run this model ({refusal}).")

if entry.path is None or entry.training:
    st.caption("A run can be renamed or deleted once it has ended.")
    st.stop()
if entry.status == Status.INTERRUPTED:
    step = entry.records[-1]["step"] if entry.records else 0
    st.info(
        f"**{shown(entry.name)}** was training when its server stopped; it was saved at step {step:,}. Resume it to "
        "finish the run: it continues exactly where the checkpoint left off.",
        icon=":material/restart_alt:",
    )
    resume = st.button("Resume training", icon=":material/play_arrow:", key="cmp_resume", disabled=not mine)
    if resume and access.require_owner(entry, "resume"):
        problems = training_memory_problems(entry.config) + state.start_problems(None)
        for problem in problems:
            st.error(f"Not resumed: {problem}", icon=":material/block:")
        data = state.get_data() if not problems else None
        if data is not None:
            try:
                interrupted = load_run(entry.path)
            except RunFormatError as exc:
                st.error(f"Could not resume: {exc}")
            else:
                try:
                    key = state.start_job(
                        interrupted.config, interrupted.name, data, interrupted.preset, resume_from=interrupted
                    )
                except state.JobConflict as exc:
                    st.error(f"Not resumed: {exc}", icon=":material/block:")
                else:
                    st.session_state[keys.TRAIN_RUN] = key  # the Train page shows this tab's run
                    st.switch_page("app_pages/train.py")
rename, delete = st.columns(2)
with rename.form("cmp_rename_form", border=False):
    new_name = st.text_input("New name", value=entry.name, key=f"cmp_new_name_{entry.path.name}", disabled=not mine)
    if st.form_submit_button("Rename", icon=":material/edit:", disabled=not mine) and access.require_owner(
        entry, "rename"
    ):
        new_name = new_name.strip()
        if new_name != entry.name and new_name in state.names_in_use():
            st.error(f"Not renamed: another run is called {shown(new_name)}; choose another name.")
        else:
            try:
                rename_run(entry.path, new_name)
            except (OSError, RunFormatError, RunNameError) as exc:
                st.error(f"Could not rename: {exc}")
            else:
                st.session_state.pop("cmp_runs", None)
                st.rerun()
with delete:
    sure = st.checkbox(f"Yes, delete {shown(entry.name)} and its weights", key="cmp_confirm", disabled=not mine)
    if st.button("Delete", icon=":material/delete:", disabled=not sure, key="cmp_delete") and access.require_owner(
        entry, "delete"
    ):
        try:
            delete_run(entry.path)
        except (OSError, RunFormatError) as exc:
            st.error(f"Could not delete: {exc}")
        else:
            app = state.app_state()
            with app.lock:
                key = state.job_key(entry.path)
                if key in app.jobs and app.jobs[key].snapshot().ended:
                    del app.jobs[key]
            st.session_state.pop("cmp_runs", None)
            st.session_state.pop("cmp_confirm", None)
            st.rerun()
