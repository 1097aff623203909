"""The ONNX export (bnn.deploy.onnx_graph) in onnxruntime: standard ops, onnx.checker, the packed engine's
predictions and scores on MNIST's 10,000 test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_deploy_c_source import MODELS
from test_xnor import grid_images, randomize

from bnn.config.model_settings import LayerConfig, ModelConfig
from bnn.config.presets import PRESETS
from bnn.deploy.onnx_graph import OPSET, onnx_bytes
from bnn.jobs.run_folders import load_run
from bnn.network.models import build_model
from bnn.xnor import XnorExportError, export_packed

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
ROOT = Path(__file__).resolve().parent.parent
STANDARD_OPS = {
    "Cast",
    "Conv",
    "MaxPool",
    "Transpose",
    "MatMul",
    "Reshape",
    "GreaterOrEqual",
    "Where",
    "Mul",
    "Add",
    "Sub",
    "Round",
    "GatherElements",
    "Identity",
    "ArgMax",
}


def run_onnx(data: bytes, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    scores, labels = session.run(["scores", "label"], {"pixels": x.numpy()})
    return scores, labels


def assert_onnx_matches(packed, x: torch.Tensor) -> bytes:
    data = onnx_bytes(packed, "model")
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    assert {node.op_type for node in model.graph.node} <= STANDARD_OPS
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    scores, labels = run_onnx(data, x)
    expect = packed.scores(x.reshape(len(x), -1).numpy())
    np.testing.assert_array_equal(labels, expect.argmax(1))  # 100.00% the same predictions
    np.testing.assert_allclose(scores, expect, rtol=0, atol=1e-6)  # the saved table's very floats
    return data


@pytest.mark.parametrize("config", MODELS.values(), ids=MODELS.keys())
def test_random_models_match_the_packed_engine(config):
    model = build_model(config)
    randomize(model, seed=3)
    assert_onnx_matches(export_packed(model), grid_images(64, seed=4))


def test_best_preset_cnn():
    torch.manual_seed(0)
    packed = export_packed(build_model(PRESETS["best"].model).eval())
    assert_onnx_matches(packed, grid_images(64, seed=5))


def test_real_valued_layers_are_refused_by_name():
    config = ModelConfig(layers=(LayerConfig(32, binarize_weights=False), LayerConfig(10, binarize_activations=False)))
    with pytest.raises(XnorExportError, match=r"layer .* \(float\) cannot be exported to ONNX"):
        onnx_bytes(export_packed(build_model(config)))


def test_fast_agrees_on_all_mnist_test_images_and_a_changed_bit_shows(mnist):
    model = load_run(ROOT / "assets" / "pretrained-fast").model().eval()
    packed = export_packed(model)
    x = mnist.test_images
    data = assert_onnx_matches(packed, x)
    with torch.no_grad():
        float_labels = torch.cat([model(x[i : i + 1000]) for i in range(0, len(x), 1000)]).argmax(1).numpy()
    np.testing.assert_array_equal(run_onnx(data, x)[1], float_labels)
    assert len(data) < 2.5e6  # int8 signs: a quarter of float32, 8x the packed bits
    for layer_index, key in ((2, "weight_bits"), (1, "threshold")):
        original = packed.layers[layer_index].arrays[key].copy()
        changed = packed.layers[layer_index].arrays[key]
        if key == "weight_bits":
            changed.flat[0] ^= 1
        else:
            changed[0] = -1 if original[0] >= 512 else 1024
        try:
            scores, _ = run_onnx(onnx_bytes(packed), x[:1000])
        finally:
            packed.layers[layer_index].arrays[key] = original
        assert not np.array_equal(scores, packed.scores(x[:1000].reshape(1000, -1).numpy())), key
