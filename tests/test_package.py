"""The bnn package imports without Streamlit (the core knows nothing of the UI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a fresh process imports torch
def test_core_imports_without_streamlit():
    code = (
        "import bnn, bnn.train, bnn.jobs, bnn.runs, bnn.presets, bnn.cli; import sys; "
        "assert 'streamlit' not in sys.modules, 'streamlit was imported'; print('ok')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
