"""The two kinds of metric record a training run streams, as typed dicts (plain dicts at run
time, so they cost nothing and go to JSON as they are).

:class:`StepRecord`: one per ``record_every`` optimizer steps and at the end of every epoch,
made by :class:`bnn.train.Trainer`. :class:`EvalRecord`: one per evaluation of the test or the
training set (every epoch, on request, and at the end).
"""

from __future__ import annotations

from typing import TypedDict


class StepRecord(TypedDict):
    step: int  # optimizer steps done
    epoch: float  # fractional epochs done
    time: float  # seconds since the run started
    loss: float  # mean training loss of the steps since the last record (NaN if any was not finite)
    batch_accuracy: float  # percent of those steps' training samples classified right
    lr: float  # the schedule's base learning rate at the record's last step
    samples_per_s: float  # training samples per second since the last record
    grad_norm: float  # L2 norm of all gradients at the record's step (NaN when live stats are off)
    flip_rate: dict[str, float]  # layer -> share of binary weights whose sign changed since the last record
    saturation: dict[str, float]  # layer -> share of pre-activations with |x| > 1 (outside the STE window)
    nonfinite: bool  # the loss or a weight is NaN/inf


class EvalRecord(TypedDict):
    step: int
    epoch: float
    split: str  # "test" or "train"
    accuracy: float  # percent
    loss: float  # mean loss, NaN when the model outputs NaN
    prediction_histogram: list[int]  # predicted-class counts
    count: int  # images evaluated
