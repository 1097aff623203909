"""Model summary in the spirit of larq's ``lq.models.summary``: parameters, memory and MACs.

As in larq, the numbers are kept apart from their printing: :func:`model_summary` returns a
:class:`ModelSummary` (plain dataclasses) and :func:`summary_rows` turns it into a list of dicts
for ``st.dataframe``.

What is counted, per layer:

* **1-bit parameters**: the weights of a layer whose ``binarize_weights`` is on (the forward pass
  only needs ``sign(W)``, one bit each; the real-valued latent weights are a training device).
* **32-bit parameters**: the weights of a layer that is not weight-binarized, the biases, and
  the BatchNorm scale and shift (gamma, beta).
* **BatchNorm running mean / variance are not parameters**: they are buffers, counted apart in
  ``n_buffers`` (two per unit) and *not* included in the memory figures nor the compression
  ratio, like ``model.parameters()`` (``num_batches_tracked`` is ignored). Inference does need
  them, but they can be folded into the bias / a per-unit threshold.
* **Memory**: ``packed_bytes`` = 1-bit params / 8 + 32-bit params * 4, with 1-bit weights
  packed 8 per byte; ``float32_bytes`` = all params at 4 bytes. Shown in decimal units (kB, MB)
  by :func:`format_bytes`, the one place sizes are formatted.
* **MACs** (multiply-accumulates) from the shapes: dense ``in * out``; conv
  ``H_out * W_out * C_out * C_in * k * k`` on the convolution's output, before pooling.
  Shapes, counts and MACs are the architecture plan's (:func:`bnn.config.architecture.plan`).
* **Binary MACs**: all MACs of a layer whose weights are binarized *and* whose input is ±1 (an
  XNOR-popcount). The first layer's input is real pixels unless input binarization is on; the
  input of a later layer is ±1 when the previous layer binarizes its activations (dropout is
  the identity at evaluation time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from ..config.architecture import LayerPlan, plan
from ..config.model_settings import ModelConfig
from ..config.schema import RunConfig

if TYPE_CHECKING:  # annotations only: a summary needs no PyTorch
    from .models import BinaryNet


@dataclass(frozen=True)
class LayerSummary(LayerPlan):
    """A layer's :class:`~bnn.config.architecture.LayerPlan` (its fields are the plan's) and the
    counts a summary shows, derived from them."""

    @classmethod
    def of(cls, layer: LayerPlan) -> LayerSummary:
        return cls(**{f.name: getattr(layer, f.name) for f in fields(LayerPlan)})

    @property
    def linear_values(self) -> int:
        """Values one image makes at the linear map's output (before any pool)."""
        return math.prod(self.linear_shape)

    @property
    def n_params_1bit(self) -> int:
        """Binarized weights."""
        return self.weights if self.binarize_weights else 0

    @property
    def n_params_32bit(self) -> int:
        """Real weights, biases, BatchNorm gamma and beta."""
        return self.n_params - self.n_params_1bit

    @property
    def n_buffers(self) -> int:
        """BatchNorm running mean and variance (not in the params nor the memory)."""
        return self.batch_norm_buffers

    @property
    def binary_weights(self) -> bool:
        return self.binarize_weights

    @property
    def binary_activations(self) -> bool:
        return self.binarize_activations

    @property
    def binarized_macs_share(self) -> float:
        return self.binary_macs / self.macs if self.macs else 0.0

    @property
    def packed_bytes(self) -> float:
        return self.n_params_1bit / 8 + self.n_params_32bit * 4

    @property
    def float32_bytes(self) -> int:
        return self.n_params * 4

    @property
    def kind_label(self) -> str:
        """ "dense", or "conv 3x3" / "conv 3x3 +pool"."""
        if self.kind != "conv":
            return self.kind
        return f"conv {self.kernel_size}x{self.kernel_size}" + (" +pool" if self.pool else "")


@dataclass(frozen=True)
class ModelSummary:
    layers: tuple[LayerSummary, ...]
    input_shape: tuple[int, int, int]  # channels, height, width
    input_binarized: bool
    total_params_1bit: int
    total_params_32bit: int
    total_buffers: int
    packed_bytes: float  # 1-bit params packed 8 per byte + 32-bit params at 4 bytes
    float32_bytes: int  # every param at 4 bytes
    weight_bytes_packed: float  # the weights alone (no bias / BatchNorm), as packed_bytes
    weight_bytes_float32: int  # the weights alone, at 4 bytes
    total_macs: int
    total_binary_macs: int

    @property
    def total_params(self) -> int:
        return self.total_params_1bit + self.total_params_32bit

    @property
    def compression_ratio(self) -> float:
        """float32 bytes / packed bytes (1.0 for a model with no binarized weight)."""
        return self.float32_bytes / self.packed_bytes if self.packed_bytes else 1.0

    @property
    def binarized_macs_share(self) -> float:
        return self.total_binary_macs / self.total_macs if self.total_macs else 0.0


def model_summary(model: BinaryNet | ModelConfig) -> ModelSummary:
    """Summarize a :class:`ModelConfig`, or a built :class:`~bnn.network.models.BinaryNet` with the
    binarization its layers use now (a run can switch it while training).

    Everything comes from the architecture plan, so even the paper's 37 M-parameter MLP is
    summarized instantly, without building it.
    """
    config = model if isinstance(model, ModelConfig) else _as_it_runs(model)
    layers = tuple(LayerSummary.of(layer) for layer in plan(config))
    weight_bytes_packed = sum(layer.weights / 8 if layer.binary_weights else layer.weights * 4 for layer in layers)
    weight_bytes_float32 = sum(layer.weights * 4 for layer in layers)
    total_1bit = sum(layer.n_params_1bit for layer in layers)
    total_32bit = sum(layer.n_params_32bit for layer in layers)
    return ModelSummary(
        layers=layers,
        input_shape=tuple(config.image_shape),  # type: ignore[arg-type]
        input_binarized=bool(config.input.binarize),
        total_params_1bit=total_1bit,
        total_params_32bit=total_32bit,
        total_buffers=sum(layer.n_buffers for layer in layers),
        packed_bytes=total_1bit / 8 + total_32bit * 4,
        float32_bytes=(total_1bit + total_32bit) * 4,
        weight_bytes_packed=weight_bytes_packed,
        weight_bytes_float32=weight_bytes_float32,
        total_macs=sum(layer.macs for layer in layers),
        total_binary_macs=sum(layer.binary_macs for layer in layers),
    )


