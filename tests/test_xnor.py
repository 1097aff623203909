"""The packed XNOR-popcount engine (bnn.xnor) against the float PyTorch model."""

from __future__ import annotations

import json
import os
import zlib

import numpy as np
import pytest
import torch

from bnn.config.model_settings import InputConfig, LayerConfig, ModelConfig
from bnn.network.binarize import sign
from bnn.network.models import build_model
from bnn.xnor import (
    MAGIC,
    PackedFileError,
    XnorExportError,
    export_packed,
    float_nbytes,
    load_packed,
    pack_signs,
    popcount,
    save_packed,
    xnor_dot,
    xnor_dot_example,
)


def grid_images(n: int, seed: int = 0) -> torch.Tensor:
    """Random 8-bit images k/255 (like MNIST), about 80% blank, float32 (n, 1, 28, 28)."""
    gen = torch.Generator().manual_seed(seed)
    k = torch.randint(0, 256, (n, 1, 28, 28), generator=gen)
    k[torch.rand(k.shape, generator=gen) < 0.8] = 0
    return k.to(torch.float32) / 255.0


def randomize(model, seed: int = 0, bias_scale: float = 2.0) -> None:
    """BatchNorm statistics and affine parameters spread around the reachable pre-activations of
    every layer (dense and conv), with negative and zero gammas, and nonzero biases."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.blocks:
            units, fan_in = block.linear.weight.shape[0], block.linear.weight[0].numel()
            if block.linear.bias is not None:
                block.linear.bias.copy_(torch.randn(units, generator=gen) * bias_scale)
            if isinstance(block.norm, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                block.norm.running_mean.copy_(torch.randn(units, generator=gen) * fan_in**0.5)
                block.norm.running_var.copy_(torch.rand(units, generator=gen) * fan_in + 0.5)
                block.norm.weight.copy_(torch.randn(units, generator=gen))
                block.norm.weight[::5] = 0.0
                block.norm.bias.copy_(torch.randn(units, generator=gen))
    model.eval()


def trace_signs(model, x) -> list[np.ndarray]:
    return [t.post.numpy() for t in model.trace(x)]


# --- the XNOR dot product ---------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 5, 63, 64, 65, 100, 127, 128, 129, 784, 1000, 4097])
def test_xnor_dot_equals_pm1_dot(k):
    rng = np.random.default_rng(k)
    a = rng.choice([-1, 1], size=(7, k))
    b = rng.choice([-1, 1], size=(7, k))
    pa, pb = pack_signs(a), pack_signs(b)
    assert pa.dtype == np.dtype("<u8") and pa.shape == (7, (k + 63) // 64)
    np.testing.assert_array_equal(xnor_dot(pa, pb, k), (a * b).sum(axis=1))
    # padding bits are 0 in every packed vector: all -1 packs to 0, all +1 has exactly K bits
    assert not pack_signs(-np.ones(k, dtype=int)).any()
    assert int(popcount(pack_signs(np.ones(k, dtype=int))).sum()) == k
    # so all -1 against all -1 (XOR of padding with padding) still gives +K
    minus = pack_signs(-np.ones(k, dtype=int))
    assert int(xnor_dot(minus, minus, k)) == k


def test_xnor_dot_example():
    out = xnor_dot_example([1, -1, 1, 1, -1], [1, 1, -1, 1, -1])
    assert out["a_bits"] == [1, 0, 1, 1, 0] and out["b_bits"] == [1, 1, 0, 1, 0]
    assert out["xor_bits"] == [0, 1, 1, 0, 0]
    assert out["popcount"] == 2 and out["K"] == 5 and out["dot"] == 1
    assert out["words"] == 1 and out["padding_bits"] == 59
    json.dumps(out)  # plain types for the UI
    rng = np.random.default_rng(3)
    a, b = rng.choice([-1, 1], size=70).tolist(), rng.choice([-1, 1], size=70).tolist()
    assert xnor_dot_example(a, b)["dot"] == sum(x * y for x, y in zip(a, b))
    for bad in (([1, 0], [1, 1]), ([1], [1, 1]), ([], [])):
        with pytest.raises(ValueError):
            xnor_dot_example(*bad)


# --- threshold folding ------------------------------------------------------------------------


def test_folded_thresholds_every_dot_value():
    """For every unit and every reachable dot d, the folded comparison equals the model's own
    sign(BN(d + bias)), with negative gamma, gamma == 0 (beta > 0, < 0, == 0, == -0.0) and
    pre-activations exactly 0."""
    k = 40
    cfg = ModelConfig(
        input=InputConfig(binarize=True),
        layers=(LayerConfig(k), LayerConfig(64), LayerConfig(10, binarize_activations=False)),
    )
    model = build_model(cfg).eval()
    block = model.blocks[1]
    units = 64
    with torch.no_grad():
        gen = torch.Generator().manual_seed(1)
        bias = torch.randint(-3, 4, (units,), generator=gen).float() * 0.5  # some integers
        block.linear.bias.copy_(bias)
        norm = block.norm
        # means at bias + even integers: pre == 0 exactly for some d
        norm.running_mean.copy_(bias + 2 * torch.randint(-8, 9, (units,), generator=gen).float())
        norm.running_var.copy_(torch.rand(units, generator=gen) * 20 + 0.1)
        gamma = torch.randn(units, generator=gen)
        gamma[:16] = gamma[:16].abs()  # positive
        gamma[16:32] = -gamma[16:32].abs()  # negative
        gamma[32:40] = 0.0  # constant units
        norm.weight.copy_(gamma)
        beta = torch.zeros(units)  # ties at exactly 0 for units 0..31
        beta[32:40] = torch.tensor([0.5, -0.5, 0.0, -0.0, 1e-30, -1e-30, 3.0, -3.0])
        beta[40:] = torch.randn(units - 40, generator=gen)
        norm.bias.copy_(beta)
    packed = export_packed(model)
    layer = packed.layers[1]
    assert layer.kind == "xnor" and layer.output == "bits"
    thr = layer.arrays["threshold"].astype(np.int64)
    flip = layer.arrays["flip"].astype(bool)
    d = np.arange(-k, k + 1, 2)
    p = (k - d) // 2  # popcount against the model's weights
    p_eff = np.where(flip[None, :], k - p[:, None], p[:, None])  # flipped rows negate the dot
    packed_sign = np.where(p_eff <= thr[None, :], 1.0, -1.0)
    with torch.no_grad():
        z = torch.from_numpy(d.astype(np.float32))[:, None] + block.linear.bias[None, :]
        pre = block.norm(z)
        model_sign = sign(pre).numpy()
    np.testing.assert_array_equal(packed_sign, model_sign)
    assert (pre == 0).sum() > 0, "the test must contain exact ties"
    assert flip[16:32].all() and not flip[:16].any() and not flip[32:40].any()
    # gamma == 0: constant units, +1 when beta >= 0 (sign(0) = +1, also for -0.0)
    np.testing.assert_array_equal(model_sign[0, 32:40], [1, -1, 1, 1, 1, -1, 1, -1])
    assert (model_sign[:, 32:40] == model_sign[:1, 32:40]).all()


def test_hidden_signs_match_trace_with_ties():
    """Whole-model check: every hidden ±1 equals the float model's, ties included."""
    cfg = ModelConfig(
        input=InputConfig(binarize=True),
        layers=(LayerConfig(96), LayerConfig(33), LayerConfig(10, binarize_activations=False)),
    )
    model = build_model(cfg)
    randomize(model, seed=2)
    with torch.no_grad():  # ties: layer 2 without bias offset, means at even integers
        model.blocks[1].linear.bias.zero_()
        model.blocks[1].norm.running_mean.copy_(2 * torch.randint(-4, 5, (33,)).float())
        model.blocks[1].norm.bias.zero_()
    packed = export_packed(model)
    x = grid_images(300, seed=4)
    ref = trace_signs(model, x)
    assert (model.trace(x)[1].pre == 0).any()
    out = packed.layer_outputs(x)
    np.testing.assert_array_equal(out[0], ref[0])
    np.testing.assert_array_equal(out[1], ref[1])
    with torch.no_grad():
        for i in range(0, 300, 37):
            np.testing.assert_array_equal(packed.scores(x[i : i + 1]), model(x[i : i + 1]).numpy())


