"""bnn.config: JSON and query-param round trips, parsing errors, validate() messages."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bnn.config import (
    MAX_LAYERS,
    MAX_UNITS,
    SETTINGS,
    ConfigError,
    InputConfig,
    LayerConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    describe,
    from_query_params,
    layer_token,
    parse_layer_token,
    read_query_params,
    setting_value,
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
        ({"lr": "fast"}, "lr='fast': Learning rate must be a finite number"),
        ({"ep": "1.5"}, "ep='1.5': Epochs must be a whole number"),
        ({"seed": "x"}, "seed='x': Seed must be a whole number"),
        ({"bs": ""}, "bs='': Batch size must be a whole number"),
        ({"clip": "yes"}, "clip='yes': Clip latent weights to [-1, 1] must be on or off"),
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
    "key, text, fragment",
    [
        ("bnmom", "nan", "BatchNorm momentum must be a finite number, got nan"),
        ("bnmom", "5", "BatchNorm momentum must be in [0, 1], got 5.0"),
        ("init", "foo", "Latent weight init must be one of glorot, uniform1, got 'foo'"),
        ("mom", "nan", "Momentum must be a finite number"),
        ("seed", "9" * 20, "Seed must be in [0, 4,294,967,295]"),
        ("seed", "-1", "Seed must be in [0, 4,294,967,295], got -1"),
        ("lr", "inf", "Learning rate must be a finite number"),
        ("lr", "0", "Learning rate must be in (0, 10], got 0.0"),
        ("opt", "rmsprop", "Optimizer must be one of sgd, adam, adamax, bop"),
        ("indo", "1", "Input dropout must be in [0, 1), got 1.0"),
        ("layers", "_".join(["d10-wab-0"] * 1000), "1000 layers, at most 12"),
        ("layers", "d0-wab-0_d10--0", "layer 1: width must be in [1, 8192], got 0"),
        ("layers", "d16-wab-0_c4-wab-0_d10--0", "conv layers must come before dense layers"),
    ],
)
def test_a_bad_link_value_is_named_and_the_good_ones_are_kept(key, text, fragment):
    params = {"lr": "0.5", "ep": "7", key: text}
    config, problems = read_query_params(params, PRESETS["fast"])
    assert len(problems) == 1 and problems[0].startswith((f"{key}=", "layers:"))
    assert fragment in problems[0], problems
    if key != "lr":
        assert config.train.lr == 0.5
    assert config.train.epochs == 7
    assert config == read_query_params({k: v for k, v in params.items() if k != key}, PRESETS["fast"])[0]
    assert validate(config) == []  # nothing invalid can reach a run
    with pytest.raises(ConfigError):
        from_query_params(params, PRESETS["fast"])


def test_every_bad_value_of_a_link_is_named_in_one_notice():
    params = {"bnmom": "nan", "init": "foo", "mom": "nan", "seed": "9" * 20, "bs": "64"}
    config, problems = read_query_params(params)
    assert [problem.split("=")[0] for problem in problems] == ["bnmom", "init", "mom", "seed"]
    assert config == RunConfig().replace_train(batch_size=64)


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
    assert "memory" in msg and "M parameters" in msg


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
