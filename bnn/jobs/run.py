"""A training run, one type everywhere: the job thread, the CLI, the pages, the diagnosis.

A :class:`Run` is what a run *is* at one moment: its name, its settings **as trained now** (the
starting settings with every live edit applied, so that the network it describes is the network
that trained), the live edits themselves, its :class:`Status`, its metric records
(:mod:`bnn.training.metrics`), its final summary, where it is saved, and its weights on demand
(:meth:`Run.model`). A training job hands out a fresh :class:`Run` per snapshot
(:meth:`bnn.jobs.training_job.TrainingJob.snapshot`); a run folder is read back as one
(:func:`bnn.jobs.run_folders.load_run`); both answer the same questions the same way.

Binarized Neural Networks: Courbariaux, Hubara, Soudry, El-Yaniv, Bengio 2016, arXiv:1602.02830.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.schema import RunConfig
from ..training.metrics import EvalRecord, StepRecord, last_eval

if TYPE_CHECKING:
    from ..network.models import BinaryNet


class Status(StrEnum):
    """Where a run is in its life. A ``StrEnum``: its value is the word shown to the user."""

    CREATED = "created"
    QUEUED = "queued"  # waiting for a free training slot
    LOADING = "loading data"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"  # finishing its step, then the final evaluation
    EVALUATING = "evaluating"  # the final evaluation after a stop
    FINISHED = "finished"
    STOPPED = "stopped"  # stopped by the user; what was trained is kept
    DIVERGED = "diverged"  # the loss or a weight became NaN/inf
    FAILED = "failed"  # an error ended it (the message says which)
    INTERRUPTED = "interrupted"  # saved with a checkpoint: its process ended while it trained; resumable

    @property
    def ended(self) -> bool:
        """It trains no more in any process: finished, stopped, diverged, failed or interrupted."""
        return self in ENDED

    @property
    def resumable(self) -> bool:
        return self is Status.INTERRUPTED


ENDED = frozenset({Status.FINISHED, Status.STOPPED, Status.DIVERGED, Status.FAILED, Status.INTERRUPTED})


@dataclass(frozen=True)
class Run:
    """One training run (see the module docstring); immutable: :meth:`but` makes a changed copy."""

    name: str
    config: RunConfig  # the settings as trained now: every applied live edit is in them
    status: Status = Status.CREATED
    preset: str | None = None  # the preset it started from
    fixes: str | None = None  # the name of the run whose diagnosis gave these settings
    owner: str | None = None  # who may control it on a shared server (ui.access.owner_id), None: anyone
    edits: list[dict] = field(default_factory=list)  # live edits applied: step, setting, layer, old, new
    records: list[StepRecord] = field(default_factory=list)
    evals: list[EvalRecord] = field(default_factory=list)
    summary: dict = field(default_factory=dict)  # final numbers (bnn.training.loop.Trainer.summary), once ended
    message: str = ""  # why it ended, or what it is doing
    path: Path | None = None  # its run folder, once saved
    created: float = 0.0  # Unix time of its first save
    # where it is now (a training job fills these in; a saved run's come from its records)
    step: int = 0
    total_steps: int = 0
    elapsed_s: float = 0.0
    samples_per_s: float = 0.0
    eta_s: float | None = None  # wall seconds left, the final evaluation included
    final_eval_s: float | None = None  # estimated seconds of the evaluation after the last step
    queue_position: int | None = None  # 1 = next to start, while queued
    nonfinite_step: int | None = None  # first step whose loss or weights were NaN/inf
    weights: Callable[[], BinaryNet | None] | None = field(default=None, repr=False, compare=False)

    @property
    def ended(self) -> bool:
        return self.status.ended

    @property
    def training(self) -> bool:
        """It trains in this process now (queued, loading, running, paused, stopping, evaluating)."""
        return not self.status.ended

    @property
    def epochs(self) -> int:
        return self.config.train.epochs

    @property
    def epoch(self) -> float:
        """Fractional epochs done."""
        if self.total_steps:
            return self.step / self.total_steps * self.epochs
        return self.records[-1]["epoch"] if self.records else 0.0

    @property
    def progress(self) -> float:
        return self.step / self.total_steps if self.total_steps else 0.0

    def last_eval(self, split: str = "test") -> EvalRecord | None:
        return last_eval(self.evals, split)

    @property
    def test_accuracy(self) -> float | None:
        """Percent right in its last test evaluation (None before the first)."""
        test = self.last_eval("test")
        return test["accuracy"] if test else None

    @property
    def batch_accuracy(self) -> float | None:
        """Percent of the training batches right in its last record."""
        return self.records[-1]["batch_accuracy"] if self.records else None

    def model(self) -> BinaryNet | None:
        """Its weights now, as a CPU model in eval mode (None before it built its model); read on
        each call: from the training job while it trains, else from its run folder."""
        return self.weights() if self.weights is not None else None

    @property
    def cache_key(self) -> str:
        """Identifies the weights it was read with, for ``st.cache_*`` and other caches: a run
        folder's weights change only with its step (a resumed run trains on)."""
        return f"{self.path or 'job'}:{self.name}:{self.created}:{self.step}"

    def but(self, **changes: Any) -> Run:
        """A copy with ``changes`` (dataclasses.replace)."""
        return replace(self, **changes)

    def read_at(self) -> str:
        """Where in training its weights were read, for a caption ("" for an ended run)."""
        if not self.training:
            return ""
        parts = [f"step {self.step:,} of {self.total_steps:,}" if self.total_steps else f"step {self.step:,}"]
        if self.batch_accuracy is not None:
            parts.append(f"training batches {self.batch_accuracy:.1f}% right")
        if self.test_accuracy is not None:
            parts.append(f"last test accuracy {self.test_accuracy:.2f}%")
        return " · ".join(parts)


def final_status(summary: dict, config: RunConfig, has_checkpoint: bool) -> Status:
    """The status of a run saved without one (folders of format 1): interrupted when it has a
    checkpoint, else what its summary or its numbers show."""
    if has_checkpoint:
        return Status.INTERRUPTED
    if summary.get("status") in Status.__members__.values():
        return Status(summary["status"])
    if summary.get("first_nonfinite_step") is not None:
        return Status.DIVERGED
    epochs = summary.get("epochs") or 0  # a number: bnn.jobs.run_folders checks the summary's numbers first
    return Status.STOPPED if not math.isfinite(epochs) or epochs < config.train.epochs - 1e-6 else Status.FINISHED
