"""The page's engine (assets/bnn_engine.js) in real Chromium against bnn.xnor and the float model.

The same module the Draw page's canvas component runs is loaded into a blank page and fed the bytes
of ``save_packed`` and the MNIST test images: on all 10,000, for ``fast`` (the shipped pretrained
run) and ``best`` (a short run of its architecture trained here), the predictions, the scores
(bit for bit) and every hidden layer's signs equal ``bnn.xnor``'s and the float model's. One packed
bit or one threshold changed in the file, and they do not. Bad bytes get a clear message. The page's
preprocessing gives the very bytes of ``bnn.analysis.preprocess`` for random drawings.
"""

from __future__ import annotations

import base64
import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from bnn.analysis.preprocess import preprocess_levels
from bnn.xnor import export_packed, load_packed, packed_bytes, save_packed
from tests.browser import ROOT, browser_available, chromium_page, load_engine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not browser_available(), reason="needs /usr/bin/chromium and playwright"),
]
CHUNK = 2500  # images per call into the page (bounds the strings crossing to the browser)

RUN_ENGINE = """async ({model, images, n}) => {
  const bytes = Uint8Array.from(atob(model), (c) => c.charCodeAt(0));
  const levels = Uint8Array.from(atob(images), (c) => c.charCodeAt(0));
  const net = window.bnn.parsePacked(bytes);
  const size = levels.length / n;
  const scores = new Float32Array(n * net.classes);
  const hidden = net.hidden.map((step) => new Uint8Array(Math.ceil((n * step.outSize) / 8)));
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const out = window.bnn.forward(net, levels.subarray(i * size, (i + 1) * size));
    scores.set(out.scores, i * net.classes);
    net.hidden.forEach((step, l) => {
      const bits = window.bnn.unitBits(step, out.layers[l]);
      for (let u = 0, at = i * step.outSize; u < bits.length; u++, at++) {
        if (bits[u]) hidden[l][at >> 3] |= 1 << (at & 7);
      }
    });
  }
  const ms = performance.now() - started;
  const b64 = (array) => {
    const u8 = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    let s = "";
    for (let i = 0; i < u8.length; i += 32768) s += String.fromCharCode.apply(null, u8.subarray(i, i + 32768));
    return btoa(s);
  };
  return { scores: b64(scores), hidden: hidden.map(b64), ms };
}"""


def _b64(array: np.ndarray | bytes) -> str:
    return base64.b64encode(bytes(array) if isinstance(array, bytes) else array.tobytes()).decode("ascii")


def run_in_page(page, model_bytes: bytes, levels: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], float]:
    """Scores (N, classes) float32, each hidden layer's bits (N, units) bool in the float model's
    order, and the engine's milliseconds, from the page's engine."""
    packed = load_packed(_file(model_bytes))
    scores, hidden, ms = [], [[] for _ in packed.layers[:-1]], 0.0
    for start in range(0, len(levels), CHUNK):
        part = np.ascontiguousarray(levels[start : start + CHUNK], dtype=np.uint8)
        out = page.evaluate(RUN_ENGINE, {"model": _b64(model_bytes), "images": _b64(part), "n": len(part)})
        scores.append(np.frombuffer(base64.b64decode(out["scores"]), dtype="<f4").reshape(len(part), -1))
        for layer, bits, store in zip(packed.layers, out["hidden"], hidden):
            flat = np.unpackbits(np.frombuffer(base64.b64decode(bits), np.uint8), bitorder="little")
            store.append(flat[: len(part) * layer.out_size].reshape(len(part), -1).astype(bool))
        ms += out["ms"]
    return np.concatenate(scores), [np.concatenate(h) for h in hidden], ms


_tmp = tempfile.mkdtemp(prefix="bnn-engine-test-")


def _file(model_bytes: bytes) -> Path:
    path = Path(_tmp) / f"{hash(model_bytes) & 0xFFFFFFFF:08x}.bnnx"
    path.write_bytes(model_bytes)
    return path


