"""The Home page (app.py, AppTest): the BNN story, the STE figure, links to every page, the sidebar."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(runs_dir):
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception[0].value
    return at


def test_home_tells_the_story(home):
    text = " ".join(m.value for m in home.markdown)
    assert "Binarized Neural Network" in text and "arXiv:1602.02830" in text
    assert "9.87%" in text and "straight through" in text
    assert home.title[0].value == "BNN Playground"
    assert len(home.get("plotly_chart")) == 1  # sign forward vs the hard-tanh STE backward


def test_home_links_every_page(home):
    links = [link.proto.page for link in home.get("page_link")]
    for path in sorted((ROOT / "pages").glob("*.py")):
        assert path.stem.partition("_")[2] in links, f"no link to {path.name}"
    seed_link = next(link for link in home.get("page_link") if "9.87%" in link.proto.label)
    assert (seed_link.proto.page, seed_link.proto.query_string) == ("Train", "preset=seed")


def test_sidebar_shows_the_active_model(home):
    sidebar = " ".join(m.value for m in home.sidebar.markdown) + " ".join(c.value for c in home.sidebar.caption)
    assert "Active model" in sidebar


def test_page_links_are_titled_from_file_names(home):
    labels = [link.proto.label for link in home.get("page_link")]
    for path in sorted((ROOT / "pages").glob("*.py")):
        title = path.stem.partition("_")[2].replace("_", " ")
        assert any(label.startswith(f"**{title}**") for label in labels), f"no link titled {title}"
