"""AppTest of the Efficiency page on the shipped pretrained model and on a CNN.

The test-set agreement runs on the first 1,000 test images (the page's "Test images" choice) to keep
the test short; the page's default is all 10,000.
"""

from __future__ import annotations

import re

import pytest
import torch
from conftest import app_page
from streamlit.testing.v1 import AppTest

from bnn.config.model_settings import LayerConfig, ModelConfig
from bnn.config.presets import PRESETS
from bnn.config.schema import RunConfig
from bnn.jobs.run import Run, Status
from bnn.network.models import build_model
from bnn.network.summary import format_bytes, model_summary
from bnn.training.data import missing_files, resolve_data_dir
from bnn.xnor import kernels
from ui import keys, state

pytestmark = [
    pytest.mark.skipif(bool(missing_files(resolve_data_dir())), reason="MNIST is not on disk"),
    pytest.mark.slow,  # the page runs both engines on 1,000 test images and times them (~10 s)
]
SUBSET = 1000


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    return at


@pytest.fixture(scope="module")
def page() -> AppTest:
    kernels.warm_up()  # as the server's warm-up does at its start; else the page runs the numpy engine
    at = app_page("efficiency", 120)
    at.session_state["eff_test_images"] = SUBSET  # the user's choice of a quick first look
    return run(at)


def walkthrough_sentence(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("K = "))


def test_every_section_renders(page):
    assert [h.value for h in page.header] == [
        "Model size: 32 bits vs 1 bit",
        "Take it anywhere: the packed file, C, ONNX",
        "XNOR and popcount, step by step",
        "One image: float32 vs packed XNOR",
        "The whole test set: do the engines agree?",
    ]
    assert len(page.get("plotly_chart")) == 3  # sizes, walk-through, the test image
    assert not page.error and not page.warning


def device_table(at: AppTest):
    return next(frame.value for frame in at.dataframe if "fits" in frame.value.columns)


def test_downloads_and_the_device_table(page):
    """The shipped run offers its packed file, C and ONNX; the C file's flash and RAM against common parts."""
    labels = [button.proto.label for button in page.get("download_button")]
    assert labels == ["Packed model (.bnnx)", "C for a microcontroller (.zip)", "ONNX (.onnx)"]
    assert not any(button.proto.disabled for button in page.get("download_button"))
    table = device_table(page)
    assert list(table["fits"]) == ["no", "yes", "yes"]  # 285 kB of flash: over 256 kB
    assert set(table["RAM needed"]) == {format_bytes(1156)}  # two 1,024-bit buffers and the pixels' bit-planes
    assert any("bytes of const data" in c.value and "RAM: 1,156 bytes" in c.value for c in page.caption)


def test_sizes_are_exact_for_the_active_and_the_paper_model(page):
    table = page.dataframe[0].value
    paper = model_summary(PRESETS["paper"].model)
    mine = model_summary(state.active_model().model())
    assert list(table["float32"]) == [format_bytes(mine.float32_bytes), format_bytes(paper.float32_bytes)]
    assert list(table["1 bit"]) == [format_bytes(mine.packed_bytes), format_bytes(paper.packed_bytes)]
    assert list(table["model"]) == ["pretrained fast", "paper: 784-4096×3-10"]  # the run picker's choice
    assert table["ratio"].iloc[1] == f"{paper.compression_ratio:.1f}×" == "31.0×"
    assert paper.float32_bytes == 147_374_200 and paper.packed_bytes == 4_748_408


def test_packed_engine_agrees_with_the_float_model(page):
    metrics = {m.label: m.value for m in page.metric}
    assert metrics["Agreement"] == "100.00%"
    assert metrics["Disagreements"] == "0"
    assert float(metrics["speed-up, all images"].removesuffix("×")) > 0  # measured, float s / packed s
    assert any(f"all {SUBSET:,} test images" in c.value for c in page.caption)


def test_latency_on_one_image(page):
    metrics = {m.label: m.value for m in page.metric}
    float_ms, packed_ms = (
        float(metrics[label].removesuffix(" ms")) for label in ("float32 PyTorch, 1 image", "packed XNOR, 1 image")
    )
    assert float_ms > 0 and packed_ms > 0
    assert float(metrics["speed-up, 1 image"].removesuffix("×")) == pytest.approx(
        float_ms / packed_ms, rel=0.05, abs=0.06
    )
    assert any("Both engines predict" in s.value for s in page.success)