def mnist_levels(mnist) -> np.ndarray:
    levels = np.rint(mnist.test_images.reshape(len(mnist.test_images), -1).numpy() * 255)
    assert np.abs(mnist.test_images.reshape(len(levels), -1).numpy() * 255 - levels).max() < 1e-4  # the 8-bit grid
    return levels.astype(np.uint8)


def assert_agrees(page, model, mnist, model_bytes: bytes, label: str, count: int | None = None) -> float:
    """The page's engine on all 10,000 test images (or the first ``count``) equals bnn.xnor (scores bit
    for bit, every hidden sign) and the float model (predictions, hidden signs); returns the engine's
    ms per image."""
    levels = mnist_levels(mnist)[:count]
    scores, hidden, ms = run_in_page(page, model_bytes, levels)
    packed = load_packed(_file(model_bytes))
    x = torch.from_numpy(levels.astype(np.float32) / np.float32(255)).reshape((-1, *mnist.test_images.shape[1:]))
    expect_scores = packed.scores(x)
    np.testing.assert_array_equal(scores, expect_scores, err_msg=f"{label}: scores")
    outs = packed.layer_outputs(x)
    for layer, got, expect in zip(packed.layers, hidden, outs):
        np.testing.assert_array_equal(got, expect.reshape(len(x), -1) > 0, err_msg=f"{label}: {layer.name} signs")
    predicted = scores.argmax(1)
    with torch.no_grad():
        traces = [model.trace(x[i : i + 500]) for i in range(0, len(x), 500)]
    float_pred = torch.cat([t[-1].post for t in traces]).argmax(1).numpy()
    np.testing.assert_array_equal(predicted, float_pred, err_msg=f"{label}: predictions vs the float model")
    for index, got in enumerate(hidden):
        expect = torch.cat([t[index].post.flatten(1) for t in traces]).numpy() > 0
        np.testing.assert_array_equal(got, expect, err_msg=f"{label}: hidden layer {index} vs the float model")
    return ms / len(levels)


def mutated(model_bytes: bytes, change) -> bytes:
    """The file again after ``change(layers)`` edited its arrays (a valid file: the checksum is new)."""
    packed = load_packed(_file(model_bytes))
    layers = [
        dataclasses.replace(layer, arrays={k: v.copy() for k, v in layer.arrays.items()}) for layer in packed.layers
    ]
    for layer in layers:
        layer._cache.clear()
    change(layers)
    return packed_bytes(
        type(packed)(
            layers,
            input_scale=packed.input_scale,
            input_binarize=packed.input_binarize,
            image_shape=packed.image_shape,
            engine="numpy",
        )
    )


def assert_catches_changes(page, model, mnist, model_bytes: bytes, layer_index: int) -> None:
    """One weight bit, then one threshold, changed in the file (of a dense XNOR layer: every popcount
    is reachable, where a conv's dot products keep one parity and a threshold moved by 1 may change
    nothing), and the comparison fails."""

    def flip_bit(layers):
        layers[layer_index].arrays["weight_bits"][0, 0] ^= np.uint64(1)

    def move_threshold(layers):
        layers[layer_index].arrays["threshold"][0] += 1

    for change in (flip_bit, move_threshold):
        with pytest.raises(AssertionError):
            assert_agrees(page, model, mnist, mutated(model_bytes, change), change.__name__, count=2 * CHUNK)


@pytest.fixture(scope="module")
def page():
    with chromium_page() as browser_page:
        load_engine(browser_page)
        yield browser_page


def test_fast_agrees_on_all_test_images(page, mnist):
    from bnn.jobs.run_folders import load_run

    model = load_run(ROOT / "assets" / "pretrained-fast").model().eval()
    model_bytes = packed_bytes(export_packed(model))
    assert [layer.kind for layer in load_packed(_file(model_bytes)).layers] == ["bitplane", "xnor", "xnor"]
    ms = assert_agrees(page, model, mnist, model_bytes, "fast")
    print(f"fast: {ms:.3f} ms per image in the page's engine")
    assert_catches_changes(page, model, mnist, model_bytes, layer_index=1)


