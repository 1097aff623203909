"""The packed engine against the float model, measured in one run (A/B interleaved): what the
Efficiency page shows and ``python -m benchmarks.xnor`` reports.

Ratios are float seconds / packed seconds, each the median of interleaved repeats, so both engines
see the same machine load. The float model is expected to have ``sign(W)`` stored once (the
fastest float32 PyTorch form, :func:`bnn.analysis.drawing.deployment_copy`); both run with the same threads.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import torch

from ..network.models import BinaryNet
from ..network.summary import evaluation_batch_size
from . import kernels
from .layer import PackedLayer
from .model import PackedModel

SINGLE_IMAGE_BLOCK = 25  # single images an engine answers in a row when both are timed in turns: a
# deployed engine keeps its weights in the caches between images, and alternating image by image
# would time the packed engine right after the float model streamed its weights (up to 147 MB)
# through the caches, and while the float model's OpenMP threads still spin on the other core


def float_predict(float_model: BinaryNet, images: torch.Tensor, batch: int | None = None) -> np.ndarray:
    """Class per image from the float model, ``batch`` images per forward (default: its fastest,
    :func:`bnn.network.summary.evaluation_batch_size`; at 1,000 images `best`'s float model took
    3-6.5 s for the test set, most of it faulting in fresh 100 MB tensors)."""
    if batch is None:
        batch = evaluation_batch_size(float_model.config)
    with torch.inference_mode():
        parts = [float_model(images[i : i + batch]).argmax(1) for i in range(0, len(images), batch)]
    return torch.cat(parts).numpy()


def time_test_set(
    float_model: BinaryNet, packed: PackedModel, images: torch.Tensor, repeats: int = 1
) -> dict[str, Any]:
    """Both engines over all ``images`` (float in :func:`float_predict`'s batches, packed in one call), interleaved
    ``repeats`` times: median seconds, their ratio and both predictions (for the agreement)."""
    flat = images.reshape(len(images), -1).numpy()
    float_s, packed_s = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        float_pred = float_predict(float_model, images)
        float_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        packed_pred = packed.predict(flat)
        packed_s.append(time.perf_counter() - started)
    f, p = statistics.median(float_s), statistics.median(packed_s)
    return {
        "n": len(images),
        "float_s": f,
        "packed_s": p,
        "ratio": f / p,
        "float_pred": float_pred,
        "packed_pred": packed_pred,
    }


def xnor_words_per_second(layer: PackedLayer, images: int, threads: int, repeats: int = 5) -> float:
    """uint64 words (images x units x words) per second through the fused kernel of a binarized
    XNOR layer, on random input words (the work does not depend on the values): the distance to
    the hardware limit of about one XOR + popcount per word per cycle and core in scalar code."""
    if layer.kind != "xnor" or layer.output != "bits":
        raise ValueError(f"{layer.name} is not a binarized XNOR layer")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, size=(images, layer.words), dtype=np.uint64)
    step = kernels.Step(kernels.XNOR_BITS, layer.out_features, layer.weight_rows(), layer.arrays["threshold"])
    program = kernels.program([step], in_features=layer.in_features, in_words=layer.words)  # built once, not timed
    kernels.run(program, a, threads)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        kernels.run(program, a, threads)
        times.append(time.perf_counter() - started)
    return images * layer.out_features * layer.words / statistics.median(times)