@pytest.mark.parametrize("scale", ["pm1", "01"])
def test_bitplane_first_layer_is_exact(scale):
    cfg = ModelConfig(
        input=InputConfig(scale=scale),
        layers=(LayerConfig(200), LayerConfig(70), LayerConfig(10, binarize_activations=False)),
    )
    model = build_model(cfg)
    randomize(model, seed=5)
    packed = export_packed(model)
    assert [layer.kind for layer in packed.layers] == ["bitplane", "xnor", "xnor"]
    x = grid_images(200, seed=6)
    k = np.rint(x.numpy().reshape(200, -1) * 255).astype(np.int64)
    w = sign(model.blocks[0].linear.weight.detach()).numpy().astype(np.int64)
    if scale == "pm1":
        exact = (2 * k - 255) @ w.T  # 255 * sum_i w_i (2 x_i - 1), exact integers
    else:
        exact = k @ w.T
    z = (exact / 255.0 + model.blocks[0].linear.bias.detach().numpy().astype(np.float64)).astype(np.float32)
    with torch.no_grad():
        expect = sign(model.blocks[0].norm(torch.from_numpy(z))).numpy()
    np.testing.assert_array_equal(packed.layer_outputs(x)[0], expect)
    with torch.no_grad():
        batched = model(x)
    assert (packed.predict(x) == batched.argmax(1).numpy()).all()
    np.testing.assert_allclose(packed.scores(x), batched.numpy(), rtol=0, atol=1e-4 * float(batched.abs().max()))


