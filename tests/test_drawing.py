"""One drawing through the network (bnn/analysis/drawing.py), on a small untrained model: no data needed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from bnn.analysis.drawing import (
    CANVAS_SIZE,
    deployment_copy,
    digit_to_canvas,
    ink_agreement,
    preview_image,
    read_drawing,
    shape_doubts,
    trace_path,
)
from bnn.config.model_settings import LayerConfig, ModelConfig
from bnn.network.models import build_model


@pytest.fixture
def model():
    torch.manual_seed(0)
    net = build_model(
        ModelConfig(layers=(LayerConfig(64), LayerConfig(32), LayerConfig(10, binarize_activations=False)))
    )
    net.train()
    with torch.no_grad():  # BatchNorm statistics from a few random batches, then evaluate
        for _ in range(3):
            net(torch.rand(32, 1, 28, 28))
    return net.eval()


def canvas(draw) -> np.ndarray:
    image = Image.new("RGBA", (CANVAS_SIZE, CANVAS_SIZE), (0, 0, 0, 255))
    draw(ImageDraw.Draw(image))
    return np.array(image)


WHITE = (255, 255, 255, 255)
SEVEN = canvas(lambda d: d.line([(70, 50), (210, 50), (120, 240)], fill=WHITE, width=20))


def test_digit_to_canvas_is_white_ink_on_opaque_black():
    digit = torch.zeros(28, 28)
    digit[10:18, 13:15] = 1.0
    rgba = digit_to_canvas(digit)
    assert rgba.shape == (CANVAS_SIZE, CANVAS_SIZE, 4) and rgba.dtype == np.uint8
    assert (rgba[..., 3] == 255).all() and rgba[..., 0].max() == 255 and rgba[0, 0, 0] == 0


def test_an_empty_canvas_gives_no_reading(model):
    assert read_drawing(model, None) is None
    assert read_drawing(model, canvas(lambda d: None)) is None


def test_a_reading_has_probabilities_layers_and_votes(model):
    reading = read_drawing(model, SEVEN)
    assert reading.image28.shape == (28, 28)
    assert torch.isclose(reading.probabilities.sum(), torch.tensor(1.0))
    assert reading.predicted == int(reading.probabilities.argmax())
    assert [layer.name for layer in reading.hidden] == ["dense1", "dense2"]
    assert set(reading.hidden[0].post.unique().tolist()) <= {-1.0, 1.0}
    assert torch.equal(reading.votes, reading.weights * reading.activations)
    x = reading.image28.reshape(1, 1, 28, 28)
    traces = model.eval().trace(x)
    assert int(traces[-1].post[0].argmax()) == reading.predicted
    sign_w = model.blocks[-1].linear.forward_weight().detach()[reading.predicted]
    assert torch.equal(reading.votes, sign_w * traces[-1].inputs[0])  # vote_j = sign(W)[c, j] * h_j
    assert set(reading.votes.tolist()) <= {-1.0, 1.0}
    top = reading.top_units(5)
    assert len(top) == 5 and [u[3] for u in top] == sorted((u[3] for u in top), reverse=True)


def test_the_deployment_copy_has_the_same_outputs_and_leaves_the_model_alone(model):
    frozen = deployment_copy(model)
    x = torch.rand(8, 1, 28, 28)
    assert torch.equal(frozen(x), model(x))
    assert all(layer.binarize_weights for layer in model.linear_layers())
    assert not any(layer.binarize_weights for layer in frozen.linear_layers())
    a, b = read_drawing(model, SEVEN), read_drawing(frozen, SEVEN)
    assert a.predicted == b.predicted and torch.equal(a.votes, b.votes)


def test_stray_marks_raise_doubts_but_digits_do_not():
    assert shape_doubts(canvas(lambda d: d.ellipse([130, 130, 150, 150], fill=WHITE)))
    assert shape_doubts(canvas(lambda d: d.line([(40, 140), (240, 145)], fill=WHITE, width=20)))
    assert shape_doubts(SEVEN) == []
    assert shape_doubts(canvas(lambda d: d.line([(140, 40), (140, 240)], fill=WHITE, width=20))) == []  # a 1


def test_ink_agreement_counts_ink_on_plus_and_paper_on_minus():
    image = torch.zeros(28, 28)
    image[:, :14] = 1.0  # ink on the left half
    signs = torch.where(torch.arange(784).reshape(28, 28) % 28 < 7, 1.0, -1.0)  # +1 on the left quarter
    on_plus, on_minus = ink_agreement(image, signs)
    assert on_plus == pytest.approx(0.5) and on_minus == pytest.approx(1.0)


def test_preview_image_is_white_on_black_like_the_canvas():
    image = torch.zeros(28, 28)
    image[10, 5] = 1.0
    preview = preview_image(image, 56)
    assert preview.shape == (56, 56) and preview.dtype == np.uint8
    assert preview[21, 11] == 255 and preview[0, 0] == 0  # ink white, paper black, 2x2 pixels per input pixel


def test_trace_path_follows_the_prediction_back_through_the_layers(model):
    deployed = deployment_copy(model)
    reading = read_drawing(deployed, canvas(lambda d: d.line([(140, 40), (140, 240)], fill="white", width=24)))
    path = trace_path(deployed, reading, per_layer=5, per_unit=2)
    assert [name for name, _, _ in path.layers] == [layer.name for layer in reading.hidden] + ["output"]
    assert [len(units) for _, units, _ in path.layers] == [5, 5, 10]
    assert path.layers[1][1] == [unit for unit, *_ in reading.top_units(5)]  # the strongest voters
    into_prediction = [link for link in path.links if link[2] == 2]
    assert len(into_prediction) == 5 and all(link[3] == reading.predicted for link in into_prediction)
    weights = deployed.blocks[1].linear.weight
    for _, pa, b, pb, value in path.links:
        if b == 1:  # links are binary w·h of the chosen units
            j, k = path.layers[0][1][pa], path.layers[1][1][pb]
            assert value == float(weights[k, j] * reading.hidden[0].post[j])


def test_a_canvas_mostly_ink_is_doubted():
    full = canvas(lambda d: d.rectangle([5, 5, 275, 275], fill="white"))
    assert any("ink covers" in doubt for doubt in shape_doubts(full))
