"""The two kinds of metric record a training run streams, as typed dicts (plain dicts at run
time, so they cost nothing and go to JSON as they are).

:class:`StepRecord`: one per ``record_every`` optimizer steps and at the end of every epoch,
made by :class:`bnn.training.loop.Trainer`. :class:`EvalRecord`: one per evaluation of the test or the
training set (every epoch, on request, and at the end); :func:`last_eval` finds the latest of a
split. :func:`record_problem` checks a record read back from a saved run against its type;
:func:`metrics_csv` writes a run's records as one CSV.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Sequence
from typing import TypedDict, get_origin, get_type_hints


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


def last_eval(evals: Sequence[EvalRecord], split: str = "test") -> EvalRecord | None:
    """The latest of ``evals`` on ``split`` ("test" or "train"), or None before the first."""
    return next((e for e in reversed(evals) if e.get("split") == split), None)


# Saved runs are read back as untrusted JSON (NaN was written as null): these keys must be there,
# every other key of the record's type is optional, and every value present must have its type.
REQUIRED_KEYS = {StepRecord: ("step", "epoch"), EvalRecord: ("step", "epoch", "split", "accuracy")}


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_problem(value: object, kind: object) -> str | None:
    if kind is bool:
        return None if isinstance(value, bool) else "on/off"
    if kind is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "a whole number"
    if kind is float:
        return None if value is None or _is_number(value) else "a number"
    if kind is str:
        return None if isinstance(value, str) else "text"
    if get_origin(kind) is dict:
        ok = isinstance(value, dict) and all(
            isinstance(k, str) and (v is None or _is_number(v)) for k, v in value.items()
        )
        return None if ok else "a table of numbers"
    if get_origin(kind) is list:
        ok = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        return None if ok else "a list of whole numbers"
    return None


@functools.cache
def _fields(kind: type) -> tuple[tuple[str, object], ...]:
    """The keys of a record type and their types (``get_type_hints`` once: it took 90% of a check)."""
    return tuple(get_type_hints(kind).items())


def record_problem(record: object, kind: type) -> str | None:
    """Why ``record`` (read from JSON) is not a :class:`StepRecord` / :class:`EvalRecord`, or None."""
    if not isinstance(record, dict):
        return f"a record is {type(record).__name__}, not an object"
    missing = [key for key in REQUIRED_KEYS[kind] if key not in record]
    if missing:
        return f"a record has no {', '.join(missing)}"
    for key, field_type in _fields(kind):
        if key in record and (expected := _type_problem(record[key], field_type)):
            return f"{key} must be {expected}, got {record[key]!r:.40}"
    return None


def metrics_csv(records: list[StepRecord], evals: list[EvalRecord]) -> str:
    """A run's metric records and evaluations as one CSV (``kind`` is "step" or "eval"); per-layer
    dicts (flip rate, saturation) become one column per layer, e.g. ``flip_rate.dense1``."""
    rows = []
    for kind, items in (("step", records), ("eval", evals)):
        for item in items:
            row = {"kind": kind}
            for name, value in item.items():
                if isinstance(value, dict):
                    row.update({f"{name}.{layer}": v for layer, v in value.items()})
                elif isinstance(value, (list, tuple)):
                    row[name] = " ".join(str(v) for v in value)
                else:
                    row[name] = value
            rows.append(row)
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns or ["kind"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