def test_first_layer_exact_tie_gives_plus_one():
    """Without bias and BatchNorm the first-layer pre-activation can be exactly 0: +1."""
    cfg = ModelConfig(bias=False, layers=(LayerConfig(4, batch_norm=False), LayerConfig(2, batch_norm=False)))
    model = build_model(cfg).eval()
    with torch.no_grad():
        model.blocks[0].linear.weight.fill_(0.5)  # all +1
        model.blocks[0].linear.weight[1] = -0.5  # all -1
        model.blocks[0].linear.weight[2, :392] = 0.0  # sign(0) = +1 weights, half of them
        model.blocks[0].linear.weight[2, 392:] = -0.5
    x = torch.zeros(1, 784)
    x[0, ::2] = 1.0  # 392 pixels at +1 and 392 at -1 after x*2-1: every dot is 0 here
    packed = export_packed(model)
    assert packed.layers[0].kind == "bitplane"
    with torch.no_grad():
        ref = model.trace(x)[0]
    assert (ref.pre == 0).all()
    np.testing.assert_array_equal(packed.layer_outputs(x)[0], [[1, 1, 1, 1]])
    np.testing.assert_array_equal(packed.layer_outputs(x)[0], ref.post.numpy())


def test_off_grid_images_use_float_first_layer():
    model = build_model(ModelConfig(layers=(LayerConfig(128), LayerConfig(10, binarize_activations=False))))
    randomize(model, seed=7)
    packed = export_packed(model)
    x = grid_images(60, seed=8)
    x[::2] += torch.rand(x[::2].shape) * 1e-3  # every other image is not 8-bit
    with torch.no_grad():
        ref = model(x)
    assert (packed.predict(x) == ref.argmax(1).numpy()).all()
    np.testing.assert_allclose(packed.scores(x), ref.numpy(), rtol=0, atol=1e-3)


# --- other layer types --------------------------------------------------------------------------


def test_binarized_output_layer_ties_go_to_lowest_class():
    """The "seed" bug: output activations binarized; scores are ±1 and argmax picks the
    lowest of the tied classes, exactly as the float model's argmax."""
    model = build_model(ModelConfig(layers=(LayerConfig(64), LayerConfig(10))))
    randomize(model, seed=9)
    packed = export_packed(model)
    x = grid_images(200, seed=10)
    with torch.no_grad():
        ref = model(x)
    scores = packed.scores(x)
    assert set(np.unique(scores)) <= {-1.0, 1.0}
    np.testing.assert_array_equal(scores, ref.numpy())
    np.testing.assert_array_equal(packed.predict(x), ref.argmax(1).numpy())
    assert ((scores == 1).sum(axis=1) > 1).any(), "the test must contain ties"


def test_non_binary_layers_get_float_fallback():
    cfg = ModelConfig(
        layers=(
            LayerConfig(64, binarize_activations=False),  # real activations -> next layer float
            LayerConfig(48, binarize_weights=False),  # real weights -> float
            LayerConfig(32),
            LayerConfig(10, binarize_activations=False),
        ),
        real_activation="hardtanh",
    )
    model = build_model(cfg)
    randomize(model, seed=11)
    packed = export_packed(model)
    assert [layer.kind for layer in packed.layers] == ["bitplane", "float", "xnor", "xnor"]
    x = grid_images(100, seed=12)
    with torch.no_grad():
        ref = model(x)
    np.testing.assert_array_equal(packed.predict(x), ref.argmax(1).numpy())
    np.testing.assert_allclose(packed.scores(x), ref.numpy(), rtol=0, atol=1e-3)
    # a model without any binarization is all float fallback and still agrees
    plain = build_model(
        ModelConfig(
            layers=(
                LayerConfig(32, binarize_weights=False, binarize_activations=False),
                LayerConfig(10, binarize_weights=False, binarize_activations=False),
            )
        )
    )
    randomize(plain, seed=13)
    packed_plain = export_packed(plain)
    assert [layer.kind for layer in packed_plain.layers] == ["float", "float"]
    with torch.no_grad():
        np.testing.assert_array_equal(packed_plain.predict(x), plain(x).argmax(1).numpy())


