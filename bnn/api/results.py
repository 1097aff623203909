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
    table lists their results and the settings in which they differ."""

    METRICS = ("test accuracy", "loss", "batch accuracy")

    def __init__(self, handles: list) -> None:
        self.handles = handles
        self.labels: list[str] = []  # the runs' names, numbered where one is given twice
        for handle in handles:
            label, number = handle.name, 1
            while label in self.labels:
                number += 1
                label = f"{handle.name} ({number})"
            self.labels.append(label)

    def figure(self, metric: str = "test accuracy", height: int = 360):
        """Their curves over epochs on one chart (the Compare page's), live edits dotted.

        Args:
            metric: "test accuracy", "loss" or "batch accuracy".
            height: in pixels.

        Returns:
            A plotly Figure.

        Example:
            bnn.compare(seed, fixed).figure("loss")
        """
        from .. import plots
        from ..training.live_edits import describe_edit

        if metric not in self.METRICS:
            raise ValueError(f"metric={metric!r}: one of {', '.join(self.METRICS)}")
        series, events = {}, {}
        for label, handle in zip(self.labels, self.handles):
            run = handle.run
            if metric == "test accuracy":
                points = [(e["epoch"], e["accuracy"]) for e in run.evals if e.get("split") == "test"]
            else:
                key = "loss" if metric == "loss" else "batch_accuracy"
                points = [(r["epoch"], r.get(key)) for r in plots.thin_records(run.records, 300)]
            xs = [x for x, _ in points]
            ys = [y if y is not None else math.nan for _, y in points]
            series[label] = (xs, ys)
            per_step = run.epochs / run.total_steps if run.total_steps else 0.0
            events[label] = [(edit["step"] * per_step, describe_edit(edit)) for edit in run.edits]
        axis = "loss" if metric == "loss" else "accuracy (%)"
        return plots.run_overlay(
            series, metric.capitalize(), axis, log_y=metric == "loss", height=height, events=events
        )

    def table(self) -> Table:
        """What it shows as: a table (HTML in Jupyter, text by print)."""
        from ..config.descriptions import settings_in_words

        words = [settings_in_words(handle.config) for handle in self.handles]
        names = list(dict.fromkeys(name for row in words for name in row))
        differing = [n for n in names if len({row.get(n) for row in words if n in row}) > 1]
        rows = [
            {**handle._row(with_path=False), "name": label, **{n: row.get(n) for n in differing}}
            for label, handle, row in zip(self.labels, self.handles, words)
        ]
        return Table(rows, "Compared runs (the settings that differ)")

    def __repr__(self) -> str:
        return str(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()
