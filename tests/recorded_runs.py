"""Runs made of hand-written records, shared by the tests of bnn.analysis.diagnosis and bnn.analysis.reference."""

from __future__ import annotations

from bnn.config.schema import RunConfig
from bnn.jobs.run import Run, Status


def recorded_run(config: RunConfig, recorded: dict) -> Run:
    """A run of ``config`` that recorded ``recorded`` (records, evals, nonfinite_step ...)."""
    return Run("run", config, Status.FINISHED, **recorded)


def healthy_records(steps: int = 5, flip: float = 0.01, saturation: float = 0.3) -> list[dict]:
    return [
        {
            "step": 20 * (i + 1),
            "epoch": 0.1 * (i + 1),
            "loss": 0.5,
            "batch_accuracy": 90.0,
            "lr": 1e-2,
            "flip_rate": {"dense1": flip, "output": flip},
            "saturation": {"dense1": saturation},
            "nonfinite": False,
        }
        for i in range(steps)
    ]


def one_test_eval(accuracy: float, histogram: list[int], epoch: float = 1.0) -> list[dict]:
    """The evals of a run evaluated once on the test set, after ``epoch`` epochs."""
    return [
        {
            "step": 100,
            "epoch": epoch,
            "split": "test",
            "accuracy": accuracy,
            "loss": 0.3,
            "prediction_histogram": histogram,
            "count": sum(histogram),
        }
    ]