def test_walkthrough_dot_equals_the_plain_dot_product(page):
    a, b = [1, -1, -1, -1, 1, 1, -1, 1, 1], [1, -1, 1, -1, 1, -1, -1, 1, 1]
    page.text_input(key="eff_a").set_value(" ".join(f"{v:+d}" for v in a))
    page.text_input(key="eff_b").set_value(", ".join(str(v) for v in b))
    run(page)
    sentence = walkthrough_sentence(page)
    xnor, plain = (int(v) for v in re.findall(r"\*\*(-?\d+)\*\*", sentence))
    assert xnor == plain == sum(x * y for x, y in zip(a, b)) == 5
    assert "K = 9, popcount = 2" in sentence and "(equal)" in sentence


@pytest.mark.parametrize(
    "a, b, message",
    [
        ("+1 2 -1", "+1 -1 -1", "'2' is not +1 or −1"),
        ("+1 -1", "+1 -1 +1", "same length"),
        ("", "+1", "a is empty"),
        (" ".join(["+1"] * 17), "+1", "at most 16"),
    ],
)
def test_bad_toy_input_gets_a_message(page, a, b, message):
    page.text_input(key="eff_a").set_value(a)
    page.text_input(key="eff_b").set_value(b)
    run(page)
    assert any(message in e.value for e in page.error), [e.value for e in page.error]
    assert not any(m.value.startswith("K = ") for m in page.markdown)


def test_another_test_image_and_the_drawing(page):
    page.button(key="eff_another").click()
    run(page)
    assert page.session_state[keys.EFFICIENCY_SOURCE] == "Test image"
    assert any("Both engines predict" in s.value for s in page.success)
    page.session_state[keys.LAST_DRAWING] = torch.zeros(28, 28).index_fill_(1, torch.arange(12, 16), 1.0)
    run(page)
    assert page.radio(key=keys.EFFICIENCY_SOURCE).options == ["Your drawing", "Test image"]
    page.radio(key=keys.EFFICIENCY_SOURCE).set_value("Your drawing")
    run(page)
    assert any("Your drawing" in str(chart.proto.spec) for chart in page.get("plotly_chart"))


def test_a_cnn_is_packed_and_agrees(monkeypatch):
    config = ModelConfig(
        layers=(
            LayerConfig(8, kind="conv", pool=True),
            LayerConfig(16, kind="conv", pool=True),
            LayerConfig(10, binarize_activations=False),
        )
    )
    torch.manual_seed(0)
    cnn = build_model(config).eval()
    active = Run("tiny cnn", RunConfig(config), Status.FINISHED, weights=lambda: cnn)
    monkeypatch.setattr(state.app_state(), "active", active)  # activated: the run picker's default
    at = app_page("efficiency", 120)
    at.session_state["eff_test_images"] = SUBSET
    run(at)
    assert not at.info and not at.error and not at.warning
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Agreement"] == "100.00%" and metrics["Disagreements"] == "0"
    assert float(metrics["speed-up, 1 image"].removesuffix("×")) > 0
    layers = at.dataframe[1].value  # how the packed engine runs each layer
    assert list(device_table(at)["fits"]) == ["yes", "yes", "yes"]  # the CNN's C file
    assert list(layers["computed as"]) == [
        "8-bit pixels, integer convolution",
        "XNOR + popcount convolution",
        "XNOR + popcount (dense)",
    ]
    assert list(layers["output"]) == ["8×14×14", "16×7×7", "10"]
    assert any("zero padding" in c.value for c in at.caption)


def test_before_the_kernels_are_ready_the_page_runs_the_numpy_engine(monkeypatch):
    """On a machine's first start the kernels compile in the server's warm-up (~40 s): the page does not
    wait for them, it shows the packed numbers from the numpy reference engine and says so."""
    monkeypatch.setattr(kernels, "is_warm", lambda: False)
    at = app_page("efficiency", 120)
    at.session_state["eff_test_images"] = SUBSET
    run(at)
    assert any("still being prepared" in i.value for i in at.info)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Agreement"] == "100.00%"
    assert any("numpy reference engine" in c.value for c in at.caption)