def test_nan_weights_are_refused():
    model = build_model(ModelConfig(layers=(LayerConfig(16), LayerConfig(10, binarize_activations=False))))
    with torch.no_grad():
        model.blocks[0].linear.weight[0, 0] = float("nan")
    with pytest.raises(XnorExportError, match="NaN"):
        export_packed(model)


# --- bytes, save and load ----------------------------------------------------------------------------


@pytest.mark.slow  # builds the paper's 147 MB model
def test_paper_size_bytes():
    cfg = ModelConfig(
        layers=(LayerConfig(4096), LayerConfig(4096), LayerConfig(4096), LayerConfig(10, binarize_activations=False))
    )
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    packed = export_packed(model)
    bits = 4096 * 13 * 64 + 2 * 4096 * 64 * 64 + 10 * 64 * 64  # rows padded to 64-bit words
    assert packed.nbytes >= bits // 8
    assert 4.5e6 < packed.nbytes < 4.9e6  # ~4.6 MB
    assert float_nbytes(model) == 4 * sum(p.numel() for p in model.parameters())
    assert 147e6 < float_nbytes(model) < 148e6  # ~147 MB
    x = grid_images(2, seed=14)
    with torch.no_grad():
        np.testing.assert_array_equal(packed.predict(x), model(x).argmax(1).numpy())


def test_save_load_roundtrip(tmp_path):
    model = build_model(
        ModelConfig(layers=(LayerConfig(100), LayerConfig(70), LayerConfig(10, binarize_activations=False)))
    )
    randomize(model, seed=15)
    packed = export_packed(model)
    path = tmp_path / "model.bnnx"
    size = save_packed(packed, path)
    assert size == path.stat().st_size and packed.nbytes < size < packed.nbytes + 8192
    loaded = load_packed(path)
    assert loaded.nbytes == packed.nbytes
    x = grid_images(50, seed=16)
    np.testing.assert_array_equal(loaded.scores(x), packed.scores(x))
    for a, b in zip(loaded.layers, packed.layers):
        assert a.arrays.keys() == b.arrays.keys()
        for key in a.arrays:
            np.testing.assert_array_equal(a.arrays[key], b.arrays[key])


def test_output_table_is_saved_and_read(tmp_path):
    """The float output layer's every score is in the file (readers without torch use these very
    floats), equal to the model's own float32 BatchNorm, and the reader takes it from the file."""
    model = build_model(ModelConfig(layers=(LayerConfig(64), LayerConfig(10, binarize_activations=False))))
    randomize(model, seed=21)
    packed = export_packed(model)
    output = packed.layers[-1]
    table = output.arrays["table"]
    assert table.shape == (64 + 1, 10) and table.dtype == np.float32
    popcounts = np.arange(65)
    z = torch.from_numpy((64 - 2 * popcounts).astype(np.float32)[:, None] + output.arrays["bias"])
    with torch.no_grad():
        np.testing.assert_array_equal(table, model.blocks[-1].norm(z).numpy())
    assert packed.nbytes == sum(a.nbytes for k, a in output.arrays.items() if k != "table") + packed.layers[0].nbytes
    path = tmp_path / "model.bnnx"
    output.arrays["table"] = table + np.float32(1000.0)  # a reader that recomputed the scores would not see this
    output._cache.clear()
    save_packed(packed, path)
    x = grid_images(20, seed=22)
    with torch.no_grad():
        np.testing.assert_array_equal(load_packed(path).scores(x), model(x).numpy() + np.float32(1000.0))


