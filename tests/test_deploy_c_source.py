"""The C export (bnn.deploy.c_source): compiled with gcc (and clang when present) under -Werror, run on
MNIST's 10,000 test images, predictions and scores identical to bnn.xnor and the float model."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from test_xnor import grid_images, randomize
from test_xnor_cnn import cnn, conv

from bnn.config.model_settings import InputConfig, LayerConfig, ModelConfig
from bnn.config.presets import PRESETS
from bnn.deploy.c_device import CORTEX_M4, code_bytes, device_rows, object_sections
from bnn.deploy.c_functions import BATCH_MAIN
from bnn.deploy.c_source import c_source
from bnn.jobs.run_folders import load_run
from bnn.network.models import build_model
from bnn.xnor import XnorExportError, export_packed

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]
COMPILERS = [cc for cc in ("gcc", "clang") if shutil.which(cc)]
pytestmark = pytest.mark.skipif(not COMPILERS, reason="no C compiler (.ci/run installs gcc)")


def build(packed, folder: Path, cc: str = COMPILERS[0] if COMPILERS else "gcc") -> Path:
    source = c_source(packed, "bnn_model")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bnn_model.c").write_text(source.source)
    (folder / "bnn_model.h").write_text(source.header)
    (folder / "harness.c").write_text(BATCH_MAIN)
    binary = folder / f"harness-{cc}"
    done = subprocess.run(
        [cc, *FLAGS, "-o", str(binary), str(folder / "harness.c"), str(folder / "bnn_model.c")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[:4000]
    return binary


def run_c(binary: Path, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(classes, integer scores, float scores) of the compiled model for uint8 images (N, 784)."""
    out = subprocess.run([str(binary)], input=levels.tobytes(), capture_output=True, check=True).stdout
    classes = 10
    rec = np.frombuffer(out, dtype=np.int32).reshape(len(levels), 1 + 2 * classes)
    return rec[:, 0], rec[:, 1 : 1 + classes], rec[:, 1 + classes :].view(np.float32)


def levels_of(x: torch.Tensor) -> np.ndarray:
    return (x * 255).round().to(torch.uint8).numpy().reshape(len(x), -1)


def assert_c_matches(packed, x: torch.Tensor, binary: Path) -> np.ndarray:
    """The C model's classes and float scores equal the packed engine's, bit for bit; its integer scores
    are the output layer's dot products (their float scores are the table's)."""
    classes, dots, scores = run_c(binary, levels_of(x))
    expect = packed.scores(x.reshape(len(x), -1).numpy())
    np.testing.assert_array_equal(scores, expect)
    np.testing.assert_array_equal(classes, expect.argmax(1))
    output = packed.layers[-1]
    if output.output == "float":
        table = output.output_table()
        popcounts = (output.in_features - dots) // 2
        np.testing.assert_array_equal(table[popcounts, np.arange(output.out_features)], scores)
    return classes


MODELS = {  # every layer kind of the C file and the ONNX graph
    "mlp": ModelConfig(layers=(LayerConfig(100), LayerConfig(70), LayerConfig(10, binarize_activations=False))),
    "01-binarized-output": ModelConfig(layers=(LayerConfig(64), LayerConfig(10)), input=InputConfig(scale="01")),
    "binarized-input": ModelConfig(
        layers=(LayerConfig(33), LayerConfig(10, binarize_activations=False)), input=InputConfig(binarize=True)
    ),
    "cnn-70ch": cnn(conv(8), conv(70), LayerConfig(40)),  # 70 channels: 3 uint32 words; dense after a conv
    "cnn-5x5-odd-pool": cnn(conv(6, pool=False, kernel_size=5), conv(16), conv(12), input=InputConfig(scale="01")),
    "cnn-binarized-input": cnn(conv(16, kernel_size=1), conv(33, pool=False), input=InputConfig(binarize=True)),
}


@pytest.mark.parametrize("config", MODELS.values(), ids=MODELS.keys())
def test_random_models_match_the_packed_engine(config, tmp_path):
    """Every layer kind the C file computes, against bnn.xnor on random 8-bit images, with negative and zero
    BatchNorm gammas, biases and padding bits."""
    model = build_model(config)
    randomize(model, seed=3)
    packed = export_packed(model)
    x = grid_images(64, seed=4)
    for cc in COMPILERS:
        assert_c_matches(packed, x, build(packed, tmp_path, cc))


def test_real_valued_layers_are_refused_by_name():
    config = ModelConfig(layers=(LayerConfig(32, binarize_weights=False), LayerConfig(10, binarize_activations=False)))
    with pytest.raises(XnorExportError, match=r"layer .* \(float\) cannot be exported to C: its weights or its inputs"):
        c_source(export_packed(build_model(config)))


def test_the_source_is_self_contained_and_sized():
    packed = export_packed(load_run(ROOT / "assets" / "pretrained-fast").model().eval())
    source = c_source(packed, "fast model")
    assert source.name == "fast_model" and '#include "fast_model.h"' in source.source
    includes = {line for line in (source.source + source.header).splitlines() if line.startswith("#include")}
    assert includes == {'#include "fast_model.h"', "#include <stdint.h>"}
    assert "static const uint32_t" in source.source and "malloc" not in source.source
    weights = sum(layer.arrays["weight_bits"].nbytes for layer in packed.layers)
    table = packed.layers[-1].arrays["table"].nbytes
    thresholds = sum(layer.arrays["threshold"].nbytes for layer in packed.layers[:-1])
    assert source.const_bytes == weights - 1024 * 8 * 13 + 1024 * 25 * 4 + table + thresholds  # 784 bits: 25 words
    assert source.ram_bytes == 4 * (2 * 32 + 9 * 25)  # two 1,024-bit buffers, 8 bit-planes + a mask of 784 bits
    rows = device_rows(source, 2000)
    assert [row["fits"] for row in rows] == [False, True, True]  # 286 kB of flash: over 256 kB
    measured = code_bytes(source)
    if measured is not None:
        assert 200 < measured[0] < 20_000
    sections = object_sections(source, "clang", CORTEX_M4)  # a Cortex-M4 object holds exactly these bytes
    if sections is not None:
        assert sections[".rodata"] == source.const_bytes and sections[".bss"] == source.ram_bytes
    sections = object_sections(source, "gcc")  # x86-64 aligns large arrays to 32 bytes
    if sections is not None:
        assert 0 <= sections[".rodata"] - source.const_bytes < 32 * 8 and 0 <= sections[".bss"] - source.ram_bytes < 64


