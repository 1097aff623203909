"""AppTest of the Draw page with the canvas stubbed: AppTest cannot draw, so ``ui.widgets.drawing_canvas``
is replaced by a function returning a prepared RGBA canvas (white ink on black, 280x280).

The ``mnist`` fixture (tests/conftest.py) skips the tests that need MNIST when it is absent."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import app_page
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from bnn.draw import CANVAS_SIZE, digit_to_canvas
from ui import widgets

TIMEOUT = 60


def run_page(monkeypatch, canvas: np.ndarray | None) -> AppTest:
    monkeypatch.setattr(widgets, "drawing_canvas", lambda *args, **kwargs: canvas)
    at = app_page("draw", TIMEOUT)
    at.run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    return at


def prediction(at: AppTest) -> str | None:
    values = [metric.value for metric in at.metric if metric.label == "Prediction"]
    return values[0] if values else None


def drawn(draw) -> np.ndarray:
    image = Image.new("RGBA", (CANVAS_SIZE, CANVAS_SIZE), (0, 0, 0, 255))
    draw(ImageDraw.Draw(image))
    return np.array(image)


@pytest.mark.parametrize("canvas", [None, drawn(lambda d: None)], ids=["no-stroke-yet", "black-canvas"])
def test_empty_canvas_asks_for_a_digit_and_predicts_nothing(monkeypatch, canvas):
    at = run_page(monkeypatch, canvas)
    assert prediction(at) is None
    assert any("Draw a digit" in info.value for info in at.info)


def test_the_real_canvas_renders_and_starts_empty():
    at = app_page("draw", TIMEOUT).run()  # the real st_canvas, nothing drawn
    assert not at.exception
    assert prediction(at) is None
    assert any("Draw a digit" in info.value for info in at.info)


@pytest.mark.parametrize("index", [0, 1, 2])  # a 7, a 2 and a 1 from the MNIST test set
def test_a_test_digit_drawn_on_the_canvas_is_read(monkeypatch, mnist, index):
    at = run_page(monkeypatch, digit_to_canvas(mnist.test_images[index]))
    assert prediction(at) == str(int(mnist.test_labels[index]))
    assert len(at.get("plotly_chart")) >= 4  # model input, probabilities, hidden layers, votes
    assert not at.warning


def test_a_stray_dot_gets_a_prediction_with_a_warning(monkeypatch):
    at = run_page(monkeypatch, drawn(lambda d: d.ellipse([130, 130, 150, 150], fill=(255, 255, 255, 255))))
    assert prediction(at) is not None
    assert any("Low confidence" in warning.value for warning in at.warning)


def test_a_stray_line_gets_a_prediction_with_a_warning(monkeypatch):
    at = run_page(monkeypatch, drawn(lambda d: d.line([(50, 140), (230, 150)], fill=(255, 255, 255, 255), width=20)))
    assert prediction(at) is not None
    assert any("Low confidence" in warning.value for warning in at.warning)


def test_random_test_digit_goes_through_the_same_pipeline(monkeypatch, mnist):
    monkeypatch.setattr(widgets, "drawing_canvas", lambda *args, **kwargs: None)
    at = app_page("draw", TIMEOUT)
    at.session_state["test_index"] = 0
    at.run()
    at.radio(key="draw_source").set_value("Random test digit").run()
    assert not at.exception
    label = int(mnist.test_labels[0])
    assert prediction(at) == str(label)
    assert any(f"True label {label}" in caption.value for caption in at.caption)
