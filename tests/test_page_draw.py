"""AppTest of the Draw page with the canvas stubbed: AppTest cannot draw, so ``ui.widgets.drawing_canvas``
is replaced by a function returning a prepared RGBA canvas (white ink on black, 280x280).

The ``mnist`` fixture (tests/conftest.py) skips the tests that need MNIST when it is absent."""

from __future__ import annotations

import base64
import hashlib

import numpy as np
import plotly.io as pio
import pytest
from conftest import app_page
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from bnn.analysis.drawing import CANVAS_SIZE, digit_to_canvas
from ui import keys, widgets

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


READ_IN_PAGE = "The drawing is read in this page"


@pytest.mark.parametrize("canvas", [None, drawn(lambda d: None)], ids=["nothing-sent", "black-canvas"])
def test_nothing_sent_reads_nothing_on_the_server(monkeypatch, canvas):
    at = run_page(monkeypatch, canvas)
    assert prediction(at) is None
    assert any(READ_IN_PAGE in caption.value for caption in at.caption)


def test_the_real_canvas_renders_and_starts_empty():
    at = app_page("draw", TIMEOUT).run()  # the real canvas component, nothing sent
    assert not at.exception
    assert prediction(at) is None
    assert any(READ_IN_PAGE in caption.value for caption in at.caption)


def capture_page_data(monkeypatch) -> dict:
    """Stub the canvas and keep what the page gives the component (``page=``)."""
    seen: dict = {}

    def canvas(*args, page=None, **kwargs):
        seen.update(page or {})
        return None

    monkeypatch.setattr(widgets, "drawing_canvas", canvas)
    return seen


def test_the_component_gets_the_packed_model_unit_orders_and_test_digits(monkeypatch, mnist):
    """The page's engine reads the bytes bnn.xnor writes, at a content-addressed URL under static/."""
    from bnn.xnor import load_packed
    from ui import page_model

    seen = capture_page_data(monkeypatch)
    at = app_page("draw", TIMEOUT).run()
    assert not at.exception
    model = seen["model"]
    assert model["url"] == f"{page_model.URL_PREFIX}{model['sha256']}.bnnx"
    path = page_model.PACKED_DIR / f"{model['sha256']}.bnnx"
    data = path.read_bytes()
    assert len(data) == model["nbytes"] and hashlib.sha256(data).hexdigest() == model["sha256"]
    packed = load_packed(path)
    assert [layer.kind for layer in packed.layers] == ["bitplane", "xnor", "xnor"]
    assert [len(order["order"]) for order in seen["orders"]] == [1024, 1024]
    assert sorted(seen["orders"][0]["order"]) == list(range(1024))
    levels = np.frombuffer(base64.b64decode(seen["digits"]["levels"]), np.uint8).reshape(-1, 28, 28)
    assert len(levels) == len(seen["digits"]["labels"]) >= 100
    np.testing.assert_array_equal(levels[0], np.rint(mnist.test_images[0, 0].numpy() * 255))
    assert seen["digits"]["labels"][:3] == mnist.test_labels[:3].tolist()


def test_a_model_the_page_cannot_run_is_read_on_the_server(monkeypatch):
    """Real first-layer weights (a study's ablation): the page is told why, the server reads each stroke."""
    import dataclasses

    from bnn.config.presets import PRESETS
    from bnn.network.models import build_model
    from ui import page_model, state

    config = PRESETS["fast"].model
    real = dataclasses.replace(config.layers[0], binarize_weights=False)
    model = build_model(dataclasses.replace(config, layers=(real, *config.layers[1:]))).eval()
    assert "cannot be packed" in page_model.page_model("ablation-test", model).server_only
    pretrained = state.pretrained()
    ablation = pretrained.but(name="ablation-of-fast", weights=lambda: model)
    monkeypatch.setattr(state, "pretrained", lambda: ablation)
    monkeypatch.setattr(state, "activated", lambda: None)
    seen = capture_page_data(monkeypatch)
    at = app_page("draw", TIMEOUT).run()
    assert not at.exception
    assert "cannot be packed" in seen["model"]["server_only"] and "url" not in seen["model"]
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


