"""AppTest of the Inspect page on the shipped pretrained model."""

from __future__ import annotations

import pytest
from conftest import app_page
from streamlit.testing.v1 import AppTest

from bnn.training.data import missing_files, resolve_data_dir
from ui import keys

pytestmark = pytest.mark.skipif(bool(missing_files(resolve_data_dir())), reason="MNIST is not on disk")


@pytest.fixture(scope="module")
def page() -> AppTest:
    at = app_page("inspect_model", 90).run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    return at


def test_every_section_renders(page):
    headers = [header.value for header in page.header]
    assert headers == [
        "Model summary",
        "First-layer weights",
        "Latent weights per layer",
        "Activations on test images",
        "Errors on the test set",
    ]
    labels = {metric.label: metric.value for metric in page.metric}
    assert labels["Compression"].endswith("×") and float(labels["Compression"][:-1]) > 10
    assert any(label.endswith("share of +1") for label in labels)
    assert len(page.get("plotly_chart")) >= 8


def test_summary_table_has_a_row_per_layer_and_a_total(page):
    from ui import state

    table = page.dataframe[0].value
    assert list(table["layer"]) == [block.name for block in state.active_model().model().blocks] + ["total"]
    assert table["1-bit params"].iloc[-1] == table["1-bit params"].iloc[:-1].sum()


def test_errors_section_reports_test_accuracy(page):
    caption = next(c.value for c in page.caption if "right on" in c.value)
    assert float(caption.split("%")[0]) > 90


@pytest.mark.slow  # three more renders of the page
def test_weight_views_and_unit_count_can_be_changed(page):
    charts_both = len(page.get("plotly_chart"))
    page.radio[0].set_value("Latent W").run()
    assert not page.exception
    assert len(page.get("plotly_chart")) == charts_both - 1
    page.select_slider[0].set_value(16).run()
    page.select_slider[1].set_value(100).run()
    assert not page.exception


@pytest.mark.slow  # a second full render of the page
def test_the_run_picker_offers_saved_runs_and_shows_the_chosen_one(runs_dir):
    from bnn.jobs.run_folders import load_run, save_run
    from ui.state import PRETRAINED_DIR

    shipped = load_run(PRETRAINED_DIR)
    saved = save_run(shipped.but(name="my-run", records=[], evals=[], summary={}, path=None), runs_dir).path
    at = app_page("inspect_model", 90).run()
    picker = at.selectbox(key="_picked_run_widget")
    assert picker.value == "pretrained"  # no run trains in this tab, none is active: the shipped model
    assert "Saved run my-run" in picker.options
    picker.set_value(f"saved:{saved}").run()
    assert not at.exception
    assert at.selectbox(key="_picked_run_widget").value == f"saved:{saved}"
    assert at.session_state[keys.PICKED_RUN] == f"saved:{saved}"  # kept for Draw and Efficiency
    assert any("No training records" in info.value for info in at.info)  # the saved run's own (empty) records