def _train_best(mnist, steps: int = 200):
    """The ``best`` architecture, trained briefly, BatchNorm statistics recomputed (as the preset does)."""
    from bnn.config.presets import PRESETS
    from bnn.training.data import iterate_batches
    from bnn.training.evaluation import recalibrate_batch_norm
    from bnn.training.loop import Trainer

    config = PRESETS["best"]
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=1, train_subset=steps * 100))
    trainer = Trainer(config, mnist, device="cpu")
    for indices in iterate_batches(len(trainer.data.train_labels), 100, trainer.generator):
        trainer.train_step(trainer.data.train_images[indices], trainer.data.train_labels[indices])
    recalibrate_batch_norm(trainer.model, trainer.data.train_images[:10000], trainer.config.train.batch_size)
    return trainer.model.eval()


def test_best_agrees_on_all_test_images(page, mnist):
    model = _train_best(mnist)
    model_bytes = packed_bytes(export_packed(model))
    kinds = [layer.kind for layer in load_packed(_file(model_bytes)).layers]
    assert kinds == ["pixelconv", "conv", "xnor", "xnor"]
    ms = assert_agrees(page, model, mnist, model_bytes, "best")
    print(f"best: {ms:.3f} ms per image in the page's engine")
    assert_catches_changes(page, model, mnist, model_bytes, layer_index=2)


PARSE = """(b64) => {
  try { window.bnn.parsePacked(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))); return "ok"; }
  catch (error) { return (error.serverOnly ? "server: " : "") + error.name + ": " + error.message; }
}"""


def test_bad_bytes_get_a_clear_message(page):
    from bnn.config.presets import PRESETS
    from bnn.network.models import build_model

    good = packed_bytes(export_packed(build_model(PRESETS["fast"].model).eval()))
    assert page.evaluate(PARSE, _b64(good)) == "ok"
    cases = {
        "truncated": (good[:-100], "truncated"),
        "magic": (b"PK\x03\x04" + good[4:], "magic bytes"),
        "checksum": (good[:-1] + bytes([good[-1] ^ 1]), "checksum"),
        "empty": (b"", "magic bytes"),
    }
    for name, (data, expect) in cases.items():
        message = page.evaluate(PARSE, _b64(data))
        assert message.startswith("PackedModelError") and expect in message, (name, message)

    def misfit(layers):  # a layer whose thresholds do not fit its units
        layers[1].arrays["threshold"] = layers[1].arrays["threshold"][:-1]

    packed = load_packed(_file(good))
    layers = [dataclasses.replace(layer, arrays=dict(layer.arrays)) for layer in packed.layers]
    misfit(layers)
    # written by hand: save_packed of an inconsistent model (PackedModel refuses to build one)
    bad = _save_unchecked(layers, packed)
    message = page.evaluate(PARSE, _b64(bad))
    assert "threshold" in message and message.startswith("PackedModelError"), message

    real = dataclasses.replace(PRESETS["fast"].model.layers[0], binarize_weights=False)
    ablation = PRESETS["fast"].model
    ablation = dataclasses.replace(ablation, layers=(real, *ablation.layers[1:]))
    message = page.evaluate(PARSE, _b64(packed_bytes(export_packed(build_model(ablation).eval()))))
    assert message.startswith("server: ") and "cannot be packed" in message, message


def _save_unchecked(layers, packed) -> bytes:
    class Loose:
        input_scale, input_binarize, image_shape = packed.input_scale, packed.input_binarize, packed.image_shape

    Loose.layers = layers
    path = Path(_tmp) / "loose.bnnx"
    save_packed(Loose, path)
    return path.read_bytes()


