"""The fused compiled kernels (bnn.xnor.kernels) against the numpy reference engine, bit for bit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest
import torch
from test_xnor import grid_images, randomize

from bnn.config.model_settings import InputConfig, LayerConfig, ModelConfig
from bnn.network.models import build_model
from bnn.xnor import GRID_TOL, export_packed, kernels, pack_bits, unpack_bits
from bnn.xnor import numpy_kernels as reference

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["serial", "parallel"])
def threads(request, monkeypatch) -> int:
    """1 thread, or 2 threads with every kernel launched in parallel however small the work."""
    if request.param == "serial":
        return 1
    monkeypatch.setattr(kernels, "_default_parallel_min_words", lambda: 0)
    return 2


def assert_same_outputs(model, x, threads: int) -> None:
    """Every layer's output and the scores of the fused engine equal the numpy engine's exactly."""
    fused = export_packed(model, threads=threads)
    numpy_engine = fused.with_engine("numpy")
    assert fused.engine == "fused" and numpy_engine.engine == "numpy"
    for got, expect in zip(fused.layer_outputs(x), numpy_engine.layer_outputs(x), strict=True):
        assert got.dtype == expect.dtype
        np.testing.assert_array_equal(got, expect)
    np.testing.assert_array_equal(fused.scores(x), numpy_engine.scores(x))


@pytest.mark.parametrize("k", [1, 63, 64, 65, 130, 4096])
@pytest.mark.parametrize("units", [1, 10, 64, 65, 200])
@pytest.mark.parametrize("n", [1, 3, 4, 9])
def test_xnor_bits_and_counts_match_numpy_with_ties(k, units, n, threads):
    rng = np.random.default_rng(k * 1000 + units * 10 + n)
    a = pack_bits(rng.random((n, k)) < 0.5)
    w = pack_bits(rng.random((units, k)) < 0.5)
    counts = reference.xor_popcount(a, np.ascontiguousarray(w.T)).astype(np.int64)
    np.testing.assert_array_equal(kernels.xnor_counts(a, w, threads), counts)
    # thresholds equal to some image's exact popcount (ties: p <= t is +1), and out of range
    threshold = counts[rng.integers(0, n, units), np.arange(units)].astype(np.int32)
    threshold[3::7] = -1  # never
    threshold[5::7] = k  # always
    words = kernels.xnor_bits(a, w, threshold, units, threads)
    assert words.shape == (n, (units + 63) // 64)
    np.testing.assert_array_equal(unpack_bits(words, units), counts <= threshold)
    assert (counts == threshold).any(), "the test must contain exact ties"
    padding = unpack_bits(words, words.shape[1] * 64)[:, units:]
    assert not padding.any(), "padding bits of the next layer's words must be 0"


def test_many_images_in_several_image_blocks_match_numpy(threads):
    """600 images of 4096 bits: chunks of 256 images (kernels.IMAGE_BYTES), a tail of 88 that is not
    a multiple of the 4-image register block, and unit blocks that split an output word range."""
    rng = np.random.default_rng(8)
    a = pack_bits(rng.random((600, 4096)) < 0.5)
    w = pack_bits(rng.random((130, 4096)) < 0.5)
    counts = reference.xor_popcount(a, np.ascontiguousarray(w.T)).astype(np.int64)
    threshold = counts[rng.integers(0, 600, 130), np.arange(130)]
    np.testing.assert_array_equal(kernels.xnor_counts(a, w, threads), counts)
    np.testing.assert_array_equal(
        unpack_bits(kernels.xnor_bits(a, w, threshold, 130, threads), 130), counts <= threshold
    )


def plane_program(steps, perm, alpha=0, beta=0):
    return kernels.program(steps, in_features=784, perm=perm, grid_tol=GRID_TOL, alpha=alpha, beta=beta)


@pytest.mark.parametrize("n", [1, 2, 5, 40])
def test_pixel_planes_and_plane_layers_match_numpy(n, threads):
    x = grid_images(n, seed=n).reshape(n, -1).numpy()
    x[0, 5] = 1.0  # a full-scale pixel
    perm = np.random.default_rng(n).permutation(784).astype(np.int64)
    units = 130
    pt = np.ascontiguousarray(pack_bits(np.random.default_rng(0).random((units, 784)) < 0.5).T)
    result = kernels.run(plane_program([kernels.Step(kernels.PLANE_SUMS, units, pt)], perm), x, threads)
    levels = np.rint(x * np.float32(255)).astype(np.uint8)[:, perm]
    expect = reference.bit_planes(levels)  # (N, 8, words)
    np.testing.assert_array_equal(result.planes, expect.transpose(0, 2, 1))
    np.testing.assert_array_equal(result.pixel_sum, levels.sum(axis=1, dtype=np.int64))
    assert result.on_grid.all()
    for i in range(n):
        nonzero = np.flatnonzero(expect[i].any(axis=0))
        assert tuple(result.word_range[i]) == (nonzero[0], nonzero[-1] + 1)
    g_expect = reference.plane_popcount(expect, pt).astype(np.int64)
    np.testing.assert_array_equal(result.outputs[0], g_expect)
    pixel_sum = result.pixel_sum
    c = g_expect[0] * 4 - 2 * pixel_sum[0]  # image 0 sits exactly on every threshold
    bits_program = plane_program([kernels.Step(kernels.PLANE_BITS, units, pt, c)], perm, alpha=4, beta=-2)
    words = kernels.run(bits_program, x, threads).outputs[0]
    np.testing.assert_array_equal(unpack_bits(words, units), 4 * g_expect - 2 * pixel_sum[:, None] >= c)
    assert unpack_bits(words, units)[0].all()


def test_pixel_planes_flag_images_off_the_8_bit_grid():
    x = grid_images(4, seed=3).reshape(4, -1).numpy()
    x[1, 10] += 1e-3
    x[2, 20] = np.nan
    x[3, 30] = 1.5
    on_grid = kernels.run(plane_program([], np.arange(784)), x, 1).on_grid
    np.testing.assert_array_equal(on_grid, [True, False, False, False])


def test_a_program_chains_layers_without_unpacking(threads):
    """Bit-planes -> bit-plane layer -> two XNOR layers -> popcounts, in one call, equals the layers
    one by one (each checked against numpy above)."""
    rng = np.random.default_rng(5)
    x = grid_images(9, seed=6).reshape(9, -1).numpy()
    perm = rng.permutation(784)
    pt = np.ascontiguousarray(pack_bits(rng.random((100, 784)) < 0.5).T)
    w1, w2 = pack_bits(rng.random((70, 100)) < 0.5), pack_bits(rng.random((10, 70)) < 0.5)
    c, t1 = rng.integers(-20000, 20000, 100), rng.integers(30, 70, 70)
    steps = [
        kernels.Step(kernels.PLANE_BITS, 100, pt, c),
        kernels.Step(kernels.XNOR_BITS, 70, w1, t1),
        kernels.Step(kernels.XNOR_COUNTS, 10, w2),
    ]
    whole = kernels.run(plane_program(steps, perm, alpha=4, beta=-2), x, threads).outputs
    first = kernels.run(plane_program(steps[:1], perm, alpha=4, beta=-2), x, threads).outputs[0]
    second = kernels.xnor_bits(first, w1, t1, 70, threads)
    np.testing.assert_array_equal(whole[0], first)
    np.testing.assert_array_equal(whole[1], second)
    np.testing.assert_array_equal(whole[2], kernels.xnor_counts(second, w2, threads))


def test_a_program_refuses_steps_that_do_not_fit():
    w, pt = np.zeros((70, 2), np.uint64), np.zeros((2, 70), np.uint64)
    with pytest.raises(ValueError, match="one threshold per unit"):
        kernels.program([kernels.Step(kernels.XNOR_BITS, 70, w)], in_features=128)
    with pytest.raises(ValueError, match="only the last step"):
        steps = [kernels.Step(kernels.XNOR_COUNTS, 70, w), kernels.Step(kernels.XNOR_COUNTS, 70, w)]
        kernels.program(steps, in_features=128)
    with pytest.raises(ValueError, match="bit-plane step comes first"):
        kernels.program([kernels.Step(kernels.PLANE_SUMS, 70, pt)], in_features=128)
    with pytest.raises(ValueError, match="expected"):
        kernels.program([kernels.Step(kernels.XNOR_COUNTS, 70, w)], in_features=64)


@pytest.mark.slow  # a fresh process imports numba and the kernels
def test_fewer_threads_than_tasks_still_finish():
    """Every chunk is handed out by an atomic counter and nobody waits for an unclaimed one, so a
    parallel run whose tasks share one thread (here: numba limited to 1 thread) ends, with the same bits."""
    script = textwrap.dedent(
        """
        import numba, numpy as np
        from bnn.xnor import kernels, pack_bits
        rng = np.random.default_rng(0)
        a, w = pack_bits(rng.random((7, 300)) < 0.5), pack_bits(rng.random((500, 300)) < 0.5)
        threshold = rng.integers(100, 200, 500)
        expect = kernels.xnor_bits(a, w, threshold, 500, 1)
        numba.set_num_threads = lambda n, real=numba.set_num_threads: real(1)
        program = kernels.program([kernels.Step(kernels.XNOR_BITS, 500, w, threshold)], in_features=300)
        assert (kernels.run(program, a, 2, 0).outputs[0] == expect).all()
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


