"""bnn.network.models: shapes, trace(), binarized outputs, any input size."""

from __future__ import annotations

import pytest
import torch

from bnn.config.model_settings import InputConfig, LayerConfig, ModelConfig
from bnn.config.presets import PRESETS
from bnn.network.binarize import sign
from bnn.network.models import BinaryNet, build_model

MLP = ModelConfig(layers=(LayerConfig(32), LayerConfig(16), LayerConfig(10, binarize_activations=False)))
CNN = ModelConfig(
    layers=(
        LayerConfig(4, kind="conv", pool=True),
        LayerConfig(6, kind="conv", pool=True),
        LayerConfig(24),
        LayerConfig(10, binarize_activations=False),
    )
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def images(n: int = 8, shape=(1, 28, 28)) -> torch.Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(n))


@pytest.mark.parametrize("config", [MLP, CNN], ids=["mlp", "cnn"])
def test_output_shape_and_flat_input(config):
    model = build_model(config).eval()
    x = images(5)
    out = model(x)
    assert out.shape == (5, 10)
    assert torch.equal(model(x.reshape(5, 784)), out)  # (N, 784) is the same input
    assert model.predict(x).shape == (5,)
    assert [block.name for block in model.blocks] == (
        ["dense1", "dense2", "output"] if config is MLP else ["conv1", "conv2", "dense1", "output"]
    )


def test_preset_models_build_with_expected_layer_shapes():
    best = build_model(PRESETS["best"].model)
    assert [tuple(w.shape) for w in best.latent_weights().values()] == [
        (32, 1, 3, 3),
        (64, 32, 3, 3),
        (512, 64 * 7 * 7),
        (10, 512),
    ]
    seed = build_model(PRESETS["seed"].model)
    assert [tuple(w.shape) for w in seed.latent_weights().values()] == [(256, 784), (128, 256), (64, 128), (10, 64)]


@pytest.mark.parametrize("config", [MLP, CNN], ids=["mlp", "cnn"])
def test_trace_post_is_sign_of_pre_for_binarized_layers(config):
    model = build_model(config).eval()
    x = images(6)
    traces = model.trace(x)
    assert [t.name for t in traces] == [block.name for block in model.blocks]
    assert [t.binarized for t in traces] == [layer.binarize_activations for layer in config.layers]
    for t in traces[:-1]:
        assert torch.equal(t.post, sign(t.pre))
        assert set(t.post.unique().tolist()) <= {-1.0, 1.0}
    # the output layer is not binarized: post == pre (identity), and it is the model's output
    assert torch.equal(traces[-1].post, traces[-1].pre)
    assert torch.allclose(traces[-1].post, model(x))
    # each layer's input is the previous layer's post (flattened before the first dense layer)
    for prev, cur in zip(traces, traces[1:]):
        assert torch.equal(cur.inputs.reshape(len(x), -1), prev.post.reshape(len(x), -1))
    assert traces[0].inputs.shape[0] == 6


def test_trace_pre_is_batchnorm_of_linear_map():
    model = build_model(MLP).eval()
    x = images(4)
    first = model.trace(x)[0]
    block = model.blocks[0]
    scaled = x.reshape(4, -1) * 2 - 1  # pm1 input scaling
    assert torch.allclose(first.inputs, scaled)
    with torch.no_grad():
        expected = block.norm(torch.nn.functional.linear(scaled, sign(block.linear.weight), block.linear.bias))
    assert torch.allclose(first.pre, expected, atol=1e-5)


def test_binarized_output_layer_gives_only_pm1_scores():
    config = PRESETS["seed"].model
    model = build_model(config).eval()
    out = model(images(32))
    assert set(out.unique().tolist()) <= {-1.0, 1.0}
    # ties between ±1 scores go to the lowest class index
    assert torch.equal(model.predict(images(32)), out.argmax(1))


