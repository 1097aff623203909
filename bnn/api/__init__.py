"""The notebook API: bnn.train, bnn.load_run, bnn.runs, bnn.compare ... and what they return.

handle holds the functions and RunHandle; results the values they return (Comparison,
Diagnosis, Packed, RunList); live_figure the chart that updates in Jupyter; tables the rows
shown as HTML or text.
"""

from .handle import (
    RunHandle,
    compare,
    configure,
    did_you_mean,
    load_packed,
    load_run,
    mnist,
    presets,
    runs,
    settings,
    train,
)
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