DRAW = """([seed, width, height, n]) => {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const out = [];
  for (let k = 0; k < n; k++) {
    const canvas = document.createElement("canvas");
    canvas.width = width; canvas.height = height;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, width, height);
    const strokes = k % 7 === 0 ? 0 : 1 + Math.floor(rand() * 4);
    for (let i = 0; i < strokes; i++) {
      const grey = k % 5 === 0 ? Math.floor(rand() * 256) : 255;
      ctx.strokeStyle = `rgba(${grey},${grey},${grey},${k % 3 === 0 ? rand().toFixed(2) : 1})`;
      ctx.lineWidth = 1 + rand() * 40; ctx.lineCap = "round"; ctx.lineJoin = "round";
      ctx.beginPath();
      let x = rand() * width, y = rand() * height;
      ctx.moveTo(x, y);
      const points = Math.floor(rand() * 12);
      for (let j = 0; j < points; j++) {
        x += (rand() - 0.5) * width * 0.5; y += (rand() - 0.5) * height * 0.5; ctx.lineTo(x, y);
      }
      ctx.stroke();
    }
    const rgba = ctx.getImageData(0, 0, width, height).data;
    const levels = window.bnn.preprocess(rgba, width, height);
    let bin = "";
    for (let i = 0; i < rgba.length; i += 32768) bin += String.fromCharCode.apply(null, rgba.subarray(i, i + 32768));
    out.push({ rgba: btoa(bin), levels: levels ? Array.from(levels) : null });
  }
  return out;
}"""


@pytest.mark.parametrize("width, height", [(280, 280), (280, 280), (97, 150), (400, 60)])
def test_preprocessing_is_byte_for_byte_the_same(page, width, height):
    seed = width * 1000 + height + (1 if width == 280 else 0)
    drawn = page.evaluate(DRAW, [int(seed + np.random.default_rng(seed).integers(1 << 20)), width, height, 60])
    nonempty = 0
    for case in drawn:
        rgba = np.frombuffer(base64.b64decode(case["rgba"]), np.uint8).reshape(height, width, 4)
        expect = preprocess_levels(rgba)
        if expect is None:
            assert case["levels"] is None
            continue
        nonempty += 1
        assert case["levels"] is not None
        np.testing.assert_array_equal(np.array(case["levels"], np.uint8).reshape(28, 28), expect)
    assert nonempty >= 30


GIVEN = """([b64, width, height]) => {
  const levels = window.bnn.preprocess(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)), width, height);
  return levels ? Array.from(levels) : null;
}"""


def test_preprocessing_of_given_canvases(page):
    """Python's own test drawings (tests/test_preprocess.py), and shapes whose centre of mass sits on a
    half pixel (the tie rule), a transparent background, grey and half-transparent ink."""
    from PIL import Image, ImageDraw

    from tests.test_preprocess import DIGITS, canvas

    cases = [canvas(draw) for draw in DIGITS.values()]
    for box in ([100, 40, 101, 239], [60, 60, 219, 69], [30, 30, 33, 30], [0, 0, 279, 279]):  # halves, full canvas
        cases.append(canvas(lambda d, box=box: d.rectangle(box, fill="white")))
    cases.append(canvas(DIGITS["seven"], transparent=True))
    grey = Image.new("RGBA", (200, 120), (0, 0, 0, 255))
    ImageDraw.Draw(grey).line([(20, 20), (180, 100)], fill=(200, 90, 40, 130), width=15)
    cases.append(np.array(grey))
    for rgba in cases:
        height, width = rgba.shape[:2]
        got = page.evaluate(GIVEN, [_b64(np.ascontiguousarray(rgba)), width, height])
        expect = preprocess_levels(rgba)
        assert (got is None) == (expect is None)
        if expect is not None:
            np.testing.assert_array_equal(np.array(got, np.uint8).reshape(28, 28), expect)
