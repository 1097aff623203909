"""bnn.plots.common and the package: one palette anchored at -1/+1; no Streamlit."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from bnn import plots

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a fresh process imports torch and plotly
def test_plots_does_not_import_streamlit():
    code = "import bnn.plots, sys; assert 'streamlit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_palette_anchors_plus_and_minus():
    assert plots.DIVERGING[0][1] == plots.MINUS_COLOR
    assert plots.DIVERGING[-1][1] == plots.PLUS_COLOR
    assert plots.PLUS_COLOR != plots.MINUS_COLOR
    assert math.isclose(plots.DIVERGING[len(plots.DIVERGING) // 2][0], 0.5)
