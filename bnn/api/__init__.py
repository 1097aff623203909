"""The notebook API: bnn.train, bnn.load_run, bnn.runs, bnn.compare ... and what they return.

functions holds train, load_run, runs, compare and load_packed; configuring presets, settings,
configure and mnist; handle the RunHandle they return; results the other values they return (Comparison,
Diagnosis, Packed, RunList); live_figure the chart that updates in Jupyter; tables the rows
shown as HTML or text.
"""

from .configuring import configure, did_you_mean, mnist, presets, settings
from .functions import compare, load_packed, load_run, runs, train
from .handle import RunHandle
from .results import Comparison, Diagnosis, Packed, RunList

__all__ = [
    "Comparison",
    "Diagnosis",
    "Packed",
    "RunHandle",
    "RunList",
    "compare",
    "configure",
    "did_you_mean",
    "load_packed",
    "load_run",
    "mnist",
    "presets",
    "runs",
    "settings",
    "train",
]