def _as_it_runs(model: BinaryNet) -> ModelConfig:
    """The model's config with each layer's binarization as its block uses it now."""
    layers = tuple(
        replace(
            layer,
            binarize_weights=bool(block.linear.binarize_weights),
            binarize_activations=bool(block.activation.binarized),
        )
        for layer, block in zip(model.config.layers, model.blocks)
    )
    return replace(model.config, layers=layers)


TRAINING_COPIES_OF_ACTIVATIONS = 6  # pre-activation, BatchNorm output, sign, and their gradients
TRAINING_COPIES_OF_PARAMETERS = 5  # latent weights, gradients, two Adam moments, sign(W)
FREE_MEMORY_SHARE = 0.7  # a run may plan on this share of the free memory


def training_memory_bytes(config: RunConfig) -> int:
    """A rough size of one training step in float32: activations of a batch and the parameters
    with their optimizer state."""
    summary = model_summary(config.model)
    activations = sum(layer.linear_values for layer in summary.layers) * config.train.batch_size
    return 4 * (TRAINING_COPIES_OF_ACTIVATIONS * activations + TRAINING_COPIES_OF_PARAMETERS * summary.total_params)


EVAL_TENSOR_BYTES = 8 * 2**20  # an evaluation batch keeps its widest float32 activation within this
EVAL_BATCH_MAX = 1000  # and has at most this many images


def evaluation_batch_size(model: ModelConfig) -> int:
    """Images per batch when evaluating ``model``: as many as keep its widest activation (a layer's
    linear output, float32) within :data:`EVAL_TENSOR_BYTES`, at most :data:`EVAL_BATCH_MAX`, at
    least 1. In eval mode every image's scores are its own, whatever the batch.

    Bigger batches cost more than they save: glibc's malloc serves every allocation above its mmap
    threshold (which grows to at most 32 MiB) with fresh pages from the kernel, each first touched
    through a page fault. `best`'s first conv makes 100 KB an image; its 10,000 test images took
    2.2-2.5 s at batch 1000 (1.0-1.2 M minor page faults) and 0.84-0.95 s at batches of 83-250
    (none), 2 threads. `fast` (4 KB an image) keeps 1000."""
    widest = max(math.prod(layer.linear_shape) for layer in plan(model))
    return max(1, min(EVAL_BATCH_MAX, EVAL_TENSOR_BYTES // (4 * widest)))


def training_memory_problems(config: RunConfig, available_bytes: int | None = None) -> list[str]:
    """Why one training step of ``config`` would not fit in the free memory, or []."""
    needed = training_memory_bytes(config)
    if available_bytes is None:
        available_bytes = available_memory()
    if available_bytes and needed > FREE_MEMORY_SHARE * available_bytes:
        return [
            f"one training step needs about {format_bytes(needed)} of memory, but only "
            f"{format_bytes(available_bytes)} are free: use narrower layers or a smaller batch"
        ]
    return []


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes, or None where there is no such file."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def format_bytes(n_bytes: float) -> str:
    """Human-readable size in decimal units (B, kB, MB, GB), three significant digits."""
    base = 1000.0
    units = ("B", "kB", "MB", "GB", "TB")
    value = float(n_bytes)
    for unit in units:
        if abs(value) < base or unit == units[-1]:
            if unit == "B":
                return f"{value:.0f} B"
            return f"{value:.3g} {unit}" if abs(value) < 100 else f"{value:.0f} {unit}"
        value /= base
    raise AssertionError("unreachable")


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape)


def _share_text(share: float) -> str:
    if share in (0.0, 1.0):
        return f"{share:.0%}"
    return f"{share:.1%}"


def summary_rows(summary: ModelSummary, include_total: bool = True) -> list[dict[str, Any]]:
    """One dict per layer (and a final "total" row) with display-ready columns for st.dataframe."""
    rows: list[dict[str, Any]] = []
    for layer in summary.layers:
        rows.append(
            {
                "layer": layer.name,
                "kind": layer.kind_label,
                "output shape": _shape_text(layer.output_shape),
                "input bits": "1" if layer.binary_input else "32",  # text: the total row has none
                "weight bits": "1" if layer.binary_weights else "32",
                "1-bit params": layer.n_params_1bit,
                "32-bit params": layer.n_params_32bit,
                "memory 1-bit packed": format_bytes(layer.packed_bytes),
                "memory float32": format_bytes(layer.float32_bytes),
                "MACs": layer.macs,
                "binary MACs (%)": round(100 * layer.binarized_macs_share, 1),
            }
        )
    if include_total:
        rows.append(
            {
                "layer": "total",
                "kind": "",
                "output shape": "",
                "input bits": "",
                "weight bits": "",
                "1-bit params": summary.total_params_1bit,
                "32-bit params": summary.total_params_32bit,
                "memory 1-bit packed": format_bytes(summary.packed_bytes),
                "memory float32": format_bytes(summary.float32_bytes),
                "MACs": summary.total_macs,
                "binary MACs (%)": round(100 * summary.binarized_macs_share, 1),
            }
        )
    return rows
