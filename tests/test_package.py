"""The bnn package imports without Streamlit (the core knows nothing of the UI)."""

from __future__ import annotations

import pytest
from conftest import fresh_python


@pytest.mark.slow  # a fresh process imports torch
def test_core_imports_without_streamlit():
    code = (
        "import bnn, bnn.train, bnn.jobs, bnn.runs, bnn.presets, bnn.cli, bnn.api, bnn.study, bnn.views; import sys; "
        "assert 'streamlit' not in sys.modules, 'streamlit was imported'; print('ok')"
    )
    assert fresh_python(code) == "ok"
