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
    assert "30% saturated" in notes and "3 non-finite" in notes and "STE window" in notes
    above_the_bars = [a.yref == "paper" and a.y >= 1 and a.yanchor == "bottom" for a in fig.layout.annotations]
    assert all(above_the_bars)
    assert not any(shape.label.text for shape in fig.layout.shapes)  # no label on the shaded band
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
    assert fig.layout.xaxis.title.text == "class" and fig.layout.yaxis.title.text == "probability"


def test_confusion_figure_colours_the_errors_on_their_own_scale():
    matrix = torch.full((10, 10), 2) + torch.diag(torch.full((10,), 900))
    matrix[4, 9] = 40  # the worst confusion
    fig = plots.confusion_figure(matrix)
    check_figure(fig, 2)
    right, errors = heatmap_z(fig, 0), heatmap_z(fig, 1)
    assert np.isnan(np.diag(errors)).all() and np.nanmax(errors) == 40
    assert fig.data[1].zmax == 40  # the scale ends at the worst error, not at the diagonal's 900
    assert fig.data[1].colorbar.title.text == "errors"
    assert np.isnan(right[~np.eye(10, dtype=bool)]).all()
    assert fig.data[0].showscale is False and fig.data[0].text[3][3] == "902"  # right answers still counted
    assert fig.data[1].text[4][9] == "40" and fig.data[1].text[0][1] == "2"
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.xaxis.title.text == "predicted" and fig.layout.yaxis.title.text == "true"
    normalized = plots.confusion_figure(matrix, normalize=True)
    shares = np.where(np.isnan(heatmap_z(normalized, 1)), 0, heatmap_z(normalized, 1))
    assert np.allclose(shares.sum(axis=1) + np.diag(np.asarray(normalized.data[0].customdata, dtype=float)), 1.0)
