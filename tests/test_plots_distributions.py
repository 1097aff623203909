"""bnn.plots.distributions: histograms, class probabilities and the confusion matrix."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from bnn import plots
from tests.plot_checks import check_figure, heatmap_z


def test_histogram():
    values = torch.randn(1000)
    values[:3] = float("nan")
    fig = plots.histogram(values, "pre-activations", annotation="30% saturated")
    check_figure(fig, 1)
    assert isinstance(fig.data[0], go.Histogram)
    assert len(fig.data[0].x) == 997  # NaN left out
    assert len(fig.layout.shapes) == 3  # the window band and two clip lines
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert "30% saturated" in notes and "3 non-finite" in notes
    bare = plots.histogram(np.zeros(5), "w", window=None, clip_lines=False)
    check_figure(bare, 1)
    assert len(bare.layout.shapes) == 0


def test_probability_bars():
    probs = [0.05] * 10
    probs[3] = 0.55
    fig = plots.probability_bars(probs, 3)
    check_figure(fig, 1)
    colors = list(fig.data[0].marker.color)
    assert colors[3] == plots.HIGHLIGHT_COLOR
    assert colors.count(plots.HIGHLIGHT_COLOR) == 1
    assert len(fig.data[0].y) == 10


def test_confusion_figure():
    matrix = torch.arange(100).reshape(10, 10)
    fig = plots.confusion_figure(matrix)
    check_figure(fig, 1)
    assert heatmap_z(fig).shape == (10, 10)
    assert fig.data[0].texttemplate
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.xaxis.title.text == "predicted" and fig.layout.yaxis.title.text == "true"
    normalized = plots.confusion_figure(matrix, normalize=True)
    assert np.allclose(heatmap_z(normalized).sum(axis=1), 1.0)
