"""May this run start? Every rule in one place, asked by every way a run starts (the Train and
Study pages, bnn.train, python -m bnn train, studies): the settings themselves
(bnn.config.schema.validate), ten output units (one per digit of MNIST), the memory of one
training step, and the limits a shared server puts on one run.

Each problem is one sentence, the same words wherever the run was started.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..config.schema import RunConfig, validate
from ..network.summary import model_summary, training_memory_problems

DIGITS = 10  # MNIST's classes: the output layer has one unit per digit


@dataclass(frozen=True)
class RunLimits:
    """What one run may be on a shared server; None: no limit."""

    max_units: int | None = None  # units (or channels) of the widest layer
    max_layers: int | None = None
    max_params: int | None = None
    max_epochs: int | None = None


LIMIT_WHAT = {  # each limit of RunLimits in a refusal: "2,048 units (or channels) in a layer; ..."
    "max_units": "units (or channels) in a layer",
    "max_layers": "layers",
    "max_params": "parameters",
    "max_epochs": "epochs",
}


def output_problems(config: RunConfig) -> list[str]:
    """Why the output layer cannot classify MNIST's digits, or []."""
    classes = config.model.num_classes
    return [] if classes == DIGITS else [f"the output layer must have 10 units, one per digit (got {classes})"]


def limit_problems(config: RunConfig, limits: RunLimits) -> list[str]:
    """Each limit of ``limits`` that ``config`` exceeds, in words."""
    sizes = {
        "max_units": max(layer.units for layer in config.model.layers),
        "max_layers": len(config.model.layers),
        "max_params": model_summary(config.model).total_params if limits.max_params is not None else 0,
        "max_epochs": config.train.epochs,
    }
    problems = []
    for field in fields(limits):
        allowed = getattr(limits, field.name)
        if allowed is not None and sizes[field.name] > allowed:
            value = sizes[field.name]
            problems.append(f"{value:,} {LIMIT_WHAT[field.name]}; this shared server allows at most {allowed:,}")
    return problems


def start_problems(config: RunConfig, limits: RunLimits | None = None, available_bytes: int | None = None) -> list[str]:
    """Why a run of ``config`` may not start (each a sentence), or []: the settings' problems and
    the output layer's first; when there are none, the memory of one training step (against
    ``available_bytes``, default the free memory); when that fits, ``limits`` (a shared server's)."""
    problems = validate(config) + output_problems(config)
    problems = problems or training_memory_problems(config, available_bytes)
    return problems or (limit_problems(config, limits) if limits is not None else [])