@pytest.fixture(scope="module")
def fast():
    model = load_run(ROOT / "assets" / "pretrained-fast").model().eval()
    return model, export_packed(model)


def float_predictions(model, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([model(x[i : i + 1000]) for i in range(0, len(x), 1000)]).argmax(1).numpy()


@pytest.mark.slow  # ~10 s per compiler: 10,000 images through the C model
def test_fast_in_c_agrees_on_all_mnist_test_images(fast, mnist, tmp_path):
    model, packed = fast
    x = mnist.test_images
    for cc in COMPILERS:
        classes = assert_c_matches(packed, x, build(packed, tmp_path / cc, cc))
        np.testing.assert_array_equal(classes, float_predictions(model, x))  # 100.00%, the float model's too
    assert (classes == mnist.test_labels.numpy()).mean() > 0.95


@pytest.mark.slow
def test_a_changed_bit_or_threshold_is_caught(fast, mnist, tmp_path):
    """The comparison above is sharp: a C file made from a packed model with one weight bit or one threshold
    changed gives other scores than bnn.xnor's."""
    _, packed = fast
    x = mnist.test_images[:1000]
    expect = packed.scores(x.reshape(len(x), -1).numpy())
    for layer_index, key in ((2, "weight_bits"), (1, "threshold")):
        original = packed.layers[layer_index].arrays[key].copy()
        changed = packed.layers[layer_index].arrays[key]
        if key == "weight_bits":
            changed.flat[0] ^= 1  # the output layer: unit 0's weight of input 0
        else:  # the second hidden layer: unit 0 never (or always) +1
            changed[0] = -1 if original[0] >= 512 else 1024
        try:
            _, _, scores = run_c(build(packed, tmp_path / key), levels_of(x))
        finally:
            packed.layers[layer_index].arrays[key] = original
        assert not np.array_equal(scores, expect), key


def _briefly_trained_best(mnist, steps: int = 60):
    from bnn.training.data import iterate_batches
    from bnn.training.evaluation import recalibrate_batch_norm
    from bnn.training.loop import Trainer

    config = PRESETS["best"]
    batch = config.train.batch_size
    trainer = Trainer(config.replace_train(epochs=1, train_subset=steps * batch), mnist, device="cpu")
    for indices in iterate_batches(len(trainer.data.train_labels), batch, trainer.generator):
        trainer.train_step(trainer.data.train_images[indices], trainer.data.train_labels[indices])
    recalibrate_batch_norm(trainer.model, trainer.data.train_images[:5000], trainer.config.train.batch_size)
    return trainer.model.eval()


@pytest.mark.slow  # trains the best preset's CNN for a minute, then 10,000 images through its C file
def test_best_cnn_in_c_agrees_on_all_mnist_test_images(mnist, tmp_path):
    model = _briefly_trained_best(mnist)
    packed = export_packed(model)
    assert [layer.kind for layer in packed.layers] == ["pixelconv", "conv", "xnor", "xnor"]
    x = mnist.test_images
    classes = assert_c_matches(packed, x, build(packed, tmp_path))
    np.testing.assert_array_equal(classes, float_predictions(model, x))
    assert (classes == mnist.test_labels.numpy()).mean() > 0.5  # it learned something in a minute


@pytest.mark.slow
def test_example_main_classifies_a_pgm_digit(fast, mnist, tmp_path):
    _, packed = fast
    source = c_source(packed, "bnn_model")
    (tmp_path / "bnn_model.c").write_text(source.source)
    (tmp_path / "bnn_model.h").write_text(source.header)
    binary = tmp_path / "classify"
    cc = COMPILERS[0]
    done = subprocess.run(
        [
            cc,
            *FLAGS,
            "-I",
            str(tmp_path),
            "-o",
            str(binary),
            str(ROOT / "examples" / "main.c"),
            str(tmp_path / "bnn_model.c"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    for index in (0, 1, 2):
        pixels = levels_of(mnist.test_images[index : index + 1])[0]
        (tmp_path / "digit.pgm").write_bytes(b"P5\n28 28\n255\n" + pixels.tobytes())
        (tmp_path / "scan.pgm").write_bytes(b"P5 28 28 255\n" + (255 - pixels).tobytes())
        expect = f"{int(packed.predict(pixels[None] / 255.0)[0])}\n"
        assert (
            subprocess.run([str(binary), str(tmp_path / "digit.pgm")], capture_output=True, text=True).stdout == expect
        )
        assert (
            subprocess.run([str(binary), "-i", str(tmp_path / "scan.pgm")], capture_output=True, text=True).stdout
            == expect
        )
    refused = subprocess.run([str(binary), str(tmp_path / "bnn_model.h")], capture_output=True, text=True)
    assert refused.returncode == 2 and "usage" in refused.stderr
