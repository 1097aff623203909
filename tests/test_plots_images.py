"""bnn.plots.images: weights, activations and digits as upright heatmap mosaics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bnn import plots
from tests.plot_checks import check_figure, heatmap_z


@pytest.mark.parametrize("binary", [True, False])
def test_weight_grid(binary):
    weights = torch.randn(5, 784)
    fig = plots.weight_grid(weights, 4, binary)
    check_figure(fig, 1)
    z = heatmap_z(fig)
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
    check_figure(fig, 1)
    assert heatmap_z(fig).shape == (3 * 3 + 2, 3 * 3 + 2)  # 3 rows x 3 cols of 3x3 tiles


def test_activation_grid():
    fig = plots.activation_grid(torch.tensor([1.0, -1.0] * 5), "dense1")
    check_figure(fig, 1)
    z = heatmap_z(fig)
    assert z.shape == (3, 4)  # 10 cells in a near-square grid
    assert np.isnan(z).sum() == 2
    assert list(z.reshape(-1)[:4]) == [1, -1, 1, -1]
    assert (fig.data[0].zmin, fig.data[0].zmax) == (-1, 1)


def test_digit_image():
    img = torch.rand(28, 28)
    fig = plots.digit_image(img, "a seven")
    check_figure(fig, 1)
    assert heatmap_z(fig).shape == (28, 28)
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.yaxis.scaleanchor == "x"
    assert fig.layout.xaxis.visible is False
    check_figure(plots.digit_image(np.zeros((1, 28, 28)), None), 1)


def test_image_gallery():
    images = torch.rand(3, 28, 28)
    captions = ["true 4 → pred 9", "true 1 → pred 7", "true 3 → pred 5"]
    fig = plots.image_gallery(images, captions, cols=2)
    check_figure(fig, 1)
    texts = [a.text for a in fig.layout.annotations]
    assert texts == captions
    z = heatmap_z(fig)
    assert z.shape[1] == 2 * 28 + 2  # two columns, a 2-cell gap
    assert np.allclose(z[:28, :28], images[0].numpy(), atol=1e-6)
    empty = plots.image_gallery(torch.zeros(0, 28, 28), [], cols=4)
    check_figure(empty, 0)


def test_activation_groups_rows_per_group_with_changes_outlined():
    post = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0])
    order = [4, 0, 2, 1, 3]
    groups = ["favours 0", "favours 0", "favours 0", "favours 1", "no favourite"]
    previous = torch.tensor([1.0, 1.0, 1.0, -1.0, -1.0])  # units 1 and 4 changed
    fig = plots.activation_groups(post, order, groups, pre=post * 2, previous=previous, width=2)
    z = heatmap_z(fig)
    assert z.shape == (4, 2)  # "favours 0" wraps over two rows, then one row per group
    assert list(fig.layout.yaxis.ticktext) == ["favours 0", "", "favours 1", "no favourite"]
    assert z[0].tolist() == [1.0, 1.0] and z[2, 0] == -1.0  # units 4, 0 | 2 | 1 | 3
    marks = fig.data[1]
    assert sorted(zip(marks.x, marks.y)) == [(0, 0), (0, 2)]  # unit 4 (row 0) and unit 1 (row 2)
    assert list(fig.data[0].colorbar.ticktext) == ["−1", "+1"]
    assert "distance to the sign's flip" in fig.data[0].hovertemplate


def test_network_path_draws_units_links_and_classes():
    layers = [("dense1", [3, 7], [1.0, -1.0]), ("output", list(range(10)), [0.1] * 10)]
    links = [(0, 0, 1, 4, 1.0), (0, 1, 1, 4, -1.0)]
    fig = plots.network_path(layers, links, predicted=4)
    check_figure(fig, 4)  # links +1, links -1, one trace per layer
    assert [c for c in fig.data[0].x if c is not None] == [0, 1]  # the +1 link
    assert list(fig.layout.xaxis.ticktext) == ["dense1", "output"]
    assert fig.data[3].marker.line.width[4] == 3  # the prediction outlined
