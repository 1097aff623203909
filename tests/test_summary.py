"""bnn.network.summary: parameter counts, memory, MACs and their formatting."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

try:
    import bnn  # noqa: F401
except ImportError:  # pytest run without the repo root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytest
import torch

from bnn.config.model_settings import InputConfig, LayerConfig, ModelConfig
from bnn.config.presets import PRESETS
from bnn.network.models import build_model
from bnn.network.summary import (
    EVAL_BATCH_MAX,
    EVAL_TENSOR_BYTES,
    evaluation_batch_size,
    format_bytes,
    model_summary,
    summary_rows,
)

SMALL_MLP = ModelConfig(layers=(LayerConfig(16), LayerConfig(10, binarize_activations=False)))
CNN = ModelConfig(
    layers=(
        LayerConfig(32, kind="conv", pool=True),
        LayerConfig(64, kind="conv", pool=True),
        LayerConfig(128),
        LayerConfig(10, binarize_activations=False),
    )
)
PAPER_MLP = ModelConfig(
    layers=(LayerConfig(4096), LayerConfig(4096), LayerConfig(4096), LayerConfig(10, binarize_activations=False))
)


def test_small_mlp_exact_numbers():
    s = model_summary(build_model(SMALL_MLP))
    dense1, output = s.layers
    assert (dense1.name, dense1.kind, dense1.output_shape) == ("dense1", "dense", (16,))
    assert (output.name, output.output_shape) == ("output", (10,))
    assert dense1.n_params_1bit == 784 * 16
    assert dense1.n_params_32bit == 16 + 2 * 16  # bias + BN gamma, beta
    assert dense1.n_buffers == 2 * 16  # running mean, var
    assert output.n_params_1bit == 16 * 10
    assert output.n_params_32bit == 10 + 2 * 10
    assert s.total_params_1bit == 784 * 16 + 16 * 10 == 12_704
    assert s.total_params_32bit == 78
    assert s.total_buffers == 52
    assert s.packed_bytes == 12_704 / 8 + 78 * 4 == 1_900
    assert s.float32_bytes == (12_704 + 78) * 4 == 51_128
    assert s.packed_bytes == pytest.approx(1_900)
    assert s.float32_bytes == 51_128
    assert dense1.packed_bytes == pytest.approx(12_544 / 8 + 48 * 4)
    assert dense1.float32_bytes == (12_544 + 48) * 4
    assert s.compression_ratio == pytest.approx(51_128 / 1_900)
    # MACs: the first layer sees real pixels, the output layer sees ±1
    assert (dense1.macs, dense1.binary_macs) == (784 * 16, 0)
    assert (output.macs, output.binary_macs) == (160, 160)
    assert dense1.binarized_macs_share == 0.0 and output.binarized_macs_share == 1.0
    assert s.total_macs == 12_704
    assert s.binarized_macs_share == pytest.approx(160 / 12_704)


def test_counts_match_model_parameters_and_buffers():
    for config in (SMALL_MLP, CNN, ModelConfig()):
        model = build_model(config)
        s = model_summary(model)
        assert s.total_params == sum(p.numel() for p in model.parameters())
        running = sum(b.numel() for name, b in model.named_buffers() if "running" in name)
        assert s.total_buffers == running


def test_config_summary_equals_model_summary():
    for config in (SMALL_MLP, CNN):
        assert model_summary(config) == model_summary(build_model(config))


def test_a_built_model_is_summarized_with_the_switches_it_uses_now():
    model = build_model(SMALL_MLP)
    model.blocks[0].linear.binarize_weights = False  # as a live edit while training does
    model.blocks[0].activation.binarized = False
    dense1, output = model_summary(model).layers
    assert (dense1.n_params_1bit, dense1.binary_weights, dense1.binary_activations) == (0, False, False)
    assert not output.binary_input and output.binary_macs == 0
    assert model_summary(SMALL_MLP).layers[0].binary_weights  # the config itself is unchanged


def test_cnn_shapes_and_macs():
    model = build_model(CNN)
    s = model_summary(model)
    shapes = [layer.output_shape for layer in s.layers]
    assert shapes == [(32, 14, 14), (64, 7, 7), (128,), (10,)]
    traced = [tuple(t.post.shape[1:]) for t in model.trace(torch.rand(2, 1, 28, 28))]
    assert traced == shapes
    macs = [layer.macs for layer in s.layers]
    assert macs == [28 * 28 * 32 * 1 * 9, 14 * 14 * 64 * 32 * 9, 64 * 7 * 7 * 128, 128 * 10]
    assert [layer.binary_macs for layer in s.layers] == [0] + macs[1:]
    assert s.layers[0].kind == "conv" and s.layers[0].kernel_size == 3 and s.layers[0].pool
    assert s.layers[0].n_params_1bit == 32 * 9
    assert s.layers[0].n_params_32bit == 32 * 3  # bias + gamma + beta
    assert s.layers[1].n_params_1bit == 64 * 32 * 9
    assert s.layers[2].n_params_1bit == 64 * 7 * 7 * 128


def test_binary_macs_follow_input_and_activation_flags():
    config = ModelConfig(
        input=InputConfig(binarize=True),
        layers=(
            LayerConfig(8, binarize_activations=False),  # real output: next input is real
            LayerConfig(8, binarize_weights=False),  # real weights: not binary (output ±1)
            LayerConfig(8, binarize_activations=False),  # ±1 in, ±1 weights: binary (output real)
            LayerConfig(10, binarize_activations=False),
        ),
    )
    s = model_summary(config)
    assert [layer.binary_input for layer in s.layers] == [True, False, True, False]
    assert [layer.binary_macs > 0 for layer in s.layers] == [True, False, True, False]
    assert s.layers[1].n_params_1bit == 0
    assert s.layers[1].n_params_32bit == 8 * 8 + 8 + 16


def test_all_binary_without_bias_or_bn_compresses_32x():
    config = ModelConfig(
        bias=False,
        layers=(LayerConfig(16, batch_norm=False), LayerConfig(10, batch_norm=False, binarize_activations=False)),
    )
    s = model_summary(config)
    assert s.total_params_32bit == 0 and s.total_buffers == 0
    assert s.compression_ratio == pytest.approx(32.0)
    real = model_summary(ModelConfig(layers=(LayerConfig(10, binarize_weights=False),)))
    assert real.compression_ratio == pytest.approx(1.0)
    assert real.total_binary_macs == 0


def test_paper_mlp_sizes():
    s = model_summary(PAPER_MLP)  # planned, never built: no memory
    n_weights = 784 * 4096 + 4096 * 4096 * 2 + 4096 * 10
    assert s.total_params_1bit == n_weights
    assert s.weight_bytes_float32 == n_weights * 4
    assert 147.0e6 < s.weight_bytes_float32 < 147.5e6  # ≈ 147 MB
    assert s.weight_bytes_packed == n_weights / 8
    assert 4.55e6 < s.weight_bytes_packed < 4.65e6  # ≈ 4.6 MB
    # biases and BatchNorm (3 values per unit) stay 32-bit
    assert s.total_params_32bit == 3 * (3 * 4096 + 10)
    assert s.packed_bytes == pytest.approx(n_weights / 8 + 3 * (3 * 4096 + 10) * 4)
    assert 30 < s.compression_ratio < 32
    assert format_bytes(s.weight_bytes_float32) == "147 MB"
    assert format_bytes(s.weight_bytes_packed) == "4.6 MB"


def test_summary_rows():
    s = model_summary(CNN)
    assert s.total_params_1bit == 421_408
    assert s.layers[1].output_shape == (64, 7, 7)
    rows = summary_rows(s)
    assert len(rows) == len(s.layers) + 1
    assert rows[-1]["layer"] == "total"
    assert rows[0]["output shape"] == "32×14×14"
    assert rows[0]["1-bit params"] == 288
    assert (rows[0]["input bits"], rows[1]["input bits"], rows[-1]["input bits"]) == ("32", "1", "")  # no "None"
    assert {tuple(row) for row in rows} == {tuple(rows[0])}  # same columns everywhere
    assert len(summary_rows(s, include_total=False)) == len(s.layers)


def test_format_bytes():
    assert format_bytes(512) == "512 B"
    assert format_bytes(1_900) == "1.9 kB"
    assert format_bytes(147_226_624) == "147 MB"


def test_evaluation_batches_keep_the_widest_activation_small():
    assert evaluation_batch_size(PRESETS["fast"].model) == EVAL_BATCH_MAX  # 1024 units: 4 KB an image
    best = PRESETS["best"].model  # the first conv: 32 x 28 x 28 floats, 100 KB an image
    assert evaluation_batch_size(best) == EVAL_TENSOR_BYTES // (4 * 32 * 28 * 28) < 100
    wide = replace(best, layers=(replace(best.layers[0], units=4096), *best.layers[1:]))  # 12.8 MB an image
    assert evaluation_batch_size(wide) == 1  # still one at a time
