"""Property tests (hypothesis): whatever JSON is in a run's files and whatever a link's query
params say, loading never raises anything but a named refusal, and nothing invalid gets through."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pandas  # noqa: F401  (before the app's warm-up thread imports it: Streamlit reads a half-imported pandas)
import pytest
import torch
from conftest import app_page
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnn.config.links import read_query_params
from bnn.config.presets import PRESETS
from bnn.config.schema import SETTINGS, SETTINGS_BY_KEY, RunConfig, setting_value, validate
from bnn.jobs.run import Run, Status
from bnn.jobs.run_folders import load_run, save_run
from bnn.jobs.run_format import CONFIG_FILE, META_FILE, METRICS_FILE, RunFormatError
from bnn.jobs.run_listing import scan_runs
from bnn.network.models import build_model

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
SMALL = PRESETS["fast"].replace_model(layers=PRESETS["fast"].model.layers[-1:])
TEMPLATE = Path(tempfile.mkdtemp(prefix="bnn-template-"))
torch.manual_seed(0)
save_run(
    Run(
        name="template",
        config=SMALL,
        status=Status.FINISHED,
        records=[{"step": 20, "epoch": 0.5, "loss": 0.3, "flip_rate": {"output": 0.1}}],
        evals=[{"step": 20, "epoch": 0.5, "split": "test", "accuracy": 90.0, "prediction_histogram": [1] * 10}],
        summary={"test_accuracy": 90.0},
    ),
    TEMPLATE,
    model=build_model(SMALL.model),
)


def _with_file(file: str, content: object) -> Path:
    runs = Path(tempfile.mkdtemp(prefix="bnn-runs-"))
    shutil.copytree(TEMPLATE / "template", runs / "run")
    (runs / "run" / file).write_text(json.dumps(content))
    return runs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(file=st.sampled_from([META_FILE, CONFIG_FILE, METRICS_FILE]), content=JSON)
def test_any_json_in_any_file_of_a_run_is_read_or_named(file, content):
    runs = _with_file(file, content)
    try:
        readable, unreadable = scan_runs(runs)  # never raises
        assert len(readable) + len(unreadable) == 1
        if unreadable:
            assert unreadable[0].reason, "a refusal names its reason"
        else:  # what was listed loads; its weights may still not fit an edited config.json
            try:
                run = load_run(runs / "run")
                assert validate(run.config) == [] and run.model() is not None
            except RunFormatError as exc:
                assert "weights.pt" in str(exc)
    finally:
        shutil.rmtree(runs)


PARAM_TEXT = st.one_of(
    st.text(max_size=12),
    st.integers(-(10**25), 10**25).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "1", "true", "nan", "inf", "-1", "1e-3", "adam", "bop", "d10-wab-0", "d32-wab-0_d10-wb-0"]),
)


@settings(max_examples=300, deadline=None)
@given(params=st.dictionaries(st.sampled_from([*SETTINGS_BY_KEY, "layers", "zzz"]), PARAM_TEXT, max_size=8))
def test_any_link_gives_a_config_of_valid_values_and_names_every_refused_one(params):
    config, problems = read_query_params(params, RunConfig())
    assert all(s.problem(setting_value(config, s)) is None for s in SETTINGS)  # nothing invalid gets in
    for key, text in params.items():
        setting = SETTINGS_BY_KEY.get(key)
        if setting is None:
            continue
        named = any(problem.startswith(f"{key}=") for problem in problems)
        value = setting_value(config, setting)
        assert named or _means(setting.kind, text) == value, (key, text, problems)
    assert all("\n" not in problem for problem in problems)


def _means(kind: type, text: str) -> object:
    """What a link's text means for a field of ``kind`` (None when it means nothing)."""
    try:
        return {bool: {"0": False, "false": False, "1": True, "true": True}.get, int: int, float: float, str: str}[
            kind
        ](text)
    except ValueError:
        return None


DEEP = "[" * 100_000  # json.loads gives up with RecursionError


def test_a_deeply_nested_json_file_hides_only_its_own_folder(tmp_path):
    runs = _with_file(CONFIG_FILE, {})
    (runs / "run" / CONFIG_FILE).write_text(DEEP)
    shutil.copytree(TEMPLATE / "template", runs / "good")
    (runs / "study").mkdir()
    (runs / "study" / "study.json").write_text(DEEP)
    readable, unreadable = scan_runs(runs)
    assert [run.path.name for run in readable] == ["good"]
    assert any("nested too deeply" in item.reason for item in unreadable)
    assert [item.path.name for item in unreadable] == ["run"]  # a study's own study.json is not a run
    from bnn.jobs.studies import StudyError
    from bnn.jobs.study_folders import open_study

    try:
        open_study(runs / "study")
    except StudyError as exc:
        assert "nested too deeply" in str(exc)
    else:
        raise AssertionError("a crafted study.json was read")
    shutil.rmtree(runs)


# Efficiency lists runs with the same picker as Draw and Inspect (and takes a minute here)
@pytest.mark.parametrize("page", ["compare", "study", "draw", "inspect_model"])
def test_every_page_that_lists_runs_survives_a_crafted_folder(runs_dir, page):
    shutil.copytree(TEMPLATE / "template", runs_dir / "good")
    shutil.copytree(TEMPLATE / "template", runs_dir / "crafted")
    (runs_dir / "crafted" / CONFIG_FILE).write_text(DEEP)
    (runs_dir / "crafted-study").mkdir()
    (runs_dir / "crafted-study" / "study.json").write_text(DEEP)
    at = app_page(page).run()
    assert not at.exception, at.exception[0].value
