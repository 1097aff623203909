"""What the public API (:mod:`bnn.api`) returns besides a run: the saved runs (:class:`RunList`),
a run's :class:`Diagnosis`, its network :class:`Packed` for the XNOR engine, a :class:`Comparison`
of runs; each shows as a table in a terminal and as HTML in Jupyter (:class:`bnn.api.tables.Table`).
:func:`as_images` reads the images a user hands to ``predict``.

Binarized Neural Networks: Courbariaux, Hubara, Soudry, El-Yaniv, Bengio 2016, arXiv:1602.02830.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config.schema import RunConfig
from ..jobs.run import Run
from .tables import Table


def as_images(images: Any) -> torch.Tensor:
    """``images`` as a float (N, 1, 28, 28) tensor in [0, 1] (see :meth:`RunHandle.predict`)."""
    if isinstance(images, torch.Tensor):
        array = images.detach().cpu().numpy()
    else:
        array = np.asarray(images)
    if array.dtype == object or array.dtype.kind in "US":
        raise ValueError("images must be numbers: nested lists of equal length, an array or a tensor")
    if array.dtype.kind in "iu" and array.dtype != np.uint8:  # whole numbers, e.g. nested lists of ints
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ValueError(f"whole-number images must be in 0..255, got values in [{array.min()}, {array.max()}]")
        array = array.astype(np.uint8)
    if array.dtype == np.uint8:
        x = array.astype(np.float32) / 255.0
    elif np.issubdtype(array.dtype, np.floating):
        x = array.astype(np.float32)
        if x.size and not np.isfinite(x).all():
            raise ValueError("images must not contain NaN or inf")
        if x.size and (x.min() < 0.0 or x.max() > 1.0):
            raise ValueError(
                f"float images must be in [0, 1], got values in [{x.min():g}, {x.max():g}]; pass uint8 for 0..255"
            )
    else:
        raise ValueError(f"images must be uint8 (0..255) or float in [0, 1], got {array.dtype}")
    shape = x.shape
    if shape in ((28, 28), (784,), (1, 28, 28)):
        x = x.reshape(1, 784)
    elif len(shape) == 2 and shape[1] == 784 or len(shape) == 3 and shape[1:] == (28, 28):
        x = x.reshape(-1, 784)
    elif len(shape) == 4 and shape[1:] == (1, 28, 28):
        x = x.reshape(-1, 784)
    else:
        raise ValueError(f"images must be 28x28: one (28, 28) or a batch (N, 28, 28), got shape {shape}")
    return torch.from_numpy(np.ascontiguousarray(x)).reshape(-1, 1, 28, 28)


class RunList(list):
    """The saved runs (a list of RunHandle), newest first, shown as a table; the
    folders that could not be read are in ``unreadable`` (path and reason)."""

    def __init__(self, handles: Iterable, unreadable: list, directory: Path) -> None:
        super().__init__(handles)
        self.unreadable = unreadable
        self.directory = directory

    def table(self) -> Table:
        """What it shows as: a table (HTML in Jupyter, text by print)."""
        note = "; ".join(f"{item.path.name} could not be read: {item.reason}" for item in self.unreadable)
        rows = [handle._row(with_path=False) for handle in self]
        return Table(rows, f"{len(self)} saved run(s) in {self.directory}", note)

    def __str__(self) -> str:
        return str(self.table())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


class Diagnosis:
    """The findings of run.diagnose(), most severe first, shown as a table; apply() gives the
    run's settings with every fix applied (apply(findings): only those).

    Example:
        diagnosis = seed.diagnose()
        fixed = bnn.train(diagnosis.apply(), fixes=seed)
    """

    def __init__(self, run: Run, findings: list) -> None:
        self.run = run
        self.findings = findings

    def apply(self, findings: Iterable | None = None) -> RunConfig:
        """The run's settings (as trained) with fixes applied.

        Args:
            findings: the findings whose fixes to apply (default: all of them).

        Returns:
            A RunConfig, for bnn.train().

        Example:
            bnn.train(seed.diagnose().apply(), fixes=seed)
        """
        from ..analysis.diagnosis import apply_fixes

        return apply_fixes(self.run.config, list(self.findings if findings is None else findings))

    def __len__(self) -> int:
        return len(self.findings)

    def __iter__(self):
        return iter(self.findings)

    def __getitem__(self, index: int):
        return self.findings[index]

    def table(self) -> Table:
        """What it shows as: a table (HTML in Jupyter, text by print)."""
        rows = [
            {"severity": f.severity, "finding": f.title, "evidence": f.evidence.replace("**", ""), "fix": f.fix_label}
            for f in self.findings
        ]
        note = "" if self.findings else "No problem found: the run learns."
        return Table(rows, f"Diagnosis of {self.run.name}", note)

    def __str__(self) -> str:
        return str(self.table())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


class Packed:
    """A run's network packed for the XNOR engine (.model, a bnn.xnor.PackedModel), next to its
    float32 copy with sign(W) stored once; .predict(images) runs the packed one, .benchmark()
    times both.

    Example:
        packed = run.pack()
        packed.benchmark(count=2000)
    """

    def __init__(self, name: str, float_model: torch.nn.Module, packed) -> None:
        from ..analysis.drawing import deployment_copy

        self.name = name
        self.model = packed
        self.float_model = deployment_copy(float_model)

    def predict(self, images: Any) -> np.ndarray:
        """The digits the packed engine sees in the images (as RunHandle.predict takes them)."""
        return self.model.predict(as_images(images).reshape(-1, 784).numpy())

    def benchmark(self, images: Any = None, *, count: int = 10_000, repeats: int = 3) -> Table:
        """Both engines over ``count`` MNIST test images (or ``images``), interleaved ``repeats``
        times (median seconds): the speed-up and how many predictions agree."""
        from ..xnor.timing import time_test_set

        if images is None:
            from ..training.data import load_mnist

            x = load_mnist().test_images[:count]
        else:
            x = as_images(images)
        timed = time_test_set(self.float_model, self.model, x, repeats=repeats)
        agree = float(np.mean(timed["float_pred"] == timed["packed_pred"])) * 100
        row = {
            "images": timed["n"],
            "float32 torch (s)": round(timed["float_s"], 4),
            "XNOR packed (s)": round(timed["packed_s"], 4),
            "speed-up": f"{timed['ratio']:.2f}x",
            "same predictions (%)": round(agree, 2),
        }
        table = Table([row], f"{self.name}: packed XNOR engine vs float32")
        table.speedup = timed["ratio"]
        return table

    def table(self) -> Table:
        """What it shows as: a table (HTML in Jupyter, text by print)."""
        rows = [
            {k: layer[k] for k in ("name", "kind", "in_features", "out_features", "output", "bytes") if k in layer}
            for layer in self.model.summary()
        ]
        return Table(rows, f"{self.name} packed: {self.model.nbytes:,} bytes")

    def __repr__(self) -> str:
        return str(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


class Comparison:
    """Several runs side by side (bnn.compare()): figure(metric) overlays their curves, the
    table lists their results and the settings in which they differ. The Compare page draws and
    lists what it computes (series, events, settings)."""

    METRICS = ("test accuracy", "loss", "batch accuracy", "sign flips")

    def __init__(self, handles: list, labels: list[str] | None = None) -> None:
        self.handles = handles
        # the runs' names, numbered where one is given twice, unless the caller labels them
        self.labels = list(labels) if labels is not None else _numbered([handle.name for handle in handles])

    def series(self, metric: str = "test accuracy") -> dict[str, tuple[list, list]]:
        """Each run's curve of a metric over epochs: the test accuracy at every evaluation, else
        one point per step record (300 at most): the loss, the batch accuracy, or the share of
        binary weights whose sign flipped (mean over layers); NaN where there is no number.

        Args:
            metric: "test accuracy", "loss", "batch accuracy" or "sign flips".

        Returns:
            A dict: label -> (epochs, values).

        Example:
            epochs, accuracy = bnn.compare(seed).series()["seed"]
        """
        from .. import plots

        if metric not in self.METRICS:
            raise ValueError(f"metric={metric!r}: one of {', '.join(self.METRICS)}")
        series = {}
        for label, handle in zip(self.labels, self.handles):
            run = handle.run
            if metric == "test accuracy":
                points = [(e["epoch"], e["accuracy"]) for e in run.evals if e.get("split") == "test"]
            else:
                value = _mean_flip_rate if metric == "sign flips" else _step_value(metric)
                points = [(r["epoch"], value(r)) for r in plots.thin_records(run.records, 300)]
            series[label] = ([x for x, _ in points], [y if y is not None else math.nan for _, y in points])
        return series

    def events(self) -> dict[str, list[tuple[float, str]]]:
        """Each run's live edits as (epoch, what changed), the epoch from its records' steps per
        epoch (none before its first record).

        Returns:
            A dict: label -> [(epoch, text), ...].

        Example:
            bnn.compare(seed, fixed).events()
        """
        from ..training.live_edits import describe_edit

        events = {}
        for label, handle in zip(self.labels, self.handles):
            run = handle.run
            last = next((r for r in reversed(run.records) if r.get("epoch")), None)
            steps_per_epoch = last["step"] / last["epoch"] if last is not None else 0.0
            edits = run.edits if last is not None else []
            events[label] = [(edit["step"] / steps_per_epoch, describe_edit(edit)) for edit in edits]
        return events

    def settings(self) -> tuple[list[dict[str, str]], list[str]]:
        """Each run's settings in words and the names of those that differ: two values among the
        runs a setting applies to (momentum only for SGD runs).

        Returns:
            (one dict per run: setting -> value in words, the differing settings' names).

        Example:
            words, differing = bnn.compare(seed, fixed).settings()
        """
        from ..config.descriptions import settings_in_words

        words = [settings_in_words(handle.config) for handle in self.handles]
        names = list(dict.fromkeys(name for row in words for name in row))
        return words, [n for n in names if len({row[n] for row in words if n in row}) > 1]

    def figure(self, metric: str = "test accuracy", height: int = 360):
        """Their curves over epochs on one chart (the Compare page's), live edits dotted.

        Args:
            metric: "test accuracy", "loss", "batch accuracy" or "sign flips".
            height: in pixels.

        Returns:
            A plotly Figure.

        Example:
            bnn.compare(seed, fixed).figure("loss")
        """
        from .. import plots

        axis = {"loss": "loss", "sign flips": "share flipped"}.get(metric, "accuracy (%)")
        figure = plots.run_overlay(
            self.series(metric),
            metric.capitalize(),
            axis,
            log_y=metric == "loss",
            height=height,
            events=self.events(),
        )
        if metric == "sign flips":
            figure.update_yaxes(tickformat=".2%")
        return figure

    def table(self) -> Table:
        """What it shows as: a table (HTML in Jupyter, text by print)."""
        words, differing = self.settings()
        rows = [
            {**handle._row(with_path=False), "name": label, **{n: row.get(n) for n in differing}}
            for label, handle, row in zip(self.labels, self.handles, words)
        ]
        return Table(rows, "Compared runs (the settings that differ)")

    def __repr__(self) -> str:
        return str(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


def _mean_flip_rate(record: dict) -> float:
    rates = [v for v in (record.get("flip_rate") or {}).values() if v is not None]
    return sum(rates) / len(rates) if rates else math.nan


def _step_value(metric: str):
    key = "loss" if metric == "loss" else "batch_accuracy"
    return lambda record: record.get(key)


def _numbered(names: list[str]) -> list[str]:
    labels: list[str] = []
    for name in names:
        label, number = name, 1
        while label in labels:
            number += 1
            label = f"{name} ({number})"
        labels.append(label)
    return labels
