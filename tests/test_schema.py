"""bnn.config.schema: JSON round trips, the settings table, validate() messages; no PyTorch."""

from __future__ import annotations

import dataclasses
import json

import pytest
from conftest import fresh_python

from bnn.config.model_settings import MAX_UNITS, LayerConfig
from bnn.config.presets import PRESETS
from bnn.config.schema import MAX_LAYERS, MAX_PARAMETERS, SETTINGS, ConfigError, RunConfig, setting_value, validate
from bnn.config.train_settings import TrainConfig


def with_layers(*layers: LayerConfig, base: RunConfig | None = None) -> RunConfig:
    return (base or RunConfig()).replace_model(layers=tuple(layers))


def only_problem(config: RunConfig) -> str:
    problems = validate(config)
    assert len(problems) == 1, problems
    return problems[0]


def test_settings_import_without_torch():
    code = "import sys, bnn.config.schema; print('torch' in sys.modules)"
    assert fresh_python(code) == "False", "importing bnn.config.schema imported torch"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_json_round_trip_every_preset(name):
    config = PRESETS[name].replace_train(seed=1234)
    text = config.to_json()
    assert json.loads(text)["train"]["seed"] == 1234
    back = RunConfig.from_json(text)
    assert back == config
    assert isinstance(back.model.layers, tuple) and isinstance(back.model.image_shape, tuple)
    assert RunConfig.from_json(config.to_json(indent=None)) == config


def test_every_setting_is_described_once_with_a_distinct_key_and_label():
    keys = [s.key for s in SETTINGS]
    assert len(keys) == len(set(keys)) and "layers" not in keys
    assert len({s.label for s in SETTINGS}) == len(SETTINGS)
    assert all(s.label and s.help and s.kind in (bool, int, float, str) for s in SETTINGS)
    for s in SETTINGS:  # the defaults obey their own rules
        assert s.problem(setting_value(RunConfig(), s)) is None


def test_settings_that_do_not_apply():
    by_key = {s.key: s for s in SETTINGS}
    adam, sgd = RunConfig(), RunConfig().replace_train(optimizer="sgd")
    assert not by_key["mom"].applies_to(adam) and by_key["mom"].applies_to(sgd)
    assert not by_key["lrend"].applies_to(adam.replace_train(schedule="constant"))
    assert by_key["lr"].applies_to(adam)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be an object"),
        ('{"model": {"layers": [{"units": 10, "colour": "red"}]}}', "not a BNN Playground config"),
        ('{"train": {"learning_rate": 0.1}}', "not a BNN Playground config"),
        ('{"model": {"layers": 5}}', "not a BNN Playground config"),
        ('{"model": "abc"}', "not a BNN Playground config"),
        ('{"model": {"input": 3}}', "not a BNN Playground config"),
        ('{"train": [1, 2]}', "not a BNN Playground config"),
    ],
)
def test_from_json_garbage_gives_config_error(text, fragment):
    with pytest.raises(ConfigError, match=fragment):
        RunConfig.from_json(text)


def test_presets_and_default_are_valid():
    assert validate(RunConfig()) == []
    for name, config in PRESETS.items():
        assert validate(config) == [], name


@pytest.mark.parametrize("units", [0, -3])
def test_validate_nonpositive_width(units):
    msg = only_problem(with_layers(LayerConfig(units), LayerConfig(10)))
    assert msg == f"layer 1: width must be in [1, 8192], got {units}"


def test_validate_too_wide():
    msg = only_problem(with_layers(LayerConfig(MAX_UNITS + 1), LayerConfig(10)))
    assert msg == f"layer 1: width must be in [1, 8192], got {MAX_UNITS + 1}"
    assert validate(with_layers(LayerConfig(MAX_UNITS), LayerConfig(10))) == []


def test_validate_output_layer_named():
    msg = only_problem(with_layers(LayerConfig(16), LayerConfig(1)))
    assert msg == "the output layer needs at least 2 classes"
    problems = validate(with_layers(LayerConfig(16), LayerConfig(0)))
    assert "output layer: width must be in [1, 8192], got 0" in problems


@pytest.mark.parametrize("lr", [0.0, -1.0, float("nan"), 100.0])
def test_validate_learning_rate(lr):
    msg = only_problem(RunConfig().replace_train(lr=lr))
    assert msg.startswith("Learning rate must be")


def test_validate_epochs_zero_and_batch_size():
    assert only_problem(RunConfig().replace_train(epochs=0)) == "Epochs must be in [1, 1000], got 0"
    assert "Batch size" in only_problem(RunConfig().replace_train(batch_size=0))
    assert "Training images" in only_problem(RunConfig().replace_train(train_subset=-1))


def test_validate_too_many_parameters_is_a_memory_message():
    config = with_layers(*([LayerConfig(8192)] * 8), LayerConfig(10))
    assert len(config.model.layers) <= MAX_LAYERS
    msg = only_problem(config)
    assert "memory" in msg and "M parameters" in msg and f"at most {MAX_PARAMETERS / 1e6:.0f} M" in msg


def test_validate_too_many_layers_and_other_enums():
    assert f"at most {MAX_LAYERS} layers" in only_problem(with_layers(*([LayerConfig(8)] * 13)))
    assert "Optimizer must be one of" in only_problem(RunConfig().replace_train(optimizer="rmsprop"))
    assert "Loss must be one of" in only_problem(RunConfig().replace_train(loss="mse"))
    assert "Schedule must be one of" in only_problem(RunConfig().replace_train(schedule="step"))
    assert "dropout" in only_problem(with_layers(LayerConfig(8, dropout=1.0), LayerConfig(10)))
    assert "conv layers must come before dense" in only_problem(
        with_layers(LayerConfig(8), LayerConfig(4, kind="conv"), LayerConfig(10))
    )
    assert "output layer must be dense" in " ".join(validate(with_layers(LayerConfig(10, kind="conv"))))
    assert "kernel size must be odd" in only_problem(
        with_layers(LayerConfig(4, kind="conv", kernel_size=2), LayerConfig(10))
    )
    no_binary = with_layers(LayerConfig(8, binarize_weights=False), LayerConfig(10, binarize_weights=False))
    assert "Bop flips binary weights" in only_problem(no_binary.replace_train(optimizer="bop"))


def test_configs_are_frozen_and_replace_helpers():
    config = RunConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.lr = 1.0  # type: ignore[misc]
    assert config.replace_train(lr=0.5).train.lr == 0.5
    assert config.replace_model(bias=False).model.bias is False
    assert config.train.lr == TrainConfig().lr