def charts(at: AppTest) -> dict[str, object]:
    """Title -> Plotly figure of every chart on the page."""
    figures = [pio.from_json(chart.proto.spec, skip_invalid=True) for chart in at.get("plotly_chart")]
    return {figure.layout.title.text or "": figure for figure in figures}


def activation_views(at: AppTest) -> dict[str, object]:
    """The per-layer activation views (their titles say "... at +1 · ... changed")."""
    return {title: figure for title, figure in charts(at).items() if "at +1" in title}


def array(value) -> np.ndarray:
    """A Plotly JSON array: a list, or ``{"dtype", "bdata", "shape"}`` (base64 of numpy's bytes)."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return flat.reshape([int(n) for n in str(value.get("shape", flat.size)).split(",")]).astype(float)
    return np.asarray(value, dtype=float)


def favoured_row_share(figure, digit: int) -> float:
    """Share of +1 among the units shown in the rows of the group "favours ``digit``"."""
    labels = dict(zip(figure.layout.yaxis.tickvals, figure.layout.yaxis.ticktext))
    z = array(figure.data[0].z)
    rows, in_group = [], False
    for row in range(len(z)):
        label = labels.get(row, "")
        in_group = label == f"favours {digit}" if label else in_group
        if in_group:
            rows.append(z[row])
    values = np.concatenate(rows)
    values = values[np.isfinite(values)]
    return float((values > 0).mean())


def test_two_digits_give_different_activation_views_grouped_by_digit(monkeypatch, mnist):
    seven, one = digit_to_canvas(mnist.test_images[0]), digit_to_canvas(mnist.test_images[2])
    canvas = {"image": seven}
    monkeypatch.setattr(widgets, "drawing_canvas", lambda *args, **kwargs: canvas["image"])
    at = app_page("draw", TIMEOUT)
    at.run()
    first = activation_views(at)
    assert len(first) == 2 and all("0 changed" in title for title in first)  # nothing to compare with yet
    canvas["image"] = one
    at.run()
    assert not at.exception and prediction(at) == "1"
    second = activation_views(at)
    changed = [int(title.split("· ")[1].split(" ")[0]) for title in second]
    assert all(count > 50 for count in changed), second.keys()  # many units flipped between a 7 and a 1
    layer = next(iter(second.values()))
    assert favoured_row_share(layer, 1) > favoured_row_share(layer, 7)  # the "favours 1" rows light up for a 1
    outlined = [trace for trace in layer.data if trace.type == "scatter"]
    assert outlined and len(outlined[0].x) > 50  # the changed units are outlined
    assert list(layer.data[0].colorbar.ticktext) == ["−1", "+1"]  # the colours carry a number: a colour bar


def test_a_chosen_unit_shows_its_weights_and_agreement(monkeypatch, mnist):
    at = run_page(monkeypatch, digit_to_canvas(mnist.test_images[0]))
    at.number_input(key="draw_unit").set_value(5).run()
    assert not at.exception
    figures = charts(at)
    assert "sign(W)" in figures and "latent W" in figures
    assert array(figures["sign(W)"].data[0].z).shape == (28, 28)
    assert any("of the ink lies on its +1 weights" in caption.value for caption in at.caption)


def test_a_canvas_full_of_ink_gets_a_warning(monkeypatch):
    at = run_page(monkeypatch, drawn(lambda d: d.rectangle([10, 10, 270, 270], fill=(255, 255, 255, 255))))
    assert any("Low confidence" in warning.value and "ink covers" in warning.value for warning in at.warning)


def test_a_run_without_weights_yet_is_waited_for(monkeypatch):
    from test_model_picker import FakeJob

    from ui import state

    job = FakeJob()  # training, but its model is not built yet (loading MNIST, or queued)
    job.model_copy = lambda: None
    jobs = state.app_state().jobs
    monkeypatch.setitem(jobs, job.name, job)
    at = app_page("draw", TIMEOUT)
    at.session_state[keys.PICKED_RUN] = f"job:{job.name}"
    at.run()
    assert not at.exception
    assert any("No weights to show yet" in info.value for info in at.info)
    assert prediction(at) is None
