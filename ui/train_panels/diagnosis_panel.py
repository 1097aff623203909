"""The Train page after a run: make it the active model or load its settings, then the diagnosis
(``bnn.analysis.diagnosis``: its numbers checked, and with ``bnn.analysis.reference``, compared with a reference at
the same epoch) with a fix for each finding, applied to the next run's settings."""

from __future__ import annotations

import streamlit as st

from bnn.analysis.diagnosis import diagnose_run
from bnn.analysis.probe import probe
from bnn.analysis.reference import GAP_POINTS
from bnn.config.schema import RunConfig
from bnn.jobs.run import Run, Status
from ui import state as shared
from ui.names import shown
from ui.train_panels.next_run import NextRun

ICONS = {"error": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"}


@st.cache_data(show_spinner=False, max_entries=64)
def cached_probe(config_json: str, _images, _labels):
    return probe(RunConfig.from_json(config_json), _images, _labels)


def _probe(config: RunConfig, images, labels):
    return cached_probe(config.to_json(), images, labels)


def after_the_run(job, snapshot: Run, settings: NextRun) -> None:
    """The ended ``job``'s actions, then its diagnosis with a fix for each finding."""
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
            st.toast(f"{shown(job.name)} is now the active model")
            st.rerun()
    actions[1].button(
        "Load its settings",
        icon=":material/settings_backup_restore:",
        on_click=lambda: settings.set(job.config),
        help="Fill the settings below with this run's (including its live edits)",
    )
    if refused:
        actions[2].caption(f"Not offered as the active model: {refused}.")
    st.subheader("Diagnosis: why is my BNN not learning?", divider="gray")
    diagnosis(job, snapshot, settings)


def diagnosis(job, snapshot: Run, settings: NextRun) -> None:
    data = shared.get_data()
    result = diagnose_run(
        snapshot, data, probe_of=lambda config, images, labels: cached_probe(config.to_json(), images, labels)
    )
    findings, reference = result.findings, result.reference
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
    config = settings.config()
    pending = [f for f in findings if f.fix(config) != config]
    st.button(
        f"Apply all fixes ({len(pending)})",
        type="primary",
        icon=":material/build:",
        disabled=not pending,
        on_click=settings.apply_fixes,
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
                on_click=settings.apply_fixes,
                args=([finding], finding.fix_label, job.name),
                icon=":material/check:" if done else ":material/build:",
            )
