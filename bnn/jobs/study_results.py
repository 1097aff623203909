"""A study's results: each variant with its runs as they are now (:class:`VariantResult`: mean test
accuracy, spread over the seeds, time, status), collected from the live runs and the study folder
(:func:`collect`, also what other machines wrote there), and as CSV (:func:`results_csv`).
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass

from .run import Run, Status
from .studies import KEPT_STATUSES, Study, Variant
from .study_folders import saved_runs


@dataclass(frozen=True)
class VariantResult:
    """A variant's runs as they are now, and its numbers (None until one of its runs has them)."""

    variant: Variant
    runs: tuple[Run | None, ...]  # one per seed: the live or saved run, None while missing

    @property
    def accuracies(self) -> list[float]:
        return [
            run.test_accuracy for run in self.runs if run is not None and run.ended and run.test_accuracy is not None
        ]

    @property
    def test_accuracy(self) -> float | None:
        values = self.accuracies
        return statistics.fmean(values) if values else None

    @property
    def spread(self) -> float | None:
        """Standard deviation of the test accuracy over the seeds (None below two finished seeds)."""
        values = self.accuracies
        return statistics.stdev(values) if len(values) >= 2 else None

    @property
    def seconds(self) -> float | None:
        values = [
            run.summary.get("train_seconds") or run.elapsed_s for run in self.runs if run is not None and run.ended
        ]
        return statistics.fmean(values) if values else None

    @property
    def finished(self) -> int:
        return sum(1 for run in self.runs if run is not None and run.status in KEPT_STATUSES)

    @property
    def status(self) -> str:
        """``finished``, or the least advanced of its runs' statuses (``missing`` before it started)."""
        if self.finished == len(self.runs):
            return str(Status.FINISHED)
        for run in self.runs:
            if run is None:
                return "missing"
            if run.status not in KEPT_STATUSES:
                return str(run.status)
        return str(Status.FINISHED)

    @property
    def progress(self) -> float:
        done = [1.0 if r is not None and r.status in KEPT_STATUSES else (r.progress if r else 0.0) for r in self.runs]
        return sum(done) / len(done)

    def to_dict(self) -> dict:
        def rounded(value, digits):
            return None if value is None else round(value, digits)

        return {
            "name": self.variant.name,
            "changes": list(self.variant.changes),
            "test_accuracy": rounded(self.test_accuracy, 2),
            "test_accuracy_spread": rounded(self.spread, 2),
            "runs_finished": self.finished,
            "runs": len(self.runs),
            "status": self.status,
            "bits": self.variant.bits,
            "binary_mac_share": round(self.variant.binary_mac_share, 4),
            "seconds": rounded(self.seconds, 1),
        }


def collect(study: Study, folder: str | os.PathLike, live: dict[str, Run] | None = None) -> list[VariantResult]:
    """Every variant of ``study`` with its runs: ``live`` ones (training in this process, by run
    name) first, else the ones saved in ``folder``."""
    saved = saved_runs(folder)
    live = live or {}
    return [
        VariantResult(variant, tuple(live.get(name) or saved.get(name) for name, _ in study.run_names(variant)))
        for variant in study.variants()
    ]


def results_csv(results: list[VariantResult]) -> str:
    import csv
    import io

    out = io.StringIO()
    rows = [{**r.to_dict(), "changes": "; ".join(r.variant.changes)} for r in results]
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["name"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