def test_load_rejects_foreign_and_damaged_files(tmp_path):
    model = build_model(ModelConfig(layers=(LayerConfig(32), LayerConfig(10, binarize_activations=False))))
    good = tmp_path / "good.bnnx"
    save_packed(export_packed(model), good)
    data = good.read_bytes()

    foreign = {
        "random.bin": np.random.default_rng(0).bytes(1000),
        "empty.bin": b"",
        "text.json": json.dumps({"format": "bnn-playground-xnor"}).encode(),
        "truncated.bnnx": data[:-10],
        "corrupt.bnnx": data[:-1] + bytes([data[-1] ^ 0xFF]),
    }
    np.savez(tmp_path / "arrays.npz", a=np.zeros(3))
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    for name, blob in foreign.items():
        (tmp_path / name).write_bytes(blob)
    for name in list(foreign) + ["arrays.npz", "weights.pt"]:
        with pytest.raises(PackedFileError, match="not a BNN Playground packed model"):
            load_packed(tmp_path / name)
    newer = bytearray(data)
    newer[8:12] = (99).to_bytes(4, "little")
    (tmp_path / "newer.bnnx").write_bytes(bytes(newer))
    with pytest.raises(PackedFileError, match="version 99"):
        load_packed(tmp_path / "newer.bnnx")
    # a well-formed file whose arrays do not fit together is refused too
    header_len = int.from_bytes(data[12:16], "little")
    header = json.loads(data[16 : 16 + header_len])
    header["layers"][0]["out_features"] = 31
    text = json.dumps(header, separators=(",", ":")).encode()
    pre = MAGIC + (1).to_bytes(4, "little") + len(text).to_bytes(4, "little") + text
    pre += b"\x00" * ((-len(pre)) % 8)
    start = 16 + header_len
    start += (-start) % 8
    payload = data[start:]
    assert zlib.crc32(payload) == header["payload_crc32"]
    (tmp_path / "bad_shape.bnnx").write_bytes(pre + payload)
    with pytest.raises(PackedFileError):
        load_packed(tmp_path / "bad_shape.bnnx")


# --- a trained model on MNIST (the ``mnist`` fixture of conftest.py skips when it is absent) ----------


