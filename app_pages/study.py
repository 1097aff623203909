"""Studies: what does each binarization cost? One click trains the variants, one chart answers.

A study (:mod:`bnn.jobs.studies`) is a base configuration plus variants: an ablation (each layer's weight
and activation binarization, one at a time; all full precision; all binarized) or a sweep (a grid
of settings typed as text, checked as a Train-page link), optionally over several seeds. Its runs
train as ordinary runs through the server's training slots (:class:`bnn.jobs.study_job.StudyJob`), saved in
a study folder inside the runs folder, so the study survives a server restart (Resume) and every
variant is a run that Compare shows. The chart puts test accuracy against cost, bits stored or
share of binary MACs (:func:`bnn.plots.study_chart`), with the Pareto front and seed spreads.
"""

from dataclasses import replace
from pathlib import Path

import streamlit as st

from bnn import plots
from bnn.config.descriptions import describe
from bnn.config.presets import PRESETS, preset
from bnn.jobs.run_names import slugify, unique_name
from bnn.jobs.studies import KINDS, MAX_RUNS, MAX_SEEDS, StudyError, make_study, study_name
from bnn.jobs.study_folders import find_studies, open_study, pending_runs
from bnn.jobs.study_results import collect, results_csv
from ui import access, keys, state
from ui.names import shown
from ui.study_jobs import start_study, stop_study, study_jobs

REFRESH_S = 2.0
COSTS = {"bits stored": "bits", "share of binary MACs": "binary_mac_share"}

st.title("Study: what does each binarization cost?")
st.caption(
    "A study trains a base configuration and its variants as ordinary runs, then puts each variant's test "
    "accuracy against its cost: the bits its parameters take, and the share of its multiply-accumulates "
    "that are binary (XNOR-popcounts)."
)
session = st.session_state
runs_dir = state.runs_dir()


def _study_inputs() -> tuple[str, str, int, int, int]:
    """The study's kind, the sweep's grid (text), epochs per run, training images and seeds, as chosen."""
    kind = st.radio(
        "Kind",
        KINDS,
        horizontal=True,
        key="st_kind",
        format_func=lambda k: {"ablation": "Ablation: each binarization", "sweep": "Sweep: a grid"}[k],
    )
    grid = ""
    if kind == "sweep":
        grid = st.text_area(
            "Settings to sweep, one per line",
            "lr = 0.01, 0.001\noptimizer = adam, sgd",
            key="st_grid",
            help="setting = value, value, ... The setting by its name, link key or label (lr, batch_size, "
            "Optimizer ...); values are checked by the same rules as the Train page.",
        )
    cols = st.columns(3)
    epochs = cols[0].number_input("Epochs per run", 1, 1000, 1, key="st_epochs")
    subset = cols[1].number_input(
        "Training images (0 = all)", 0, 60_000, 0, step=1000, key="st_subset", help="Train on the first N only"
    )
    seeds = cols[2].number_input(
        "Seeds per variant", 1, MAX_SEEDS, 1, key="st_seeds", help="2 or more: a mean and a spread per variant"
    )
    return kind, grid, epochs, subset, seeds


def _start_button(study) -> None:
    """Train the study into a new folder of the runs folder, and show it."""
    if not st.button("Train the study", type="primary", icon=":material/play_arrow:", key="st_start"):
        return
    study = replace(study, name=unique_name(study.name, runs_dir))  # a new folder: never another's study
    folder = runs_dir / slugify(study.name)
    try:
        job = start_study(study, folder, new=True)
    except (StudyError, OSError) as exc:
        st.error(f"Could not start the study: {exc}")
        return
    if job is not None:
        session[keys.STUDY_FOLDER] = str(folder)
        session.pop("st_pick", None)  # the picker shows the new study
        st.rerun()


def new_study_form() -> None:
    label, base = session.get(keys.STUDY_BASE) or (None, None)
    label = f"the Train settings: {label}" if base is not None else None
    with st.expander("New study", expanded=keys.STUDY_FOLDER not in session, icon=":material/science:"):
        choices = ([label] if base is not None else []) + list(PRESETS)
        start_from = st.selectbox("Base configuration", choices, key="st_base", help="A preset, or the Train settings")
        config = base if base is not None and start_from == label else preset(start_from)
        st.caption(describe(config))
        kind, grid, epochs, subset, seeds = _study_inputs()
        name = study_name(start_from if start_from in PRESETS else "train-settings", kind)
        try:
            study = make_study(
                name,
                config,
                kind=kind,
                grid=grid,
                seeds=int(seeds),
                epochs=int(epochs),
                train_subset=int(subset),
                preset=start_from if start_from in PRESETS else None,
            )
        except StudyError as exc:
            st.error(str(exc), icon=":material/error:")
            return
        variants = study.variants()
        st.markdown(
            f"**{len(variants)} variants × {study.seeds} seed(s) = {len(study.runs())} runs** "
            f"(at most {MAX_RUNS}), {int(epochs)} epoch(s) each"
        )
        st.dataframe(
            [{"variant": v.name, "changes": "; ".join(v.changes) or "–"} for v in variants],
            hide_index=True,
            width="stretch",
        )
        _start_button(study)