@pytest.mark.parametrize("scale", ["pm1", "01"])
def test_random_networks_fused_equals_numpy(scale, threads):
    cfg = ModelConfig(
        input=InputConfig(scale=scale),
        layers=(LayerConfig(200), LayerConfig(70), LayerConfig(130), LayerConfig(10, binarize_activations=False)),
    )
    model = build_model(cfg)
    randomize(model, seed=21)
    x = grid_images(37, seed=22)
    x[5] += 1e-3  # one image off the 8-bit grid: its first layer runs in float32
    assert_same_outputs(model, x, threads)
    assert_same_outputs(model, x[:1], threads)


def test_binarized_input_and_output_and_float_layers_fused_equals_numpy(threads):
    binarized = build_model(
        ModelConfig(input=InputConfig(binarize=True), layers=(LayerConfig(96), LayerConfig(33), LayerConfig(10)))
    )
    randomize(binarized, seed=23)
    assert_same_outputs(binarized, grid_images(21, seed=24), threads)
    mixed = build_model(
        ModelConfig(
            layers=(
                LayerConfig(64, binarize_activations=False),
                LayerConfig(48, binarize_weights=False),
                LayerConfig(32),
                LayerConfig(10, binarize_activations=False),
            ),
            real_activation="hardtanh",
        )
    )
    randomize(mixed, seed=25)
    assert [layer.kind for layer in export_packed(mixed).layers] == ["bitplane", "float", "xnor", "xnor"]
    assert_same_outputs(mixed, grid_images(13, seed=26), threads)
    float_first = build_model(ModelConfig(layers=(LayerConfig(40, binarize_activations=False), LayerConfig(10))))
    randomize(float_first, seed=27)
    assert [(layer.kind, layer.output) for layer in export_packed(float_first).layers][0] == ("bitplane", "float")
    assert_same_outputs(float_first, grid_images(9, seed=28), threads)


