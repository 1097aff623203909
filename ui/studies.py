"""The studies training in this server (:class:`bnn.study.StudyJob`), process-wide like the
training jobs of ``ui.state``: they survive page switches and reloads, and their runs queue for
the same training slots as the Train page's."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from bnn.study import Study, StudyJob
from ui import state


@st.cache_resource(show_spinner=False)
def study_jobs() -> dict[str, StudyJob]:
    """Study folder (as text) -> the job training its runs here."""
    return {}


def start_study(study: Study, folder: Path) -> StudyJob | None:
    """Train the runs of ``study`` still to train into ``folder`` (None when MNIST is missing)."""
    data = state.get_data()
    if data is None:
        return None
    job = StudyJob(study, folder, data, slots=state.app_state().slots)
    study_jobs()[str(folder)] = job
    return job.start()
