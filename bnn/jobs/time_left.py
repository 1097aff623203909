"""How long a training run has left, for its snapshots (:meth:`bnn.jobs.training_job.TrainingJob.snapshot`):
the evaluations after its last step, and the wall time to its end."""

from __future__ import annotations

from ..training.loop import Trainer
from .run import Run, Status


def final_eval_seconds(trainer: Trainer, run: Run) -> float:
    """Seconds of the evaluations after the last step (test set, and training set unless
    never), from the last evaluation's speed, else a third of a training step per image."""
    count = len(trainer.data.test_labels) + (trainer.train_count if trainer.train_eval != "never" else 0)
    per_image = trainer.eval_seconds_per_image
    records = run.records
    if not per_image and records and records[-1]["samples_per_s"]:
        per_image = 1 / (3 * records[-1]["samples_per_s"])
    return count * per_image


def time_left(trainer: Trainer, run: Run, elapsed: float) -> tuple[float | None, float]:
    """(wall seconds left, the final evaluation included, or None when unknown; seconds of the final
    evaluation) of ``run``, trained by ``trainer`` for ``elapsed`` seconds so far."""
    final_eval = final_eval_seconds(trainer, run)
    eta = None
    if trainer.step and run.status in (Status.RUNNING, Status.PAUSED):
        # elapsed includes the evaluations so far: a fair estimate of wall time left
        eta = elapsed / trainer.step * (trainer.total_steps - trainer.step) + final_eval
    elif run.status in (Status.STOPPING, Status.EVALUATING):
        eta = final_eval
    return eta, final_eval