def test_exact_ties_in_a_hidden_layer_fused_equals_float_model(threads):
    cfg = ModelConfig(
        input=InputConfig(binarize=True),
        layers=(LayerConfig(96), LayerConfig(33), LayerConfig(10, binarize_activations=False)),
    )
    model = build_model(cfg)
    randomize(model, seed=2)
    with torch.no_grad():  # pre-activation exactly 0 for some images: sign(0) = +1
        model.blocks[1].linear.bias.zero_()
        model.blocks[1].norm.running_mean.copy_(2 * torch.randint(-4, 5, (33,)).float())
        model.blocks[1].norm.bias.zero_()
    x = grid_images(300, seed=4)
    trace = model.trace(x)
    assert (trace[1].pre == 0).any(), "the test must contain exact ties"
    fused = export_packed(model, threads=threads)
    outs = fused.layer_outputs(x)
    np.testing.assert_array_equal(outs[1], trace[1].post.numpy())
    assert_same_outputs(model, x, threads)


def test_trained_model_fused_equals_numpy_and_float(mnist):
    from bnn.jobs.run_folders import load_run

    model = load_run(ROOT / "assets" / "pretrained-fast").model()
    x = mnist.test_images[:1500]
    assert_same_outputs(model, x, 1)
    packed = export_packed(model, threads=1)
    with torch.no_grad():
        ref = torch.cat([model(x[i : i + 500]) for i in range(0, len(x), 500)])
        np.testing.assert_array_equal(packed.predict(x), ref.argmax(1).numpy())
        for i in range(0, 1500, 299):  # batch 1: the float model's very numbers
            np.testing.assert_array_equal(packed.scores(x[i : i + 1]), model(x[i : i + 1]).numpy())


