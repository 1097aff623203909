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


def test_home_links_every_page_of_the_navigation(home):
    pages = sorted(path.name for path in (ROOT / "app_pages").glob("*.py"))
    frame = (ROOT / "app.py").read_text()
    assert all(f'"app_pages/{name}"' in frame for name in pages), "a page missing from st.navigation"
    links = {link.proto.label: link.proto.page for link in home.get("page_link")}
    for title in ("Train", "Compare", "Draw", "Inspect", "Efficiency"):
        assert links[title] == title  # label and URL path from app.py's st.Page list
    seed_link = next(link for link in home.get("page_link") if "9.87%" in link.proto.label)
    assert (seed_link.proto.page, seed_link.proto.query_string) == ("Train", "preset=seed")


def test_sidebar_shows_the_active_model(home):
    sidebar = " ".join(m.value for m in home.sidebar.markdown) + " ".join(c.value for c in home.sidebar.caption)
    assert "pretrained fast" in sidebar and "97.90% test accuracy" in sidebar  # assets/pretrained-fast
