"""The packed engine on binary CNNs (bnn.xnor): convolutions, pooling, padding, flatten order, vs the float model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_xnor import grid_images, randomize

from bnn.config.model_settings import InputConfig, LayerConfig, ModelConfig
from bnn.config.presets import PRESETS
from bnn.network.binarize import sign
from bnn.network.models import build_model
from bnn.xnor import export_packed, float_nbytes, load_packed, save_packed


def cnn(*layers: LayerConfig, **model) -> ModelConfig:
    return ModelConfig(layers=(*layers, LayerConfig(10, binarize_activations=False)), **model)


def conv(units: int, pool: bool = True, **kw) -> LayerConfig:
    return LayerConfig(units, kind="conv", pool=pool, **kw)


def assert_matches_float_model(model, x, engines=("fused", "numpy"), single: int = 8) -> None:
    """Every layer of both engines equals the float model's trace (bits exactly, ties included; real
    outputs to rounding), the predictions agree, and at batch size 1 the scores are bit-identical."""
    packed = export_packed(model)
    trace = model.trace(x)
    for engine in engines:
        outs = packed.with_engine(engine).layer_outputs(x)
        for out, layer in zip(outs, trace, strict=True):
            expect = layer.post.numpy()
            if layer.binarized:
                np.testing.assert_array_equal(out, expect, err_msg=f"{engine} {layer.name}")
            else:
                np.testing.assert_allclose(out, expect, rtol=0, atol=1e-4 * float(np.abs(expect).max()))
    with torch.no_grad():
        np.testing.assert_array_equal(packed.predict(x), model(x).argmax(1).numpy())
        for i in range(min(single, len(x))):
            np.testing.assert_array_equal(packed.scores(x[i : i + 1]), model(x[i : i + 1]).numpy())


def test_conv_thresholds_every_dot_value():
    """For every channel and every integer d in [-K, K], the folded ``s * d >= T`` equals the model's own
    sign(BN(d + bias)): negative gamma (s = -1), gamma == 0 (constant), pre-activations exactly 0."""
    model = build_model(cnn(conv(8), conv(48, pool=False), input=InputConfig(binarize=True)))
    block = model.blocks[1]
    units, k = 48, 8 * 9
    with torch.no_grad():
        gen = torch.Generator().manual_seed(1)
        bias = torch.randint(-3, 4, (units,), generator=gen).float() * 0.5
        block.linear.bias.copy_(bias)
        block.norm.running_mean.copy_(bias + torch.randint(-20, 21, (units,), generator=gen).float())
        block.norm.running_var.copy_(torch.rand(units, generator=gen) * 40 + 0.1)
        gamma = torch.randn(units, generator=gen)
        gamma[:16] = gamma[:16].abs()
        gamma[16:32] = -gamma[16:32].abs()
        gamma[32:40] = 0.0
        block.norm.weight.copy_(gamma)
        beta = torch.zeros(units)  # pre == 0 exactly where d + bias == mean
        beta[32:40] = torch.tensor([0.5, -0.5, 0.0, -0.0, 1e-30, -1e-30, 3.0, -3.0])
        beta[40:] = torch.randn(units - 40, generator=gen)
        block.norm.bias.copy_(beta)
    model.eval()
    layer = export_packed(model).layers[1]
    assert layer.kind == "conv" and layer.fan_in == k
    t, flip = layer.arrays["threshold"].astype(np.int64), layer.arrays["flip"].astype(bool)
    d = np.arange(-k, k + 1)
    packed_sign = np.where(np.where(flip, -1, 1)[None, :] * d[:, None] >= t[None, :], 1.0, -1.0)
    with torch.no_grad():
        z = torch.from_numpy(d.astype(np.float32))[:, None, None, None] + bias[None, :, None, None]
        pre = block.norm(z.expand(-1, -1, 2, 2).contiguous())[:, :, 0, 0]  # the model's own BatchNorm2d
    np.testing.assert_array_equal(packed_sign, sign(pre).numpy())
    assert (pre == 0).sum() > 0, "the test must contain exact ties"
    assert flip[16:32].all() and not flip[:16].any() and not flip[32:40].any()


@pytest.mark.parametrize(
    "config",
    [
        cnn(conv(8), conv(70), LayerConfig(40)),  # pixels, 70 channels (2 words) flattened into a dense layer
        cnn(conv(6, pool=False, kernel_size=5), conv(16), conv(12), input=InputConfig(scale="01")),  # 7 -> 3 pool
        cnn(conv(16, kernel_size=1), conv(33, pool=False), input=InputConfig(binarize=True)),  # first conv on sign bits
    ],
    ids=["pixels-70ch-dense", "01-5x5-odd-pool", "binarized-input-1x1"],
)
def test_random_cnns_match_the_float_model(config):
    model = build_model(config)
    randomize(model, seed=3)
    kinds = [layer.kind for layer in export_packed(model).layers]
    assert kinds[0] == ("conv" if config.input.binarize else "pixelconv") and "float" not in kinds
    assert_matches_float_model(model, grid_images(40, seed=4))


def test_exact_ties_in_conv_layers_give_plus_one():
    """Without bias and with integer BatchNorm means the conv pre-activation (after the pool) is exactly 0
    for some positions: sign(0) = +1, in both engines, as in the float model."""
    model = build_model(cnn(conv(8), conv(24), bias=False))
    randomize(model, seed=5)
    with torch.no_grad():
        norm = model.blocks[1].norm
        norm.running_mean.copy_(torch.randint(-6, 7, (24,)).float())
        norm.bias.zero_()
        norm.weight.copy_(torch.where(torch.arange(24) % 2 == 0, 1.0, -1.0))  # both comparison directions
    x = grid_images(60, seed=6)
    assert (model.trace(x)[1].pre == 0).sum() > 10, "the test must contain exact ties"
    assert_matches_float_model(model, x)


def test_off_grid_images_take_the_float_first_conv():
    model = build_model(cnn(conv(8), conv(16)))
    randomize(model, seed=7)
    x = grid_images(20, seed=8)
    x[::3] += torch.rand(x[::3].shape) * 1e-3
    packed = export_packed(model)
    with torch.no_grad():
        ref = model(x)
    for engine in ("fused", "numpy"):
        np.testing.assert_array_equal(packed.with_engine(engine).predict(x), ref.argmax(1).numpy())
        np.testing.assert_allclose(packed.with_engine(engine).scores(x), ref.numpy(), rtol=0, atol=1e-3)


def test_conv_layers_that_are_not_binarized_get_a_float_fallback():
    config = cnn(
        conv(8, binarize_activations=False),  # real activations: the next conv runs in float32
        conv(12, binarize_weights=False),  # real weights: float32, bits out
        conv(16, pool=False),  # XNOR on the float layer's bits
        LayerConfig(20, binarize_weights=False),  # dense with real weights after a conv
        real_activation="hardtanh",
    )
    model = build_model(config)
    randomize(model, seed=9)
    assert [layer.kind for layer in export_packed(model).layers] == ["float", "float", "conv", "float", "xnor"]
    assert_matches_float_model(model, grid_images(30, seed=10))


def test_cnn_save_load_roundtrip(tmp_path):
    model = build_model(cnn(conv(8), conv(70), LayerConfig(33)))
    randomize(model, seed=11)
    packed = export_packed(model)
    path = tmp_path / "cnn.bnnx"
    save_packed(packed, path)
    loaded = load_packed(path)
    assert [layer.describe() for layer in loaded.layers] == [layer.describe() for layer in packed.layers]
    x = grid_images(25, seed=12)
    np.testing.assert_array_equal(loaded.scores(x), packed.scores(x))


def test_best_preset_packs_into_xnor_layers():
    torch.manual_seed(0)
    model = build_model(PRESETS["best"].model).eval()
    packed = export_packed(model)
    assert [layer.kind for layer in packed.layers] == ["pixelconv", "conv", "xnor", "xnor"]
    assert [layer.out_shape for layer in packed.layers[:2]] == [(32, 14, 14), (64, 7, 7)]
    assert packed.layers[2].in_shape == (64, 7, 7) and packed.layers[2].words == 49
    assert packed.nbytes * 25 < float_nbytes(model)
    x = grid_images(4, seed=13)
    with torch.no_grad():
        np.testing.assert_array_equal(packed.scores(x[:1]), model(x[:1]).numpy())


def _train_small_cnn(mnist, steps: int = 300):
    from bnn.config.schema import RunConfig
    from bnn.config.train_settings import TrainConfig
    from bnn.training.data import iterate_batches
    from bnn.training.evaluation import recalibrate_batch_norm
    from bnn.training.loop import Trainer

    config = cnn(conv(16), conv(32), LayerConfig(64))
    train = TrainConfig(
        optimizer="adam", lr=3e-3, lr_end=1e-4, schedule="cosine", batch_size=100, epochs=1, train_subset=steps * 100
    )
    trainer = Trainer(RunConfig(model=config, train=train), mnist, device="cpu")
    for indices in iterate_batches(len(trainer.data.train_labels), 100, trainer.generator):
        trainer.train_step(trainer.data.train_images[indices], trainer.data.train_labels[indices])
    # BatchNorm's running averages lag the flipping weights of so short a run (test accuracy anywhere
    # from 54% to 94%): recomputed over the training images, the network reads as it trained
    recalibrate_batch_norm(trainer.model, trainer.data.train_images, trainer.config.train.batch_size)
    return trainer.model.eval()


@pytest.mark.slow
def test_trained_cnn_agrees_on_all_mnist_test_images(mnist):
    model = _train_small_cnn(mnist)
    x, y = mnist.test_images, mnist.test_labels
    with torch.no_grad():
        ref = torch.cat([model(x[i : i + 1000]) for i in range(0, len(x), 1000)])
    assert (ref.argmax(1) == y).float().mean() > 0.85  # it did learn (~94% measured)
    packed = export_packed(model)
    np.testing.assert_array_equal(packed.predict(x), ref.argmax(1).numpy())  # 100.00% agreement
    assert_matches_float_model(model, x[:300], single=50)