def test_no_magic_input_size():
    small_mlp = ModelConfig(image_shape=(1, 8, 8), layers=(LayerConfig(12), LayerConfig(3)))
    model = build_model(small_mlp).eval()
    assert model(images(5, (1, 8, 8))).shape == (5, 3)
    assert model(torch.rand(5, 64)).shape == (5, 3)
    assert model.blocks[0].linear.in_features == 64
    rgb_cnn = ModelConfig(
        image_shape=(3, 10, 6),
        layers=(LayerConfig(4, kind="conv", pool=True), LayerConfig(5, kind="conv"), LayerConfig(4)),
    )
    model = build_model(rgb_cnn).eval()
    assert model.blocks[2].linear.in_features == 5 * 5 * 3
    assert model(images(2, (3, 10, 6))).shape == (2, 4)
    traces = model.trace(images(2, (3, 10, 6)))
    assert [tuple(t.post.shape) for t in traces] == [(2, 4, 5, 3), (2, 5, 5, 3), (2, 4)]


def test_input_stage_scaling_and_binarization():
    x = torch.tensor([[0.0, 0.25, 0.5, 1.0]])
    base = dict(
        image_shape=(1, 1, 4),
        layers=(LayerConfig(2, binarize_weights=False, batch_norm=False, binarize_activations=False),),
    )
    pm1 = build_model(ModelConfig(**base)).eval()
    assert pm1._prepare(x).flatten().tolist() == [-1.0, -0.5, 0.0, 1.0]
    raw = build_model(ModelConfig(input=InputConfig(scale="01"), **base)).eval()
    assert raw._prepare(x).flatten().tolist() == [0.0, 0.25, 0.5, 1.0]
    binary = build_model(ModelConfig(input=InputConfig(binarize=True), **base)).eval()
    assert binary._prepare(x).flatten().tolist() == [-1.0, -1.0, 1.0, 1.0]


def test_binary_and_latent_weights():
    model = build_model(MLP)
    latent, binary = model.latent_weights(), model.binary_weights()
    for name in [block.name for block in model.blocks]:
        assert torch.equal(binary[name], sign(latent[name]))
    real = build_model(PRESETS["seed"].model)
    for name, w in real.binary_weights().items():
        assert torch.equal(w, real.latent_weights()[name])


def test_real_activations_for_unbinarized_hidden_layers():
    def model_with(act):
        cfg = ModelConfig(
            image_shape=(1, 1, 4),
            real_activation=act,
            layers=(LayerConfig(3, binarize_activations=False, batch_norm=False), LayerConfig(2)),
        )
        return build_model(cfg).eval()

    x = torch.tensor([[0.0, 1.0, 0.2, 0.9]]) * 3
    for act, fn in [("hardtanh", lambda t: t.clamp(-1, 1)), ("relu", torch.relu), ("identity", lambda t: t)]:
        t = model_with(act).trace(x)[0]
        assert torch.allclose(t.post, fn(t.pre)), act


def test_predict_restores_training_mode():
    model = build_model(MLP)
    model.train()
    model.predict(images(4))
    assert model.training
    assert isinstance(model, BinaryNet)


def _best_step_gradients(monkeypatch, plain: bool) -> list[torch.Tensor]:
    """Every parameter's gradient after one training forward/backward of `best` on a fixed batch;
    ``plain``: with the float conv and the plain channels-last copy, as before the exact speed-ups."""
    from bnn.network import layers, models
    from bnn.training.fast_step import LeanForward

    if plain:
        monkeypatch.setattr(layers, "signs_conv", lambda conv, x, w: None)
        monkeypatch.setattr(models, "channels_last", lambda z: z.contiguous(memory_format=torch.channels_last))
    torch.manual_seed(0)
    model = build_model(PRESETS["best"].model, "cpu")
    pixels = torch.randint(0, 256, (40, 1, 28, 28)).float().div_(255)
    scores = LeanForward(model, PRESETS["best"].train.precision)(pixels)
    torch.nn.functional.cross_entropy(scores, torch.arange(40) % 10).backward()
    monkeypatch.undo()
    return [parameter.grad for parameter in model.parameters()]


def test_best_trains_on_the_same_numbers_with_its_exact_speed_ups(monkeypatch):
    # the second conv's forward in bfloat16 and the first conv's gradient in its own layout change
    # no bit: best's 99.2% trajectory stays the one measured
    fast, plain = _best_step_gradients(monkeypatch, False), _best_step_gradients(monkeypatch, True)
    assert len(fast) == len(plain) and all(torch.equal(a, b) for a, b in zip(fast, plain))
