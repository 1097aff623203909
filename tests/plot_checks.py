"""Checks shared by the tests of bnn.plots: a figure's make-up and a heatmap's values."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go


def heatmap_z(fig: go.Figure, index: int = 0) -> np.ndarray:
    return np.asarray(fig.data[index].z, dtype=float)


def check_figure(fig: go.Figure, n_traces: int) -> None:
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == n_traces
    assert fig.layout.height and fig.layout.height <= 600
    fig.to_json()  # serializable, i.e. every property valid