def open_study_picker() -> Path | None:
    folders = find_studies(runs_dir)
    shown = session.get(keys.STUDY_FOLDER)
    if shown and Path(shown) not in folders:
        folders.insert(0, Path(shown))
    if not folders:
        st.info(f"No study yet: set one up above. Studies are saved in `{runs_dir}`.")
        return None
    index = folders.index(Path(shown)) if shown else 0
    folder = st.selectbox("Study", folders, index=index, format_func=lambda p: p.name, key="st_pick")
    session[keys.STUDY_FOLDER] = str(folder)
    return folder


def _study_header(study, folder: Path, results: list, training: bool, mine: bool) -> None:
    """The study in one line, its progress, and Stop (while it trains) or Resume (runs still to train)."""
    runs = [run for result in results for run in result.runs]
    done = sum(result.finished for result in results)
    waiting = sum(1 for run in runs if run is not None and run.status == "queued")
    header = st.columns([4, 1], vertical_alignment="center")
    header[0].markdown(
        f"**{shown(study.name)}** · {study.kind} of {study.preset or 'the Train settings'} · "
        f"{study.base.train.epochs} epoch(s) · {study.seeds} seed(s) · **{done} of {len(runs)} runs done**"
        + (f" · {waiting} waiting for a training slot" if waiting else "")
    )
    if training:
        header[1].button(
            "Stop the study",
            icon=":material/stop:",
            on_click=stop_study,
            args=(str(folder),),
            width="stretch",
            disabled=not mine,
            key="st_stop",
        )
        st.progress(sum(r.progress for r in results) / len(results))
    elif pending := pending_runs(study, folder):
        resumable = sum(1 for _, _, run in pending if run is not None)
        st.info(
            f"{len(pending)} run(s) still to train ({resumable} continue from a checkpoint, the others start "
            "again): the server stopped, or the study was stopped. Finished runs are kept.",
            icon=":material/restart_alt:",
        )
        resume = header[1].button(
            "Resume the study",
            icon=":material/play_arrow:",
            type="primary",
            width="stretch",
            disabled=not mine,
            key="st_resume",
        )
        if resume and start_study(study, folder, new=False) is not None:
            st.rerun()


def _results(study, results: list) -> None:
    """Test accuracy against cost (chart), and the variants' table."""
    rows = [result.to_dict() for result in results]
    cost_label = st.radio("Cost", list(COSTS), horizontal=True, key="st_cost")
    st.plotly_chart(plots.study_chart(rows, COSTS[cost_label]), theme="streamlit", key="st_chart")
    st.caption(
        "Orange: the Pareto front, no other variant is both cheaper and more accurate. "
        + ("Error bars: one standard deviation over the seeds." if study.seeds > 1 else "")
    )
    table = [
        {
            "variant": row["name"],
            "test acc %": row["test_accuracy"],
            **({"± (seeds)": row["test_accuracy_spread"]} if study.seeds > 1 else {}),
            "kbit stored": round(row["bits"] / 1000),
            "binary MACs": f"{row['binary_mac_share']:.1%}",
            "seconds": row["seconds"],
            "status": row["status"],
            "what it changes": "; ".join(row["changes"]) or "nothing: the base",
        }
        for row in rows
    ]
    st.dataframe(table, hide_index=True, width="stretch")


def _compare_links(study, results: list) -> None:
    """Open chosen variants in Compare; the table as CSV."""
    links = st.columns([2, 1, 1], vertical_alignment="bottom")
    names = [result.variant.name for result in results]
    picked = links[0].multiselect("Variants to compare", names, default=names[:2], key="st_compare")
    if links[1].button("Open in Compare", icon=":material/compare_arrows:", width="stretch", disabled=not picked):
        chosen = [name for r in results if r.variant.name in picked for name, _ in study.run_names(r.variant)]
        session[keys.COMPARE_PICK] = chosen
        st.switch_page("app_pages/compare.py")
    links[2].download_button(
        "Table (CSV)",
        results_csv(results),
        file_name=f"{slugify(study.name)}.csv",
        mime="text/csv",
        icon=":material/download:",
        width="stretch",
    )


def show_study(folder: Path, polled: bool = False) -> None:
    """The study's table and charts; ``polled``: re-run by a timer while it trains (the whole page
    runs again when it ends, to stop the timer)."""
    try:
        study = open_study(folder)
    except StudyError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    job = study_jobs().get(str(folder))
    training = job is not None and job.training
    mine = access.may_control(study)
    if not mine:
        access.watching_caption(study)
    if polled and not training:
        st.rerun()  # the study ended: the page again, without the timed refresh
    results = job.results() if job is not None else collect(study, folder)
    _study_header(study, folder, results, training, mine)
    _results(study, results)
    _compare_links(study, results)


new_study_form()
st.subheader("Results", divider="gray")
chosen_folder = open_study_picker()
if chosen_folder is not None:
    live = study_jobs().get(str(chosen_folder))
    polled = live is not None and live.training
    st.fragment(show_study, run_every=REFRESH_S if polled else None)(chosen_folder, polled)
