"""Where a job starts: a new run, or a saved unfinished run continued exactly (:func:`starting_run`,
:func:`resume_state`: weights, checkpoint, records and live edits of one and the same save)."""

from __future__ import annotations

import time

from ..config.schema import RunConfig
from ..training.metrics import EvalRecord, StepRecord
from .run import Run
from .run_folders import load_run
from .run_format import RunFormatError
from .run_weights import load_checkpoint


def starting_run(
    config: RunConfig,
    *,
    name: str,
    preset: str | None,
    fixes: str | None,
    owner: str | None,
    resume_from: Run | None,
) -> Run:
    """The run a job starts from: a new one with these settings, or ``resume_from`` (a saved unfinished
    run) with its settings, names, records and place, under the name ``name``."""
    if resume_from is None:
        return Run(name=name, config=config, preset=preset, fixes=fixes, owner=owner)
    return Run(
        name=name,
        config=resume_from.config,
        preset=resume_from.preset,
        fixes=resume_from.fixes,
        owner=resume_from.owner,
        edits=list(resume_from.edits),
        records=list(resume_from.records),
        evals=list(resume_from.evals),
        path=resume_from.path,
        created=resume_from.created,
        total_steps=resume_from.total_steps,
        step=resume_from.step,
    )


RESUME_READS = 5  # tries at reading one whole save of a run that is being saved again


def resume_state(saved: Run) -> tuple[dict, dict, list[StepRecord], list[EvalRecord], list[dict]]:
    """Weights, checkpoint, metric records and live edits of one and the same save of the
    unfinished run ``saved``, for :meth:`bnn.training.loop.Trainer.restore`.

    The checkpoint is read here, maybe long after ``saved`` was. If the run was saved again in
    between (by a job still training it: a pause takes effect only after the step or the epoch's
    end under way, checkpoint included), the checkpoint on disk belongs to the later save, and
    paired with the weights of ``saved`` it would continue another run. So the whole run is read
    again, and continues from the save whose metrics and checkpoint name the same step (refused
    if a live edit changed its settings since).
    """
    if saved.path is None:
        raise RunFormatError(f"{saved.name} has no checkpoint to resume from")
    for attempt in range(RESUME_READS):
        if attempt:
            time.sleep(0.05 * attempt)  # a save in progress: its two renames take microseconds
        try:
            run = load_run(saved.path)
            checkpoint = load_checkpoint(saved.path)
        except RunFormatError:  # e.g. caught between the two renames of a save
            if attempt == RESUME_READS - 1:
                raise
            continue
        # the steps of a run's saves only grow, and its weights are read after its metrics and
        # before its checkpoint: the same step in metrics and checkpoint means one save
        if checkpoint.get("step") == (run.records[-1]["step"] if run.records else 0):
            model = run.model()
            if model is None:
                raise RunFormatError(f"{saved.name} has no weights to resume from")
            if run.config != saved.config:
                raise RunFormatError(f"{saved.name} was saved with other settings while it was read for resuming")
            return model.state_dict(), checkpoint, run.records, run.evals, run.edits
    raise RunFormatError(f"{saved.name} kept changing while it was read for resuming: is it still training?")
