"""A study trained in this process: :class:`StudyJob` trains the pending runs of a study folder as
:class:`bnn.jobs.training_job.TrainingJob` s through shared training slots.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .run import Run
from .studies import Study
from .study_folders import pending_runs, save_study, saved_runs
from .study_results import VariantResult, collect


class StudyJob:
    """Trains a study's pending runs in this process as :class:`bnn.jobs.training_job.TrainingJob` s that
    queue for the shared ``slots``, each saving itself into the study folder."""

    def __init__(self, study: Study, folder: str | os.PathLike, data=None, *, slots=None, **job_options) -> None:
        from .training_job import TrainingJob  # torch: only when a study trains here

        self.study = study
        self.folder = Path(folder)
        save_study(study, self.folder)
        self.jobs: dict[str, TrainingJob] = {}
        saved = saved_runs(self.folder)
        for name, config, resume in pending_runs(study, self.folder):
            self.jobs[name] = TrainingJob(
                config,
                data,
                name=name,
                preset=study.preset,
                owner=study.owner,
                runs_dir=self.folder,
                resume_from=resume,
                slots=slots,
                # a stopped or failed run of the study trains again in its place
                replaces=saved[name].path if resume is None and name in saved else None,
                **job_options,
            )

    def start(self) -> StudyJob:
        for job in self.jobs.values():
            job.start()
        return self

    def stop(self) -> None:
        """Stop every run: the queued ones leave the queue, the training ones stop after their
        step and are saved as stopped (they train again when the study resumes)."""
        for job in self.jobs.values():
            job.stop()

    def join(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        return all(
            job.join(None if deadline is None else max(0.0, deadline - time.monotonic())) for job in self.jobs.values()
        )

    def live(self) -> dict[str, Run]:
        """Run name -> snapshot of each run of this job."""
        return {name: job.snapshot() for name, job in self.jobs.items()}

    @property
    def training(self) -> bool:
        return any(not job.status.ended for job in self.jobs.values())

    def results(self) -> list[VariantResult]:
        return collect(self.study, self.folder, self.live())
