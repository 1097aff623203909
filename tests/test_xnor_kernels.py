"""The fused compiled kernels (bnn.xnor.kernels) against the numpy reference engine, bit for bit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from test_xnor import grid_images, randomize

from bnn.config import InputConfig, LayerConfig, ModelConfig
from bnn.models import build_model
from bnn.xnor import GRID_TOL, export_packed, kernels, pack_bits, reference, unpack_bits

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["serial", "parallel"])
def threads(request, monkeypatch) -> int:
    """1 thread, or 2 threads with every kernel launched in parallel however small the work."""
    if request.param == "serial":
        return 1
    monkeypatch.setattr(kernels, "PARALLEL_MIN_WORDS", 0)
    return 2


def assert_same_outputs(model, x, threads: int) -> None:
    """Every layer's output and the scores of the fused engine equal the numpy engine's exactly."""
    fused = export_packed(model, threads=threads)
    numpy_engine = fused.with_engine("numpy")
    assert fused.engine == "fused" and numpy_engine.engine == "numpy"
    for got, expect in zip(fused.layer_outputs(x), numpy_engine.layer_outputs(x), strict=True):
        assert got.dtype == expect.dtype
        np.testing.assert_array_equal(got, expect)
    np.testing.assert_array_equal(fused.scores(x), numpy_engine.scores(x))


@pytest.mark.parametrize("k", [1, 63, 64, 65, 130, 4096])
@pytest.mark.parametrize("units", [1, 10, 64, 65, 200])
@pytest.mark.parametrize("n", [1, 3, 4, 9])
def test_xnor_bits_and_counts_match_numpy_with_ties(k, units, n, threads):
    rng = np.random.default_rng(k * 1000 + units * 10 + n)
    a = pack_bits(rng.random((n, k)) < 0.5)
    w = pack_bits(rng.random((units, k)) < 0.5)
    counts = reference.xor_popcount(a, np.ascontiguousarray(w.T)).astype(np.int64)
    np.testing.assert_array_equal(kernels.xnor_counts(a, w, threads), counts)
    # thresholds equal to some image's exact popcount (ties: p <= t is +1), and out of range
    threshold = counts[rng.integers(0, n, units), np.arange(units)].astype(np.int32)
    threshold[3::7] = -1  # never
    threshold[5::7] = k  # always
    words = kernels.xnor_bits(a, w, threshold, units, threads)
    assert words.shape == (n, (units + 63) // 64)
    np.testing.assert_array_equal(unpack_bits(words, units), counts <= threshold)
    assert (counts == threshold).any(), "the test must contain exact ties"
    padding = unpack_bits(words, words.shape[1] * 64)[:, units:]
    assert not padding.any(), "padding bits of the next layer's words must be 0"


@pytest.mark.parametrize("n", [1, 2, 5])
def test_pixel_planes_and_plane_kernels_match_numpy(n, threads):
    x = grid_images(n, seed=n).reshape(n, -1).numpy()
    x[0, 5] = 1.0  # a full-scale pixel
    perm = np.random.default_rng(n).permutation(784).astype(np.int64)
    planes, pixel_sum, word_range, on_grid = kernels.pixel_planes(x, perm, GRID_TOL, threads)
    levels = np.rint(x * np.float32(255)).astype(np.uint8)[:, perm]
    expect = reference.bit_planes(levels)  # (N, 8, words)
    np.testing.assert_array_equal(planes, expect.transpose(0, 2, 1))
    np.testing.assert_array_equal(pixel_sum, levels.sum(axis=1, dtype=np.int64))
    assert on_grid.all()
    for i in range(n):
        nonzero = np.flatnonzero(expect[i].any(axis=0))
        assert (word_range[i, 0], word_range[i, 1]) == (nonzero[0], nonzero[-1] + 1)
    units = 130
    pt = np.ascontiguousarray(pack_bits(np.random.default_rng(0).random((units, 784)) < 0.5).T)
    g = kernels.plane_sums(planes, word_range, pt, threads)
    g_expect = reference.plane_popcount(expect, pt).astype(np.int64)
    np.testing.assert_array_equal(g, g_expect)
    c = g_expect[0] * 4 - 2 * pixel_sum[0]  # image 0 sits exactly on every threshold
    words = kernels.plane_bits(planes, word_range, pixel_sum, pt, c, 4, -2, threads)
    np.testing.assert_array_equal(unpack_bits(words, units), 4 * g_expect - 2 * pixel_sum[:, None] >= c)
    assert unpack_bits(words, units)[0].all()


def test_pixel_planes_flag_images_off_the_8_bit_grid():
    x = grid_images(4, seed=3).reshape(4, -1).numpy()
    x[1, 10] += 1e-3
    x[2, 20] = np.nan
    x[3, 30] = 1.5
    on_grid = kernels.pixel_planes(x, np.arange(784, dtype=np.int64), GRID_TOL, 1)[3]
    np.testing.assert_array_equal(on_grid, [True, False, False, False])


@pytest.mark.parametrize("scale", ["pm1", "01"])
def test_random_networks_fused_equals_numpy(scale, threads):
    cfg = ModelConfig(
        input=InputConfig(scale=scale),
        layers=(LayerConfig(200), LayerConfig(70), LayerConfig(130), LayerConfig(10, binarize_activations=False)),
    )
    model = build_model(cfg)
    randomize(model, seed=21)
    x = grid_images(37, seed=22)
    x[5] += 1e-3  # one image off the 8-bit grid: its first layer runs in float32
    assert_same_outputs(model, x, threads)
    assert_same_outputs(model, x[:1], threads)


def test_binarized_input_and_output_and_float_layers_fused_equals_numpy(threads):
    binarized = build_model(
        ModelConfig(input=InputConfig(binarize=True), layers=(LayerConfig(96), LayerConfig(33), LayerConfig(10)))
    )
    randomize(binarized, seed=23)
    assert_same_outputs(binarized, grid_images(21, seed=24), threads)
    mixed = build_model(
        ModelConfig(
            layers=(
                LayerConfig(64, binarize_activations=False),
                LayerConfig(48, binarize_weights=False),
                LayerConfig(32),
                LayerConfig(10, binarize_activations=False),
            ),
            real_activation="hardtanh",
        )
    )
    randomize(mixed, seed=25)
    assert [layer.kind for layer in export_packed(mixed).layers] == ["bitplane", "float", "xnor", "xnor"]
    assert_same_outputs(mixed, grid_images(13, seed=26), threads)
    float_first = build_model(ModelConfig(layers=(LayerConfig(40, binarize_activations=False), LayerConfig(10))))
    randomize(float_first, seed=27)
    assert [(layer.kind, layer.output) for layer in export_packed(float_first).layers][0] == ("bitplane", "float")
    assert_same_outputs(float_first, grid_images(9, seed=28), threads)


def test_exact_ties_in_a_hidden_layer_fused_equals_float_model(threads):
    cfg = ModelConfig(
        input=InputConfig(binarize=True),
        layers=(LayerConfig(96), LayerConfig(33), LayerConfig(10, binarize_activations=False)),
    )
    model = build_model(cfg)
    randomize(model, seed=2)
    with torch.no_grad():  # pre-activation exactly 0 for some images: sign(0) = +1
        model.blocks[1].linear.bias.zero_()
        model.blocks[1].norm.running_mean.copy_(2 * torch.randint(-4, 5, (33,)).float())
        model.blocks[1].norm.bias.zero_()
    x = grid_images(300, seed=4)
    trace = model.trace(x)
    assert (trace[1].pre == 0).any(), "the test must contain exact ties"
    fused = export_packed(model, threads=threads)
    outs = fused.layer_outputs(x)
    np.testing.assert_array_equal(outs[1], trace[1].post.numpy())
    assert_same_outputs(model, x, threads)


def test_trained_model_fused_equals_numpy_and_float(mnist):
    from bnn.runs import load_run

    model = load_run(ROOT / "assets" / "pretrained-fast").model.eval()
    x = mnist.test_images[:1500]
    assert_same_outputs(model, x, 1)
    packed = export_packed(model, threads=1)
    with torch.no_grad():
        ref = torch.cat([model(x[i : i + 500]) for i in range(0, len(x), 500)])
        np.testing.assert_array_equal(packed.predict(x), ref.argmax(1).numpy())
        for i in range(0, 1500, 299):  # batch 1: the float model's very numbers
            np.testing.assert_array_equal(packed.scores(x[i : i + 1]), model(x[i : i + 1]).numpy())


def test_building_a_packed_model_compiles_the_kernels():
    model = build_model(ModelConfig(layers=(LayerConfig(16), LayerConfig(10, binarize_activations=False))))
    kernels._warm = False
    export_packed(model)
    for table in (kernels._SERIAL, kernels._PARALLEL):
        assert all(dispatcher.signatures for dispatcher in table.values())


def test_works_without_a_writable_cache_directory(tmp_path):
    """No cache locator at all (read-only install, no writable home): compiled in memory, same bits."""
    script = textwrap.dedent(
        """
        import numba.core.caching as caching
        caching.CacheImpl._locator_classes = []  # as when no directory is writable
        import numpy as np
        from bnn.xnor import export_packed, kernels
        from bnn.config import ModelConfig, LayerConfig
        from bnn.models import build_model
        assert not kernels._SERIAL["_xnor_bits"]._cache.__class__.__name__ == "FunctionCache"
        model = build_model(ModelConfig(layers=(LayerConfig(64), LayerConfig(10, binarize_activations=False))))
        packed = export_packed(model, threads=1)
        x = np.zeros((3, 784), dtype=np.float32)
        assert (packed.scores(x) == packed.with_engine("numpy").scores(x)).all()
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
