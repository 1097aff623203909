"""bnn.config: JSON and query-param round trips, parsing errors, validate() messages."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace

import pytest

from bnn.config import (
    MAX_LAYERS,
    MAX_UNITS,
    ConfigError,
    InputConfig,
    LayerConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    describe,
    from_query_params,
    layer_token,
    parameter_count,
    parse_layer_token,
    validate,
)
from bnn.presets import PRESETS


def with_layers(*layers: LayerConfig, base: RunConfig | None = None) -> RunConfig:
    return (base or RunConfig()).replace_model(layers=tuple(layers))


def only_problem(config: RunConfig) -> str:
    problems = validate(config)
    assert len(problems) == 1, problems
    return problems[0]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_json_round_trip_every_preset(name):
    config = PRESETS[name].replace_train(seed=1234)
    text = config.to_json()
    assert json.loads(text)["train"]["seed"] == 1234
    back = RunConfig.from_json(text)
    assert back == config
    assert isinstance(back.model.layers, tuple) and isinstance(back.model.image_shape, tuple)
    assert RunConfig.from_json(config.to_json(indent=None)) == config


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_query_param_round_trip_every_preset(name):
    config = PRESETS[name].replace_train(seed=987654321)
    params = config.to_query_params()
    assert params["seed"] == "987654321"
    assert all(isinstance(v, str) for v in params.values())
    assert RunConfig.from_query_params(params) == config
    # from a different base too: every field must be in the params
    other = PRESETS["seed"] if name != "seed" else PRESETS["paper"]
    assert from_query_params(params, base=other) == config


def test_query_params_non_default_values_round_trip():
    config = RunConfig(
        ModelConfig(
            input=InputConfig(scale="01", binarize=True, dropout=0.25),
            layers=(
                LayerConfig(16, kind="conv", kernel_size=5, pool=True, dropout=0.1),
                LayerConfig(8, kind="conv", binarize_weights=False, batch_norm=False),
                LayerConfig(33, binarize_activations=False, dropout=0.3),
                LayerConfig(7, binarize_weights=False, binarize_activations=True, batch_norm=False),
            ),
            stochastic=True,
            ste_cancel=False,
            real_activation="relu",
            bias=False,
            bn_eps=1e-5,
            bn_momentum=0.01,
            latent_init="uniform1",
        ),
        TrainConfig(
            optimizer="bop",
            lr=1.5e-3,
            lr_end=2.5e-7,
            schedule="cosine",
            momentum=0.5,
            loss="squared_hinge",
            batch_size=64,
            epochs=7,
            seed=42,
            clip_latent=False,
            glorot_lr_scale=True,
            bop_threshold=1e-8,
            bop_gamma=1e-4,
            train_subset=1234,
        ),
    )
    params = config.to_query_params()
    assert params["layers"] == "c16k5p-wab-0.1_c8k3-a-0.0_d33-wb-0.3_d7-a-0.0"
    assert RunConfig.from_query_params(params) == config
    assert RunConfig.from_json(config.to_json()) == config


def test_layer_tokens():
    assert layer_token(LayerConfig(1024)) == "d1024-wab-0.0"
    assert parse_layer_token("d1024-wab-0") == LayerConfig(1024)
    assert parse_layer_token("c32k3p-wab-0.1") == LayerConfig(32, kind="conv", pool=True, dropout=0.1)
    assert parse_layer_token("d10--0") == LayerConfig(
        10, binarize_weights=False, binarize_activations=False, batch_norm=False
    )


def test_missing_query_params_keep_base():
    base = PRESETS["paper"]
    assert from_query_params({}, base=base) == base
    assert from_query_params({"lr": "0.5"}, base=base) == base.replace_train(lr=0.5)
    assert from_query_params({"seed": "7"}).train.seed == 7


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"lr": "fast"}, "lr='fast' is not a valid float"),
        ({"ep": "1.5"}, "ep='1.5' is not a valid int"),
        ({"seed": "x"}, "seed='x' is not a valid int"),
        ({"bs": ""}, "bs='' is not a valid int"),
        ({"clip": "yes"}, "clip='yes' is not a valid bool"),
        ({"layers": "garbage"}, "layer 'garbage' is not of the form"),
        ({"layers": "d10-wab-0_x5-wab-0"}, "layer 'x5-wab-0' is not of the form"),
        ({"layers": "d-wab-0"}, "layer 'd-wab-0' is not of the form"),
        ({"layers": "d10-wxb-0"}, "layer 'd10-wxb-0' is not of the form"),
        ({"layers": "d10-wab-0.5.5"}, "is not of the form"),
        ({"layers": "d10-wab"}, "is not of the form"),
    ],
)
def test_query_params_garbage_gives_config_error(params, fragment):
    with pytest.raises(ConfigError) as info:
        RunConfig.from_query_params(params)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


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
    assert msg == f"layer 1: width must be a positive whole number, got {units}"


def test_validate_too_wide():
    msg = only_problem(with_layers(LayerConfig(MAX_UNITS + 1), LayerConfig(10)))
    assert msg == f"layer 1: width {MAX_UNITS + 1} is too large (at most {MAX_UNITS})"
    assert validate(with_layers(LayerConfig(MAX_UNITS), LayerConfig(10))) == []


def test_validate_output_layer_named():
    msg = only_problem(with_layers(LayerConfig(16), LayerConfig(1)))
    assert msg == "the output layer needs at least 2 classes"
    problems = validate(with_layers(LayerConfig(16), LayerConfig(0)))
    assert "output layer: width must be a positive whole number, got 0" in problems


@pytest.mark.parametrize("lr", [0.0, -1.0, float("nan")])
def test_validate_learning_rate(lr):
    msg = only_problem(RunConfig().replace_train(lr=lr))
    assert msg.startswith("learning rate must be > 0, got")


def test_validate_absurd_learning_rate():
    assert "absurdly large" in only_problem(RunConfig().replace_train(lr=100.0))


def test_validate_epochs_zero_and_batch_size():
    assert only_problem(RunConfig().replace_train(epochs=0)) == "epochs must be at least 1, got 0"
    assert "batch size" in only_problem(RunConfig().replace_train(batch_size=0))
    assert "training subset" in only_problem(RunConfig().replace_train(train_subset=-1))


def test_validate_too_many_parameters_is_a_memory_message():
    config = with_layers(*([LayerConfig(8192)] * 8), LayerConfig(10))
    assert len(config.model.layers) <= MAX_LAYERS
    count = parameter_count(config.model)
    assert count == 784 * 8192 + 8192 + 7 * (8192 * 8192 + 8192) + 8192 * 10 + 10
    msg = only_problem(config)
    assert "memory" in msg and f"{count / 1e6:.0f} M parameters" in msg


def test_validate_too_many_layers_and_other_enums():
    assert f"at most {MAX_LAYERS} layers" in only_problem(with_layers(*([LayerConfig(8)] * 13)))
    assert "optimizer must be one of" in only_problem(RunConfig().replace_train(optimizer="rmsprop"))
    assert "loss must be one of" in only_problem(RunConfig().replace_train(loss="mse"))
    assert "schedule must be one of" in only_problem(RunConfig().replace_train(schedule="step"))
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


def test_parameter_count_cnn():
    model = ModelConfig(layers=(LayerConfig(4, kind="conv", pool=True), LayerConfig(10)))
    # conv: 1*4*9 + 4; pool 28 -> 14; dense: 4*14*14*10 + 10
    assert parameter_count(model) == 40 + 4 * 196 * 10 + 10
    small = replace(model, image_shape=(3, 8, 8))
    assert parameter_count(small) == 3 * 4 * 9 + 4 + 4 * 16 * 10 + 10


def test_configs_are_frozen_and_replace_helpers():
    config = RunConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.lr = 1.0  # type: ignore[misc]
    assert config.replace_train(lr=0.5).train.lr == 0.5
    assert config.replace_model(bias=False).model.bias is False
    assert config.train.lr == TrainConfig().lr


def test_describe_in_one_line():
    assert describe(PRESETS["fast"]) == (
        "784-1024-1024-10 MLP · binary weights 3/3, binary activations 2/3, "
        "BatchNorm 3/3 · adam lr 1e-02 -> 1e-05 (cosine) · batch 200 · 3 epochs "
        "· seed 0"
    )
    seed = describe(PRESETS["seed"])
    assert "binary weights 0/4, binary activations 4/4, BatchNorm 0/4" in seed and "sgd lr 1e-06 ·" in seed
    best = describe(PRESETS["best"].replace_train(train_subset=5000, epochs=1))
    assert best.startswith("784-c32-c64-512-10 CNN") and "1 epoch of 5,000 images" in best
