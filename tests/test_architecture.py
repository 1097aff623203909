"""bnn.config.architecture: the plan's names, shapes, counts and MACs are the built model's."""

from __future__ import annotations

import pytest
import torch

from bnn.config.architecture import layer_names, plan
from bnn.config.model_settings import InputConfig, LayerConfig, ModelConfig
from bnn.config.presets import PRESETS
from bnn.network.models import build_model

CNN = ModelConfig(
    layers=(
        LayerConfig(4, kind="conv", kernel_size=5, pool=True),
        LayerConfig(6, kind="conv", batch_norm=False),
        LayerConfig(24, binarize_activations=False),
        LayerConfig(10, binarize_activations=False),
    ),
    bias=False,
)


@pytest.mark.parametrize("config", [p.model for p in PRESETS.values()] + [CNN], ids=[*PRESETS, "cnn-k5"])
def test_plan_is_the_built_models_shapes_and_counts(config):
    torch.manual_seed(0)
    model = build_model(config)
    layers = plan(config)
    assert [layer.name for layer in layers] == [block.name for block in model.blocks]
    traces = model.trace(torch.rand(2, 1, 28, 28))
    for layer, block, trace in zip(layers, model.blocks, traces, strict=True):
        assert tuple(trace.inputs.shape[1:]) == layer.input_shape, layer.name
        assert tuple(block.linear(trace.inputs).shape[1:]) == layer.linear_shape, layer.name
        assert tuple(trace.pre.shape[1:]) == tuple(trace.post.shape[1:]) == layer.output_shape, layer.name
        assert layer.weights == block.linear.weight.numel()
        assert layer.n_params == sum(p.numel() for p in block.parameters())
        buffers = sum(b.numel() for name, b in block.named_buffers() if "running" in name)
        assert layer.batch_norm_buffers == buffers
        assert (layer.binarize_weights, layer.binarize_activations) == (
            block.linear.binarize_weights,
            block.activation.binarized,
        )


def test_cnn_plan_numbers():
    conv1, conv2, dense1, output = plan(CNN)
    assert (conv1.name, conv1.kind, conv1.kernel_size, conv1.pool) == ("conv1", "conv", 5, True)
    assert (conv1.input_shape, conv1.linear_shape, conv1.output_shape) == ((1, 28, 28), (4, 28, 28), (4, 14, 14))
    assert conv2.output_shape == conv2.linear_shape == (6, 14, 14) and not conv2.pool
    assert (dense1.input_shape, dense1.flatten_input) == ((6 * 14 * 14,), True)
    assert not output.flatten_input and not conv1.flatten_input
    assert [layer.macs for layer in (conv1, conv2, dense1, output)] == [
        28 * 28 * 4 * 1 * 25,
        14 * 14 * 6 * 4 * 9,
        6 * 14 * 14 * 24,
        24 * 10,
    ]
    assert conv1.weights == 4 * 25 and conv1.biases == 0 and conv1.batch_norm_params == 8
    assert conv2.batch_norm_params == conv2.batch_norm_buffers == 0


def test_binary_input_follows_the_previous_layer():
    config = ModelConfig(
        input=InputConfig(binarize=True),
        layers=(LayerConfig(8, binarize_activations=False), LayerConfig(8, binarize_weights=False), LayerConfig(10)),
    )
    layers = plan(config)
    assert [layer.binary_input for layer in layers] == [True, False, True]
    assert [layer.binary_macs > 0 for layer in layers] == [True, False, True]
    assert not plan(PRESETS["fast"].model)[0].binary_input  # real pixels


def test_layer_names_of_any_layer_list():
    assert layer_names(PRESETS["best"].model) == ("conv1", "conv2", "dense1", "output")
    unordered = ModelConfig(layers=(LayerConfig(8), LayerConfig(4, kind="conv"), LayerConfig(10)))
    assert layer_names(unordered) == ("dense1", "conv1", "output")
    with pytest.raises(ValueError, match="conv1: a conv layer needs a"):
        plan(unordered)
