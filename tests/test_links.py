"""bnn.config.links: query-param round trips, layer tokens, and every refused value of a link named."""

from __future__ import annotations

import pytest

from bnn.config.links import from_query_params, layer_token, parse_layer_token, read_query_params, to_query_params
from bnn.config.model_settings import InputConfig, LayerConfig, ModelConfig
from bnn.config.presets import PRESETS
from bnn.config.schema import ConfigError, RunConfig, validate
from bnn.config.train_settings import TrainConfig


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_query_param_round_trip_every_preset(name):
    config = PRESETS[name].replace_train(seed=987654321)
    params = to_query_params(config)
    assert params["seed"] == "987654321"
    assert all(isinstance(v, str) for v in params.values())
    assert from_query_params(params) == config
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
    params = to_query_params(config)
    assert params["layers"] == "c16k5p-wab-0.1_c8k3-a-0.0_d33-wb-0.3_d7-a-0.0"
    assert from_query_params(params) == config
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
        from_query_params(params)
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
        ("layers", "_".join(["d10-wab-0"] * 1000), "9,999 characters, more than a link's 400: ignored"),
        ("layers", "_".join(["d10-wab-0"] * 20), "20 layers, at most 12"),
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


def test_a_huge_value_is_refused_unread_and_a_refused_value_is_quoted_short():
    params = {"lr": "1" * 1_000_000, "layers": "d10-wab-0_" * 100_000, "opt": "x" * 300}
    config, problems = read_query_params(params, PRESETS["fast"])
    assert config == PRESETS["fast"]
    assert len(problems) == 3 and all(len(problem) < 200 for problem in problems), problems
    assert any("lr: 1,000,000 characters" in problem and "ignored" in problem for problem in problems)
    assert any("opt='xxxxxxxx" in problem and "…" in problem for problem in problems)  # quoted, cut short


def test_the_server_takes_no_message_of_more_than_a_few_mb():
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxMessageSize"] <= 8  # MB: benchmarks/huge_query.py times a query this big