def test_small_work_stays_in_one_thread_where_waking_the_pool_is_dear(monkeypatch):
    kernels.warm_up()
    slow_pool = numba.threading_layer() == "workqueue"
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    spinning = kernels._parallel_min_words_here()
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")
    sleeping = kernels._parallel_min_words_here()
    if slow_pool:
        assert spinning == sleeping == kernels.WORKQUEUE_MIN_WORDS
    else:
        assert (spinning, sleeping) == (kernels.PARALLEL_MIN_WORDS, kernels.PASSIVE_MIN_WORDS)
    assert kernels.PARALLEL_MIN_WORDS < kernels.PASSIVE_MIN_WORDS < kernels.WORKQUEUE_MIN_WORDS


def test_building_a_packed_model_compiles_the_kernels():
    model = build_model(ModelConfig(layers=(LayerConfig(16), LayerConfig(10, binarize_activations=False))))
    kernels._warm = False
    export_packed(model)
    assert kernels._SERIAL.signatures and kernels._PARALLEL.signatures


@pytest.mark.slow  # a fresh process compiles every kernel (~45 s)
def test_works_without_a_writable_cache_directory(tmp_path):
    """No cache locator at all (read-only install, no writable home): compiled in memory, same bits."""
    script = textwrap.dedent(
        """
        import numba.core.caching as caching
        caching.CacheImpl._locator_classes = []  # as when no directory is writable
        import numpy as np
        from bnn.xnor import export_packed, kernels
        from bnn.config.schema import ModelConfig, LayerConfig
        from bnn.network.models import build_model
        assert not kernels._SERIAL._cache.__class__.__name__ == "FunctionCache"
        model = build_model(ModelConfig(layers=(LayerConfig(64), LayerConfig(10, binarize_activations=False))))
        packed = export_packed(model, threads=1)
        x = np.zeros((3, 784), dtype=np.float32)
        assert (packed.scores(x) == packed.with_engine("numpy").scores(x)).all()
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


# --- convolutions -----------------------------------------------------------------------------------


def conv_thresholds(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """T then s per unit: s = ±1 at random, T = s * d of a random image and position (an exact tie
    there: s * d >= T holds with equality), some units always and never +1."""
    units = d.shape[-1]
    flat = d.reshape(-1, units)
    s = rng.choice([-1, 1], size=units)
    t = s * flat[rng.integers(0, len(flat), units), np.arange(units)]
    t[3::7] = -(1 << 20)  # always
    t[5::7] = 1 << 20  # never
    return np.concatenate([t, s]).astype(np.int64)


def expected_conv_bits(d: np.ndarray, thresholds: np.ndarray, pool: bool) -> np.ndarray:
    units = d.shape[-1]
    pooled = reference.max_pool(d) if pool else d
    return thresholds[units:] * pooled >= thresholds[:units]


@pytest.mark.parametrize(
    "channels, size, units, ksize, pool, n",
    [(32, 14, 64, 3, True, 3), (70, 7, 10, 3, False, 5), (5, 9, 130, 5, True, 2), (64, 6, 33, 1, False, 1)],
)
def test_xnor_conv_matches_numpy_with_ties(channels, size, units, ksize, pool, n, threads):
    """Channel words (1 or 2, with padding bits), odd sizes (the pool drops the last row and column),
    units not a multiple of 64, 1x1 and 5x5 kernels, ties at the thresholds."""
    rng = np.random.default_rng(channels + size + units)
    cw = (channels + 63) // 64
    a = pack_bits(rng.random((n, size, size, channels)) < 0.5)  # (N, H, W, Cw)
    w = pack_bits(rng.random((units, ksize * ksize, channels)) < 0.5)  # (U, taps, Cw)
    wt = np.ascontiguousarray(w.transpose(1, 2, 0))  # (taps, Cw, U)
    d = reference.xnor_conv(a, wt, channels, ksize)
    thresholds = conv_thresholds(reference.max_pool(d) if pool else d, rng)
    geometry = (channels, size, size, ksize, pool)
    step = kernels.Step(kernels.CONV_BITS, units, wt.reshape(-1, units), thresholds, geometry)
    prog = kernels.program([step], in_features=channels * size * size, in_words=size * size * cw)
    words = kernels.run(prog, a.reshape(n, -1), threads).outputs[0]
    out = size // 2 if pool else size
    got = unpack_bits(words.reshape(n, out, out, -1), units)
    expect = expected_conv_bits(d, thresholds, pool)
    np.testing.assert_array_equal(got, expect)
    pooled = reference.max_pool(d) if pool else d
    assert (thresholds[units:] * pooled == thresholds[:units]).any(), "the test must contain exact ties"
    padding = unpack_bits(words.reshape(n, out, out, -1), 64 * words.shape[1] // (out * out))[..., units:]
    assert not padding.any(), "padding bits of the next layer's words must be 0"


def test_numpy_conv_references_equal_torch_with_zero_padding():
    """The references against F.conv2d in float64 (exact integers): a padded tap adds 0."""
    rng = np.random.default_rng(1)
    signs = rng.choice([-1, 1], size=(2, 7, 6, 6))
    w = rng.choice([-1, 1], size=(9, 7, 5, 5))
    expect = torch.nn.functional.conv2d(torch.from_numpy(signs * 1.0), torch.from_numpy(w * 1.0), padding=2)
    a = pack_bits(signs.transpose(0, 2, 3, 1) > 0)
    wt = np.ascontiguousarray(pack_bits(w.transpose(0, 2, 3, 1).reshape(9, 25, 7) > 0).transpose(1, 2, 0))
    np.testing.assert_array_equal(reference.xnor_conv(a, wt, 7, 5), expect.numpy().transpose(0, 2, 3, 1))
    q = rng.integers(-255, 256, size=(2, 3, 8, 8))
    w3 = rng.choice([-1, 1], size=(4, 3, 3, 3))
    expect = torch.nn.functional.conv2d(torch.from_numpy(q * 1.0), torch.from_numpy(w3 * 1.0), padding=1)
    np.testing.assert_array_equal(reference.pixel_conv(q, w3), expect.numpy().transpose(0, 2, 3, 1))


@pytest.mark.parametrize("scale, pool, n", [("pm1", True, 3), ("01", False, 2), ("pm1", False, 1)])
def test_pixel_conv_matches_numpy_with_ties(scale, pool, n, threads):
    rng = np.random.default_rng(n)
    units, ksize = 40, 3
    x = grid_images(n, seed=n).reshape(n, -1).numpy()
    x[0, 0] = 1.0  # full scale, in a corner
    w = rng.choice([-1, 1], size=(units, 1, ksize, ksize))
    q_mul, q_add = (2, -255) if scale == "pm1" else (1, 0)
    q = (q_mul * np.rint(x * 255).astype(np.int64) + q_add).reshape(n, 1, 28, 28)
    d = reference.pixel_conv(q, w)
    thresholds = conv_thresholds(reference.max_pool(d) if pool else d, rng)
    masks = np.where(w.reshape(units, -1) > 0, -1, 0).T
    geometry = (1, 28, 28, ksize, pool, q_mul, q_add)
    step = kernels.Step(kernels.PIXEL_CONV_BITS, units, masks, thresholds, geometry)
    result = kernels.run(kernels.program([step], in_features=784, pixels=True, grid_tol=GRID_TOL), x, threads)
    out = 14 if pool else 28
    got = unpack_bits(result.outputs[0].reshape(n, out, out, -1), units)
    np.testing.assert_array_equal(got, expected_conv_bits(d, thresholds, pool))
    assert result.on_grid.all()
    x[-1, 100] += 1e-3
    assert not kernels.run(kernels.program([step], in_features=784, pixels=True, grid_tol=GRID_TOL), x, 1).on_grid[-1]


@pytest.mark.parametrize("pool", [True, False])
def test_blank_regions_of_a_conv_input_match_numpy(pool, threads):
    """Groups whose taps all read the same words (a blank background) copy the output of the last such
    group: on images that are blank but for a few spots, with two different blank words, the bits stay
    those of the reference, at the border (never copied) and inside."""
    rng = np.random.default_rng(11)
    n, size, channels, units = 3, 12, 40, 70
    blank = pack_bits(rng.random(channels) < 0.5)
    other = pack_bits(rng.random(channels) < 0.5)
    a = np.broadcast_to(blank, (n, size, size, 1)).copy()
    a[1, :, 6:] = other  # a second blank word: the remembered group must be replaced
    a[:, rng.integers(0, size, 5), rng.integers(0, size, 5)] = pack_bits(rng.random((5, channels)) < 0.5)
    w = pack_bits(rng.random((units, 9, channels)) < 0.5)
    wt = np.ascontiguousarray(w.transpose(1, 2, 0))
    d = reference.xnor_conv(a, wt, channels, 3)
    thresholds = conv_thresholds(reference.max_pool(d) if pool else d, rng)
    step = kernels.Step(kernels.CONV_BITS, units, wt.reshape(-1, units), thresholds, (channels, size, size, 3, pool))
    prog = kernels.program([step], in_features=channels * size * size, in_words=size * size)
    out = size // 2 if pool else size
    got = unpack_bits(kernels.run(prog, a.reshape(n, -1), threads).outputs[0].reshape(n, out, out, -1), units)
    np.testing.assert_array_equal(got, expected_conv_bits(d, thresholds, pool))
    x = np.zeros((n, 784), np.float32)  # blank pixels, a few strokes
    x[:, rng.integers(0, 784, 30)] = rng.integers(1, 256, 30) / np.float32(255)
    x[2] = 1.0  # all ink: another blank level
    masks_w = rng.choice([-1, 1], size=(units, 1, 3, 3))
    q = (2 * np.rint(x * 255).astype(np.int64) - 255).reshape(n, 1, 28, 28)
    e = reference.pixel_conv(q, masks_w)
    thresholds = conv_thresholds(reference.max_pool(e) if pool else e, rng)
    masks = np.where(masks_w.reshape(units, -1) > 0, -1, 0).T
    step = kernels.Step(kernels.PIXEL_CONV_BITS, units, masks, thresholds, (1, 28, 28, 3, pool, 2, -255))
    result = kernels.run(kernels.program([step], in_features=784, pixels=True, grid_tol=GRID_TOL), x, threads)
    out = 14 if pool else 28
    got = unpack_bits(result.outputs[0].reshape(n, out, out, -1), units)
    np.testing.assert_array_equal(got, expected_conv_bits(e, thresholds, pool))


def test_a_changed_kernel_source_drops_the_cached_kernels_of_all_of_them(tmp_path):
    """numba keys a cached function by its own file only; the kernels call across files."""
    from bnn.xnor import intrinsics

    for name in intrinsics.KERNEL_SOURCES:
        (tmp_path / name).write_text(f"# {name}\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    (cache / "kernels._program-1.py311.nbi").write_text("index")
    intrinsics.forget_stale_cache(tmp_path)  # no digest yet: dropped
    assert not list(cache.glob("*.nbi")) and (cache / intrinsics.SOURCES_STAMP).exists()
    (cache / "kernels._program-1.py311.nbi").write_text("index")
    intrinsics.forget_stale_cache(tmp_path)  # unchanged sources: kept
    assert list(cache.glob("*.nbi"))
    (tmp_path / "conv_steps.py").write_text("# edited\n")
    intrinsics.forget_stale_cache(tmp_path)  # a callee changed: dropped
    assert not list(cache.glob("*.nbi"))
