"""bnn.analysis.probe: the seed's network at initialization shows its ties, zero sums and tiny steps; the
probe leaves the global random state alone."""

from __future__ import annotations

import torch

from bnn.analysis.probe import probe
from bnn.config.model_settings import LayerConfig, ModelConfig
from bnn.config.presets import PRESETS
from bnn.config.schema import RunConfig
from bnn.config.train_settings import TrainConfig


def test_seed_probe_numbers(mnist):
    seed_probe = probe(PRESETS["seed"], mnist.train_images, mnist.train_labels)
    assert seed_probe.output_tie_share > 0.9  # ten ±1 scores: ties almost always
    assert 0 < seed_probe.output_zero_sum_share < 1  # Keras' y / sum(y) divides by zero
    assert seed_probe.step_size["dense1"] < 1e-7  # SGD at 1e-6 barely moves a weight
    assert set(seed_probe.saturation) == {"dense1", "dense2", "dense3", "output"}


def test_probe_on_synthetic_data(tiny_data):
    output = LayerConfig(10, binarize_weights=False, binarize_activations=False)
    config = RunConfig(
        ModelConfig(layers=(LayerConfig(16), output)), TrainConfig(optimizer="sgd", lr=1e-3, momentum=0.0)
    )
    before = torch.random.get_rng_state()
    result = probe(config, tiny_data.train_images, tiny_data.train_labels, batch_size=32)
    assert torch.equal(before, torch.random.get_rng_state())  # training threads' RNG untouched
    assert result.output_tie_share == 0.0 and result.gradient_loss == "cross_entropy"
    assert 0.0 <= result.saturation["dense1"] <= 1.0
