"""Train a binarized network on MNIST, turn its knobs while it learns, and find out why when it does not.

Every setting of a run (Courbariaux et al. 2016, arXiv:1602.02830: which layers binarize weights
and activations, BatchNorm, the straight-through estimator, latent-weight clipping, optimizer)
is a control here and a URL query param, so a copied link reproduces the configuration; the
``run`` param names the run this tab shows, so a reload shows the same run. Training runs in a
process-wide background job (``bnn.jobs.training_job.TrainingJob``): clicks, page switches and reloads never
stop it; the live view polls it once a second. While it trains, its learning rate, optimizer and
per-layer binarization can be changed (``TrainingJob.edit``, applied at the next optimizer step
and marked on the chart). When a run ends, ``bnn.analysis.diagnosis`` checks its numbers, compares it
with a reference at the same epoch, and offers a fix for each problem it finds.

The page is its panels, top to bottom (``ui.train_panels``): the run bar, the live view with the
live knobs beside it, the diagnosis once the run ends, and the settings for the next run.
"""

import streamlit as st

from bnn.jobs.run import Status
from ui import access, frame, keys, live_chart
from ui import state as shared
from ui.train_panels.diagnosis_panel import after_the_run
from ui.train_panels.live_knobs import live_knobs
from ui.train_panels.live_view import LIVE_HEIGHT, live_view
from ui.train_panels.next_run import NextRun
from ui.train_panels.run_bar import press_start, run_bar, start_in_page
from ui.train_panels.settings_panel import settings_panel

with st.sidebar:
    live_chart.preload_live_chart()
state = st.session_state
link = {name: value for name, value in st.query_params.to_dict().items() if name not in access.url_params()}
settings = NextRun(state)
jobs = shared.app_state().jobs
if settings.follow_link(link) and link.get(keys.RUN_PARAM) in jobs:
    state[keys.TRAIN_RUN] = link[keys.RUN_PARAM]
job = jobs.get(state.get(keys.TRAIN_RUN))  # this tab's run (a plain key: widget state is dropped on page switches)
snapshot = job.snapshot() if job is not None else None
trains = snapshot is not None and not snapshot.ended  # running, paused, loading, stopping

st.title("Train")
st.caption(
    "Press Start, then turn the knobs on the right while it learns. Settings for the next run are below; "
    "they live in the URL, so a copied link reproduces them."
)
if not shared.data_on_disk():
    st.info(f"MNIST is not in `{shared.data_dir()}` yet: the first Start downloads it (about 11 MB).")
run_bar(state, job, snapshot, jobs, on_start=lambda: press_start(settings, jobs))
if state.pop(keys.TRAIN_START_IN_PAGE, False) and (started := start_in_page(settings, jobs)):
    state[keys.TRAIN_RUN] = started
    st.rerun()  # the whole page again: buttons and knobs for the new run
frame.still_progress_bars()

chart_column, knob_column = st.columns([3.3, 1])
with chart_column:
    live_view(job, snapshot, shared.app_state().slots.limit)
with knob_column.container(height=LIVE_HEIGHT + 56, border=True):
    live_knobs(state, job, snapshot)
if keys.TRAIN_NOTICE in state:
    st.info(state.pop(keys.TRAIN_NOTICE), icon=":material/info:")

if trains:
    st.caption("The diagnosis appears when the run ends: stop it to diagnose it now.")
elif snapshot is not None:
    after_the_run(job, snapshot, settings)

settings_panel(state, settings, folded=trains and snapshot.status != Status.PAUSED)
wanted = settings.link_params(state[keys.TRAIN_RUN] if job is not None else None)
if link != wanted:
    st.query_params.from_dict({**wanted, **access.url_params()})