def _train_small(mnist, steps: int = 200):
    cfg = ModelConfig(layers=(LayerConfig(256), LayerConfig(256), LayerConfig(10, binarize_activations=False)))
    try:
        from bnn.config.schema import RunConfig
        from bnn.config.train_settings import TrainConfig
        from bnn.training.loop import Trainer
    except ImportError:
        Trainer = None
    if Trainer is not None:
        train_cfg = TrainConfig(
            optimizer="adam",
            lr=1e-2,
            lr_end=1e-3,
            batch_size=100,
            epochs=1,
            train_subset=steps * 100,
            loss="cross_entropy",
        )
        trainer = Trainer(RunConfig(model=cfg, train=train_cfg), mnist, device="cpu")
        from bnn.training.data import iterate_batches

        for indices in iterate_batches(len(trainer.data.train_labels), 100, trainer.generator):
            trainer.train_step(trainer.data.train_images[indices], trainer.data.train_labels[indices])
        return trainer.model.eval()
    from bnn.network.layers import clip_latent_weights

    torch.manual_seed(0)
    model = build_model(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(0, len(mnist.train_labels), (100,), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(mnist.train_images[idx]), mnist.train_labels[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        clip_latent_weights(model)
    return model.eval()


@pytest.mark.slow  # trains on MNIST, then runs both engines on all 10,000 test images
def test_trained_mlp_agrees_on_all_mnist_test_images(mnist, tmp_path):
    model = _train_small(mnist)
    x, y = mnist.test_images, mnist.test_labels
    with torch.no_grad():
        ref = torch.cat([model(x[i : i + 1000]) for i in range(0, len(x), 1000)])
    assert (ref.argmax(1) == y).float().mean() > 0.8  # it did learn
    path = tmp_path / "trained.bnnx"
    save_packed(export_packed(model), path)
    packed = load_packed(path)
    scores = packed.scores(x)
    np.testing.assert_array_equal(packed.predict(x), ref.argmax(1).numpy())  # 100% agreement
    assert packed.nbytes * 20 < float_nbytes(model)
    # Scores agree up to float rounding. A batched float GEMM adds the bias inside its blocked
    # accumulation, so now and then a hidden pre-activation within an ulp of 0 gets the other
    # sign in the batched float run and the scores move by a step; at batch size 1 the float
    # model computes float32(dot + bias) exactly like the packed engine: identical numbers.
    far = np.flatnonzero(np.abs(scores - ref.numpy()).max(axis=1) > 1e-4 * float(ref.abs().max()))
    assert len(far) <= 10
    with torch.no_grad():
        for i in list(far) + list(range(0, 10000, 1999)):
            np.testing.assert_array_equal(packed.scores(x[i : i + 1]), model(x[i : i + 1]).numpy())


def _with_header(data: bytes, change) -> bytes:
    """A saved file with its JSON header changed by ``change(header) -> header or text``, payload kept."""
    header_len = int.from_bytes(data[12:16], "little")
    start = 16 + header_len
    payload = data[start + (-start) % 8 :]
    header = change(json.loads(data[16:start]))
    text = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    pre = MAGIC + (1).to_bytes(4, "little") + len(text).to_bytes(4, "little") + text
    return pre + b"\x00" * ((-len(pre)) % 8) + payload


def _set(path: list, value):
    def change(header):
        target = header
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return header

    return change


@pytest.mark.parametrize(
    "change, reason",
    [
        (_set(["layers", 0, "arrays", 0, "shape"], "12"), "must be a list"),
        (_set(["layers", 0, "arrays", 0, "shape"], [float("inf")]), "Infinity is not a number"),
        (_set(["layers", 0, "arrays", 0, "shape"], [1e300]), "must be an integer"),
        (_set(["layers", 0, "arrays", 0, "offset"], 2**80), "must be an integer"),
        (_set(["layers", 0, "pool"], "false"), "must be true or false"),
        (_set(["input_binarize"], 0), "must be true or false"),
        (_set(["layers", 0, "in_features"], True), "must be an integer"),
        (_set(["layers", 0, "in_features"], 784.0), "must be an integer"),
        (_set(["layers", 0, "name"], ["x"]), "must be a text"),
        (_set(["layers", 0, "eps"], float("nan")), "NaN is not a number"),
        (_set(["layers", 0, "eps"], -1), "eps must be"),
        (_set(["layers"], {"0": 1}), "must be a list"),
        (_set(["image_shape"], [1, 28, 28, 1]), "must have 3 sizes"),
        (lambda header: b"[" * 100_000 + b"]" * 100_000, "RecursionError"),
        (lambda header: json.dumps({"a": [[[[1]]]] * 3}).encode(), "does not name the format"),
    ],
)
def test_load_rejects_crafted_headers_with_its_own_error(tmp_path, change, reason):
    """Issue 30, point 10: whatever the header holds, the reader raises PackedFileError naming why
    (OverflowError, RecursionError and truthy strings were let through)."""
    model = build_model(ModelConfig(layers=(LayerConfig(32), LayerConfig(10, binarize_activations=False))))
    data = _with_header(open_saved(tmp_path, model), lambda h: h)
    assert load_packed(tmp_path / "good.bnnx").nbytes > 0
    (tmp_path / "crafted.bnnx").write_bytes(_with_header(data, change))
    with pytest.raises(PackedFileError, match=reason):
        load_packed(tmp_path / "crafted.bnnx")


def open_saved(tmp_path, model) -> bytes:
    save_packed(export_packed(model), tmp_path / "good.bnnx")
    return (tmp_path / "good.bnnx").read_bytes()


def test_load_refuses_large_files_directories_and_devices(tmp_path, monkeypatch):
    from bnn.xnor import fileformat

    model = build_model(ModelConfig(layers=(LayerConfig(32), LayerConfig(10, binarize_activations=False))))
    data = open_saved(tmp_path, model)
    monkeypatch.setattr(fileformat, "MAX_FILE_BYTES", len(data) - 1)
    with pytest.raises(PackedFileError, match="larger than"):
        load_packed(tmp_path / "good.bnnx")
    monkeypatch.setattr(fileformat, "MAX_FILE_BYTES", 256 << 20)
    huge_header = data[:12] + (fileformat.MAX_HEADER_BYTES + 1).to_bytes(4, "little") + data[16:]
    (tmp_path / "huge_header.bnnx").write_bytes(huge_header)
    with pytest.raises(PackedFileError, match="header is"):
        load_packed(tmp_path / "huge_header.bnnx")
    with pytest.raises(PackedFileError, match="not a regular file|cannot read"):
        load_packed(tmp_path)
    with pytest.raises(PackedFileError, match="cannot read"):
        load_packed(tmp_path / "missing.bnnx")
    if os.path.exists("/dev/zero"):
        with pytest.raises(PackedFileError, match="not a regular file"):
            load_packed("/dev/zero")
    assert fileformat.packed_from_bytes(data).nbytes == export_packed(model).nbytes
