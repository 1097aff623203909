"""The studies training in this server (:class:`bnn.jobs.study_job.StudyJob`), process-wide like the
training jobs of ``ui.state`` (kept in its :class:`ui.state.AppState`): they survive page switches
and reloads, and their runs queue for the same training slots as the Train page's.

On a shared server (``ui.access``) a study is one of its session's starts: it is refused when the
session has its runs and its queue full, each of its variants must fit the server's limits and
the free memory as a Train-page run must, its runs train one at a time through the session's own
slot, and they are saved with the session as their owner. Only that session may stop or resume
the study (:func:`stop_study`, :func:`start_study` check it, not the buttons that call them).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import streamlit as st

from bnn.jobs.start_rules import start_problems as bnn_start_problems
from bnn.jobs.studies import Study
from bnn.jobs.study_job import StudyJob
from ui import access, state


def study_jobs() -> dict[str, StudyJob]:
    """Study folder (as text) -> the job training its runs here."""
    return state.app_state().studies


def start_problems(study: Study, folder: Path) -> list[str]:
    """Why this session may not train ``study`` into ``folder`` now (each a sentence), or nothing:
    the study trains here already; a variant's settings cannot train, would not fit in memory, or
    exceed a shared server's limits; the session may start nothing more (a study is one start)."""
    live = study_jobs().get(str(folder))
    if live is not None and live.training:
        return [f"the study {study.name} is training already"]
    problems = []
    for config in dict.fromkeys(config for _, _, config in study.runs()):
        problems += bnn_start_problems(config) + state.start_problems(config)
    return list(dict.fromkeys(problems))


def start_study(study: Study, folder: Path, *, new: bool) -> StudyJob | None:
    """Train the runs of ``study`` still to train into ``folder``; ``new``: a study this session
    sets up now (it becomes its owner), else resumed (only by its owner). None, and the reason
    shown, when it may not start or MNIST is missing."""
    if new:
        study = replace(study, owner=access.owner_id())
    elif not access.require_owner(study, "resume"):
        return None
    if problems := start_problems(study, folder):
        for problem in problems:
            st.error(f"Not started: {problem}", icon=":material/block:")
        return None
    data = state.get_data()
    if data is None:
        return None
    app = state.app_state()
    job = StudyJob(study, folder, data, slots=access.slots_for(app.slots))
    with app.lock:
        study_jobs()[str(folder)] = job
    return job.start()


def stop_study(folder: str) -> None:
    """Stop's callback: stop the study training into ``folder``, when this session may."""
    job = study_jobs().get(folder)
    if job is not None and access.require_owner(job.study, "stop"):
        job.stop()
