"""bnn.plots: every builder returns a go.Figure of the expected make-up; no Streamlit."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from bnn import plots

ROOT = Path(__file__).resolve().parents[1]


def _z(fig: go.Figure, index: int = 0) -> np.ndarray:
    return np.asarray(fig.data[index].z, dtype=float)


def _check(fig: go.Figure, n_traces: int) -> None:
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == n_traces
    assert fig.layout.height and fig.layout.height <= 600
    fig.to_json()  # serializable, i.e. every property valid


def test_plots_does_not_import_streamlit():
    code = "import bnn.plots, sys; assert 'streamlit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_ste_figure():
    fig = plots.ste_figure()
    _check(fig, 3)
    sign_trace, ste, identity = fig.data
    assert list(sign_trace.y) == [-1, -1, 1, 1]
    assert max(ste.y) == 1 and min(ste.y) == 0
    assert list(ste.x)[1:5] == [-1, -1, 1, 1]  # gradient is 1 on |x| <= 1
    assert identity.line.dash == "dash"
    assert tuple(fig.layout.xaxis.range) == (-2, 2)
    _check(plots.ste_figure(show_htanh=True), 4)


@pytest.mark.parametrize("binary", [True, False])
def test_weight_grid(binary):
    weights = torch.randn(5, 784)
    fig = plots.weight_grid(weights, 4, binary)
    _check(fig, 1)
    z = _z(fig)
    assert z.shape == (2 * 28 + 1, 2 * 28 + 1)  # 2x2 tiles and a 1-cell separator
    assert np.isnan(z[28]).all() and np.isnan(z[:, 28]).all()
    if binary:
        assert set(np.unique(z[~np.isnan(z)])) <= {-1.0, 1.0}
        assert (fig.data[0].zmin, fig.data[0].zmax) == (-1, 1)
    else:
        assert np.allclose(z[:28, :28], weights[0].reshape(28, 28).numpy(), atol=1e-6)
        assert fig.data[0].zmin == -fig.data[0].zmax
    assert fig.layout.yaxis.autorange == "reversed"


def test_weight_grid_conv_weights():
    fig = plots.weight_grid(torch.randn(8, 1, 3, 3), 8, True)
    _check(fig, 1)
    assert _z(fig).shape == (3 * 3 + 2, 3 * 3 + 2)  # 3 rows x 3 cols of 3x3 tiles


def test_histogram():
    values = torch.randn(1000)
    values[:3] = float("nan")
    fig = plots.histogram(values, "pre-activations", annotation="30% saturated")
    _check(fig, 1)
    assert isinstance(fig.data[0], go.Histogram)
    assert len(fig.data[0].x) == 997  # NaN left out
    assert len(fig.layout.shapes) == 3  # the window band and two clip lines
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert "30% saturated" in notes and "3 non-finite" in notes
    bare = plots.histogram(np.zeros(5), "w", window=None, clip_lines=False)
    _check(bare, 1)
    assert len(bare.layout.shapes) == 0


def test_activation_grid():
    fig = plots.activation_grid(torch.tensor([1.0, -1.0] * 5), "dense1")
    _check(fig, 1)
    z = _z(fig)
    assert z.shape == (3, 4)  # 10 cells in a near-square grid
    assert np.isnan(z).sum() == 2
    assert list(z.reshape(-1)[:4]) == [1, -1, 1, -1]
    assert (fig.data[0].zmin, fig.data[0].zmax) == (-1, 1)


def test_probability_bars():
    probs = [0.05] * 10
    probs[3] = 0.55
    fig = plots.probability_bars(probs, 3)
    _check(fig, 1)
    colors = list(fig.data[0].marker.color)
    assert colors[3] == plots.HIGHLIGHT_COLOR
    assert colors.count(plots.HIGHLIGHT_COLOR) == 1
    assert len(fig.data[0].y) == 10


def test_digit_image():
    img = torch.rand(28, 28)
    fig = plots.digit_image(img, "a seven")
    _check(fig, 1)
    assert _z(fig).shape == (28, 28)
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.yaxis.scaleanchor == "x"
    assert fig.layout.xaxis.visible is False
    _check(plots.digit_image(np.zeros((1, 28, 28)), None), 1)


def test_confusion_figure():
    matrix = torch.arange(100).reshape(10, 10)
    fig = plots.confusion_figure(matrix)
    _check(fig, 1)
    assert _z(fig).shape == (10, 10)
    assert fig.data[0].texttemplate
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.xaxis.title.text == "predicted" and fig.layout.yaxis.title.text == "true"
    normalized = plots.confusion_figure(matrix, normalize=True)
    assert np.allclose(_z(normalized).sum(axis=1), 1.0)


def test_image_gallery():
    images = torch.rand(3, 28, 28)
    captions = ["true 4 → pred 9", "true 1 → pred 7", "true 3 → pred 5"]
    fig = plots.image_gallery(images, captions, cols=2)
    _check(fig, 1)
    texts = [a.text for a in fig.layout.annotations]
    assert texts == captions
    z = _z(fig)
    assert z.shape[1] == 2 * 28 + 2  # two columns, a 2-cell gap
    assert np.allclose(z[:28, :28], images[0].numpy(), atol=1e-6)
    empty = plots.image_gallery(torch.zeros(0, 28, 28), [], cols=4)
    _check(empty, 0)


def test_metric_lines():
    series = {"train": ([0, 1, 2], [1.0, float("nan"), 0.5]), "test": ([0, 2], [0.9, 0.7])}
    fig = plots.metric_lines(series, "Loss", "loss", log_y=True)
    _check(fig, 2)
    assert [t.name for t in fig.data] == ["train", "test"]
    assert list(fig.data[0].y) == [1.0, None, 0.5]
    assert fig.layout.yaxis.type == "log"
    assert fig.data[0].line.color != fig.data[1].line.color


def test_flip_rate_lines():
    records = [
        {"step": 10, "flip_rate": {"dense1": 0.02, "output": 0.01}},
        {"step": 20, "flip_rate": {"dense1": 0.01, "output": 0.0}},
        {"step": 30, "flip_rate": {"dense1": 0.005}},
    ]
    fig = plots.flip_rate_lines(records)
    _check(fig, 2)
    dense1, output = fig.data
    assert dense1.name == "dense1" and list(dense1.x) == [10, 20, 30]
    assert list(dense1.y) == [0.02, 0.01, 0.005]
    assert list(output.x) == [10, 20]


def test_prediction_histogram():
    counts = [9000, 100, 0, 0, 900, 0, 0, 0, 0, 0]
    fig = plots.prediction_histogram(counts)
    _check(fig, 1)
    assert list(fig.data[0].y) == counts
    assert len(fig.layout.shapes) == 1  # the true-share line
    assert fig.layout.shapes[0].y0 == pytest.approx(1000)
    colors = list(fig.data[0].marker.color)
    assert colors[0] == plots.HIGHLIGHT_COLOR and colors.count(plots.HIGHLIGHT_COLOR) == 1
    _check(plots.prediction_histogram([0] * 10), 1)


def test_size_bars():
    rows = [("paper MLP", 147_226_624, 4_600_832), ("CNN", 1_688_440, 56_800)]
    fig = plots.size_bars(rows)
    _check(fig, 2)
    full, packed = fig.data
    assert list(full.text) == ["147 MB", "1.69 MB"]
    assert list(packed.text) == ["4.6 MB", "56.8 kB"]
    assert fig.layout.barmode == "group" and fig.layout.yaxis.type == "log"
    linear = plots.size_bars(rows, log_y=False)
    assert linear.layout.yaxis.type != "log"


def test_palette_anchors_plus_and_minus():
    assert plots.DIVERGING[0][1] == plots.MINUS_COLOR
    assert plots.DIVERGING[-1][1] == plots.PLUS_COLOR
    assert plots.PLUS_COLOR != plots.MINUS_COLOR
    assert math.isclose(plots.DIVERGING[len(plots.DIVERGING) // 2][0], 0.5)


def test_xnor_walkthrough():
    from bnn.xnor import xnor_dot_example

    a, b = [1, -1, 1, 1, -1, -1, 1, -1], [1, 1, -1, 1, -1, 1, 1, 1]
    example = xnor_dot_example(a, b)
    fig = plots.xnor_walkthrough(example)
    _check(fig, 1)
    z = _z(fig)
    assert z.shape == (6, len(a) + 1)  # a, b, their bits, XOR, products; a column per element + Σ
    assert list(fig.layout.xaxis.ticktext)[-1] == "Σ" and list(fig.data[0].x) == list(range(len(a) + 1))
    assert list(z[4, :-1]) == [2 + v for v in example["xor_bits"]]  # differing signs get their own colour
    cells = {(ann.y, ann.x): ann.text for ann in fig.layout.annotations}
    assert [cells[("a", i)] for i in range(len(a))] == [f"{v:+d}" for v in a]  # each value in its own cell
    totals = {ann.y: ann.text for ann in fig.layout.annotations if ann.x == len(a)}
    plain = sum(x * y for x, y in zip(a, b))
    assert totals == {"a XOR b": f"<b>{example['popcount']}</b>", "a × b": f"<b>{plain}</b>"}
    assert f"= {example['dot']}" in fig.layout.title.text and example["dot"] == plain
    _check(plots.xnor_walkthrough(xnor_dot_example([1], [-1])), 1)
