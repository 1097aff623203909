"""Compare runs: overlay their curves, list the settings that differ, manage and download them.

Runs are the training jobs of this app that have not been saved yet (still running) and every
run saved under the runs directory (``bnn.runs``; a job is saved when it ends). The settings
table lists, in words, the settings whose values differ between the chosen runs
(``bnn.config.settings_in_words``: only settings that apply to a run).
"""

from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from bnn import plots
from bnn.config import RunConfig, settings_in_words
from bnn.metrics import EvalRecord, StepRecord
from bnn.runs import (
    RunFormatError,
    SavedRun,
    delete_run,
    load_run,
    metrics_csv,
    read_weights_bytes,
    rename_run,
    scan_runs,
    slugify,
)
from ui import state


@dataclass
class Entry:
    name: str
    config: RunConfig
    records: list[StepRecord] = field(default_factory=list)
    evals: list[EvalRecord] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    status: str = "saved"
    path: Path | None = None


def saved_status(run: SavedRun) -> str:
    """finished, stopped, diverged; interrupted when it was training as its server stopped."""
    return "interrupted" if run.unfinished else str(run.summary.get("status", "saved"))


def collect_runs(saved: list[SavedRun]) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    directory = state.runs_dir()
    live = set()
    for name, job in reversed(list(state.app_state().jobs.items())):
        snapshot = job.snapshot()
        if snapshot.ended and (directory / slugify(name)).is_dir():
            continue  # shown below as a saved run
        live.add(name)
        entries[f"{name} ({snapshot.status})"] = Entry(
            name, job.config, snapshot.records, snapshot.evals, snapshot.summary or {}, snapshot.status
        )
    for run in saved:
        if run.name in live:
            continue  # its checkpoint, while it trains here
        label = run.name if run.name not in entries else f"{run.name} ({run.path.name})"
        entries[label] = Entry(run.name, run.config, run.records, run.evals, run.summary, saved_status(run), run.path)
    return entries


def final_metrics(entry: Entry) -> dict:
    test = next((e for e in reversed(entry.evals) if e.get("split") == "test"), None)
    train = next((e for e in reversed(entry.evals) if e.get("split") == "train"), None)
    last = entry.records[-1] if entry.records else {}
    return {
        "test acc %": round(test["accuracy"], 2) if test else None,
        "train acc %": round(train["accuracy"], 2) if train else None,
        "final loss": last.get("loss"),
        "epochs done": round(last.get("epoch") or (test or {}).get("epoch") or 0.0, 2),
        "status": entry.status,
    }


st.title("Compare runs")
saved_runs, unreadable = scan_runs(state.runs_dir())
if unreadable:
    with st.expander(f"{len(unreadable)} folder(s) in the runs directory could not be read", icon=":material/warning:"):
        st.markdown("\n".join(f"- `{item.path.name}`: {item.reason}" for item in unreadable))
runs = collect_runs(saved_runs)
if not runs:
    st.info(f"No runs yet: train one on the Train page. Saved runs are read from `{state.runs_dir()}`.")
    st.stop()
labels = list(runs)
chosen = st.multiselect(
    "Runs",
    labels,
    default=labels[: min(3, len(labels))],
    key="cmp_runs",
    help="runs of this app that are still training, and every saved run",
)
if not chosen:
    st.caption("Choose one or more runs.")
    st.stop()

accuracy_series, loss_series = {}, {}
for label in chosen:
    entry = runs[label]
    tests = [e for e in entry.evals if e.get("split") == "test"]
    accuracy_series[label] = ([e["epoch"] for e in tests], [e["accuracy"] for e in tests])
    kept = plots.thin_records(entry.records, 300)
    loss_series[label] = (
        [r["epoch"] for r in kept],
        [r["loss"] if r["loss"] is not None else float("nan") for r in kept],
    )
left, right = st.columns(2)
left.plotly_chart(plots.run_overlay(accuracy_series, "Test accuracy", "accuracy (%)"), theme=None, key="cmp_acc")
right.plotly_chart(plots.run_overlay(loss_series, "Training loss", "loss", log_y=True), theme=None, key="cmp_loss")

st.subheader("Settings that differ, and final metrics", divider="gray")
words = {label: settings_in_words(runs[label].config) for label in chosen}
names = list(dict.fromkeys(name for row in words.values() for name in row))
differing = [name for name in names if len({row.get(name, "n/a") for row in words.values()}) > 1]
rows = [
    {"run": label, **final_metrics(runs[label]), **{name: words[label].get(name, "n/a") for name in differing}}
    for label in chosen
]
st.dataframe(rows, hide_index=True, width="stretch")
if len(chosen) > 1 and not differing:
    st.caption("These runs have the same settings.")

st.subheader("Manage a run", divider="gray")
label = st.selectbox("Run", chosen, key="cmp_manage")
entry = runs[label]
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
    weights = read_weights_bytes(entry.path) if entry.path is not None else None
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
else:
    downloads[1].caption("Weights can be downloaded once the run has ended and been saved.")

if entry.path is None:
    st.caption("A run can be renamed or deleted once it has ended.")
    st.stop()
if entry.status == "interrupted":
    step = entry.records[-1]["step"] if entry.records else 0
    st.info(
        f"**{entry.name}** was training when its server stopped; it was saved at step {step:,}. Resume it to "
        "finish the run: it continues exactly where the checkpoint left off.",
        icon=":material/restart_alt:",
    )
    if st.button("Resume training", icon=":material/play_arrow:", key="cmp_resume"):
        data = state.get_data()
        if data is not None:
            try:
                interrupted = load_run(entry.path)
            except RunFormatError as exc:
                st.error(f"Could not resume: {exc}")
            else:
                state.start_job(interrupted.config, interrupted.name, data, interrupted.preset, resume_from=interrupted)
                st.session_state.tr_job = interrupted.name
                st.switch_page("app_pages/train.py")
rename, delete = st.columns(2)
with rename.form("cmp_rename_form", border=False):
    new_name = st.text_input("New name", value=entry.name, key=f"cmp_new_name_{entry.path.name}")
    if st.form_submit_button("Rename", icon=":material/edit:"):
        if not new_name.strip():
            st.error("A run needs a name.")
        else:
            try:
                rename_run(entry.path, new_name.strip())
            except (OSError, RunFormatError) as exc:
                st.error(f"Could not rename: {exc}")
            else:
                st.session_state.pop("cmp_runs", None)
                st.rerun()
with delete:
    sure = st.checkbox(f"Yes, delete {entry.name} and its weights", key="cmp_confirm")
    if st.button("Delete", icon=":material/delete:", disabled=not sure, key="cmp_delete"):
        try:
            delete_run(entry.path)
        except (OSError, RunFormatError) as exc:
            st.error(f"Could not delete: {exc}")
        else:
            app = state.app_state()
            with app.lock:
                if entry.name in app.jobs and app.jobs[entry.name].snapshot().ended:
                    del app.jobs[entry.name]
            st.session_state.pop("cmp_runs", None)
            st.session_state.pop("cmp_confirm", None)
            st.rerun()
