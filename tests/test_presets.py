"""bnn.config.presets: exact names and the settings each one promises."""

from __future__ import annotations

import pytest

from bnn.config.model_settings import LayerConfig
from bnn.config.presets import PRESET_DESCRIPTIONS, PRESETS, preset
from bnn.config.schema import RunConfig, validate
from bnn.network.summary import model_summary


def test_exact_names():
    assert set(PRESETS) == {"fast", "paper", "seed", "seed-fixed", "float", "best"}
    assert set(PRESET_DESCRIPTIONS) == set(PRESETS)
    assert all(isinstance(c, RunConfig) and validate(c) == [] for c in PRESETS.values())


def test_preset_lookup():
    assert preset("paper") is PRESETS["paper"]
    with pytest.raises(KeyError, match="unknown preset 'nope'; choose one of fast, paper"):
        preset("nope")


def test_paper_preset():
    config = PRESETS["paper"]
    model, train = config.model, config.train
    assert [layer.units for layer in model.layers] == [4096, 4096, 4096, 10]
    assert model.image_shape == (1, 28, 28)  # 784 inputs
    assert all(layer.kind == "dense" for layer in model.layers)
    assert model.input.dropout == 0.2 and model.input.scale == "pm1" and not model.input.binarize
    assert [layer.dropout for layer in model.layers] == [0.5, 0.5, 0.5, 0.0]
    assert all(layer.batch_norm and layer.binarize_weights for layer in model.layers)
    assert [layer.binarize_activations for layer in model.layers] == [True, True, True, False]
    assert model.bn_eps == 1e-4 and model.bn_momentum == 0.1
    assert not model.stochastic and model.ste_cancel
    assert train.loss == "squared_hinge"
    assert (train.optimizer, train.lr, train.lr_end, train.schedule) == ("adam", 3e-3, 3e-7, "exponential")
    assert train.batch_size == 100
    assert train.glorot_lr_scale and train.clip_latent
    weights_and_biases = 784 * 4096 + 2 * 4096 * 4096 + 4096 * 10 + 3 * 4096 + 10
    assert model_summary(model).total_params == weights_and_biases + 2 * (3 * 4096 + 10)  # + BatchNorm


def test_seed_preset():
    model, train = PRESETS["seed"].model, PRESETS["seed"].train
    assert [layer.units for layer in model.layers] == [256, 128, 64, 10]
    assert not any(layer.batch_norm for layer in model.layers)
    assert all(layer.binarize_activations for layer in model.layers)  # the output layer too
    assert not any(layer.binarize_weights for layer in model.layers)  # real-valued weights
    assert model.input.scale == "01" and model.input.dropout == 0.0
    assert model.latent_init == "glorot"
    assert (train.optimizer, train.lr, train.schedule, train.momentum) == ("sgd", 1e-6, "constant", 0.0)
    assert train.loss == "keras_ce"
    assert not train.clip_latent


def test_seed_fixed_differs_from_seed_only_by_the_fix():
    seed, fixed = PRESETS["seed"], PRESETS["seed-fixed"]
    assert fixed.model.layers[:-1] == seed.model.layers[:-1]
    assert fixed.model.layers[-1] == LayerConfig(
        10, binarize_weights=False, binarize_activations=False, batch_norm=False
    )
    assert fixed.train.loss == "cross_entropy" and fixed.train.optimizer == "adam" and fixed.train.lr == 1e-3
    assert fixed.model.input == seed.model.input


def test_fast_float_best():
    fast, flt, best = PRESETS["fast"], PRESETS["float"], PRESETS["best"]
    assert [layer.units for layer in fast.model.layers] == [1024, 1024, 10]
    assert [layer.binarize_activations for layer in fast.model.layers] == [True, True, False]
    assert all(layer.binarize_weights and layer.batch_norm for layer in fast.model.layers)
    assert [layer.units for layer in flt.model.layers] == [1024, 1024, 10]
    assert not any(layer.binarize_weights or layer.binarize_activations for layer in flt.model.layers)
    assert flt.model.real_activation == "relu" and not flt.train.clip_latent
    assert best.model.is_cnn and not fast.model.is_cnn
    assert [layer.kind for layer in best.model.layers] == ["conv", "conv", "dense", "dense"]
    assert best.model.num_classes == 10


def test_presets_are_distinct():
    configs = list(PRESETS.values())
    assert len({c.to_json() for c in configs}) == len(configs)
