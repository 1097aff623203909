"""A training run in a background thread: start, pause, resume, stop, and snapshots.

The thread makes no UI calls: a page (or a test) reads :meth:`TrainingJob.snapshot`, a
consistent copy of the metrics and state taken under a lock, whenever it likes. Pause and stop
are checked between optimizer steps (and inside evaluations), so they take effect well within
a second. Stopping keeps everything trained so far and runs a final evaluation.

A NaN or inf loss (or weight) is reported in the snapshot (``nonfinite_step``); with
``stop_on_nonfinite`` the run then stops with status ``diverged`` after its final evaluation,
without it the run keeps training and recording (the NaN loss, the flat accuracy) and ends as
``diverged``. :meth:`TrainingJob.edit` changes a live setting at the next optimizer step
(:meth:`bnn.train.Trainer.request_edit`); the applied edits are in the snapshot and the summary,
as is the final status.

Crash safety: with ``checkpoint_dir`` the job saves itself as an unfinished run (weights,
metrics and :meth:`bnn.train.Trainer.state_dict`) at every epoch's end and every
``CHECKPOINT_SECONDS`` of training, atomically (:func:`bnn.runs.save_run`); ``resume_from`` a
saved unfinished run continues it exactly, from weights, metrics and checkpoint of one save (the
latest, if the run was saved again after it was read: see ``_resume_state``). Load: jobs
sharing one :class:`RunSlots` train at most ``limit`` at a time, the others wait in order
(status ``queued``). An ended, saved job can :meth:`TrainingJob.release` its model, which then
reloads from disk.
"""

from __future__ import annotations

import copy
import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .data import DataError, MnistData, load_mnist
from .devices import resolve_device
from .metrics import EvalRecord, StepRecord
from .models import BinaryNet
from .runs import RunFormatError, SavedRun, load_checkpoint, load_run, save_run
from .settings import ConfigError, RunConfig
from .train import Trainer, use_cpu_threads_for

CHECKPOINT_SECONDS = 60.0  # of training between two checkpoints inside a long epoch

# job states
QUEUED = "queued"
CREATED, LOADING, RUNNING, PAUSED, STOPPING, EVALUATING = (
    "created",
    "loading data",
    "running",
    "paused",
    "stopping",
    "evaluating",
)
FINISHED, STOPPED, DIVERGED, FAILED = "finished", "stopped", "diverged", "failed"
ENDED = (FINISHED, STOPPED, DIVERGED, FAILED)


@dataclass(frozen=True)
class JobSnapshot:
    status: str
    message: str
    step: int
    total_steps: int
    epoch: float  # fractional epochs done
    epochs: int
    elapsed_s: float
    samples_per_s: float
    eta_s: float | None
    records: list[StepRecord] = field(default_factory=list)
    evals: list[EvalRecord] = field(default_factory=list)
    nonfinite_step: int | None = None
    summary: dict | None = None  # final numbers, once the run has ended
    queue_position: int | None = None  # 1 = next to start, while queued
    edits: list[dict] = field(default_factory=list)  # live edits applied (bnn.train.Trainer.edits)
    final_eval_s: float | None = None  # estimated seconds of the evaluation after the last step

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def progress(self) -> float:
        return self.step / self.total_steps if self.total_steps else 0.0

    def last_eval(self, split: str = "test") -> dict | None:
        return next((e for e in reversed(self.evals) if e["split"] == split), None)


class RunSlots:
    """A limit on runs training at once, shared by the jobs of a server; the others wait, first
    come first served."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = max(1, limit or default_slots())
        self._changed = threading.Condition()
        self._training: set[TrainingJob] = set()
        self._waiting: deque[TrainingJob] = deque()

    def acquire(self, job: TrainingJob, cancelled: threading.Event) -> bool:
        """Wait for a slot; False when ``cancelled`` is set first."""
        with self._changed:
            self._waiting.append(job)
            while len(self._training) >= self.limit or self._waiting[0] is not job:
                if cancelled.is_set():
                    self._waiting.remove(job)
                    self._changed.notify_all()
                    return False
                self._changed.wait(0.2)
            self._waiting.popleft()
            self._training.add(job)
            return True

    def release(self, job: TrainingJob) -> None:
        with self._changed:
            self._training.discard(job)
            self._changed.notify_all()

    def position(self, job: TrainingJob) -> int | None:
        with self._changed:
            return self._waiting.index(job) + 1 if job in self._waiting else None


def default_slots() -> int:
    """One training run per two cores: each run uses up to two threads (bnn.train.cpu_threads_for)."""
    return max(1, len(os.sched_getaffinity(0)) // 2) if hasattr(os, "sched_getaffinity") else 1


class TrainingJob:
    """Runs :class:`~bnn.train.Trainer` in a daemon thread; every public method is thread-safe."""

    def __init__(
        self,
        config: RunConfig,
        data: MnistData | None = None,
        *,
        data_dir: str | None = None,
        device: torch.device | str | None = None,
        name: str = "run",
        record_every: int = 20,
        stop_on_nonfinite: bool = False,
        data_loader: Callable[[], MnistData] | None = None,
        live_stats: bool = True,
        train_eval: str = "end",
        preset: str | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        resume_from: SavedRun | None = None,
        slots: RunSlots | None = None,
    ) -> None:
        self.config = config
        self.name = name
        self.preset = preset
        self._checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self._checkpointed_at = 0.0
        self._resume_from = resume_from
        self._slots = slots
        self._released: tuple[int, int, int, int | None] | None = None  # step, total, per epoch, nonfinite
        self._data = data
        self._data_loader = data_loader or (lambda: load_mnist(data_dir, device="cpu"))
        self._device = resolve_device(device)
        self._record_every = record_every
        self._trainer_options = {"live_stats": live_stats, "train_eval": train_eval}
        self._stop_on_nonfinite = stop_on_nonfinite
        self._lock = threading.Lock()
        self._resume = threading.Event()
        self._resume.set()
        self._stop = threading.Event()
        self._eval_requested = threading.Event()
        self._thread: threading.Thread | None = None
        self._trainer: Trainer | None = None
        self._status = CREATED
        self._message = ""
        self._records: list[StepRecord] = list(resume_from.records) if resume_from else []
        self._evals: list[EvalRecord] = list(resume_from.evals) if resume_from else []
        self._summary: dict | None = None
        self._started = 0.0
        self._paused_total = 0.0
        self._paused_at: float | None = None

    # --- control -------------------------------------------------------------------------
    def start(self) -> TrainingJob:
        with self._lock:
            if self._thread is not None:
                return self
            self._started = time.perf_counter()
            self._thread = threading.Thread(target=self._run, name=f"bnn-train-{self.name}", daemon=True)
            self._thread.start()
        return self

    def pause(self) -> None:
        with self._lock:
            if self._status in (RUNNING, LOADING, CREATED, QUEUED):
                self._resume.clear()
                self._paused_at = time.perf_counter()
                if self._status == RUNNING:
                    self._status = PAUSED

    def resume(self) -> None:
        with self._lock:
            if self._paused_at is not None:
                self._paused_total += time.perf_counter() - self._paused_at
                self._paused_at = None
            if self._status == PAUSED:
                self._status = RUNNING
            self._resume.set()

    def stop(self) -> None:
        """Stop after the current step (within a second); what was trained is kept."""
        with self._lock:
            if self._status not in ENDED:
                if self._status != CREATED:
                    self._status = STOPPING
                self._stop.set()
                self._resume.set()

    def edit(self, setting: str, value, layer: int | None = None) -> None:
        """Change a live setting of the running trainer at its next optimizer step (raises
        :class:`bnn.settings.ConfigError` if it cannot, e.g. before training started or after it ended)."""
        with self._lock:
            trainer, status = self._trainer, self._status
        if trainer is None or status in (*ENDED, STOPPING, EVALUATING):
            raise ConfigError("the run is not training")
        trainer.request_edit(setting, value, layer)

    def current_config(self) -> RunConfig:
        """The settings in use now: the starting ones with every applied live edit."""
        trainer = self._trainer
        return trainer.config if trainer is not None else self.config

    def request_eval(self) -> None:
        """Evaluate on the test set between two steps, as soon as possible."""
        self._eval_requested.set()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def status(self) -> str:
        with self._lock:
            return self._status

    @property
    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- results -------------------------------------------------------------------------
    def snapshot(self) -> JobSnapshot:
        with self._lock:
            trainer = self._trainer
            step, total, per_epoch, nonfinite = (
                (trainer.step, trainer.total_steps, trainer.steps_per_epoch, trainer.first_nonfinite_step)
                if trainer
                else self._released or (0, 0, 0, None)
            )
            elapsed = self._elapsed()
            records = list(self._records)
            rate = records[-1]["samples_per_s"] if records else 0.0
            eta = final_eval = None
            if trainer:
                final_eval = self._final_eval_estimate(trainer)
            if trainer and step and self._status in (RUNNING, PAUSED):
                active = elapsed  # includes the evaluations so far: a fair estimate of wall time left
                eta = active / step * (total - step) + final_eval
            elif trainer and self._status in (STOPPING, EVALUATING):
                eta = final_eval
            return JobSnapshot(
                status=self._status,
                message=self._message,
                step=step,
                total_steps=total,
                epoch=step / per_epoch if per_epoch else 0.0,  # same step as above
                epochs=self.config.train.epochs,
                elapsed_s=elapsed,
                samples_per_s=rate,
                eta_s=eta,
                records=records,
                evals=list(self._evals),
                nonfinite_step=nonfinite,
                summary=dict(self._summary) if self._summary else None,
                queue_position=self._slots.position(self) if self._slots and self._status == QUEUED else None,
                edits=list(trainer.edits) if trainer else list((self._summary or {}).get("edits", [])),
                final_eval_s=final_eval,
            )

    def release(self) -> None:
        """Let an ended job's model and optimizer go (it has been saved); snapshots keep working."""
        with self._lock:
            if self._status in ENDED and self._trainer is not None:
                trainer = self._trainer
                self._released = (
                    trainer.step,
                    trainer.total_steps,
                    trainer.steps_per_epoch,
                    trainer.first_nonfinite_step,
                )
                self._trainer = None

    def _final_eval_estimate(self, trainer: Trainer) -> float:
        """Seconds of the evaluations after the last step (test set, and training set unless
        never), from the last evaluation's speed, else a third of a training step per image."""
        count = len(trainer.data.test_labels) + (trainer.train_count if trainer.train_eval != "never" else 0)
        per_image = trainer.eval_seconds_per_image
        if not per_image and self._records and self._records[-1]["samples_per_s"]:
            per_image = 1 / (3 * self._records[-1]["samples_per_s"])
        return count * per_image

    def model_copy(self) -> BinaryNet | None:
        """A CPU copy of the model in eval mode (None before the model exists, or once released)."""
        with self._lock:
            if self._trainer is None:
                return None
            model = copy.deepcopy(self._trainer.model).cpu().eval()
        return model

    def _elapsed(self) -> float:
        if not self._started:
            return 0.0
        paused = self._paused_total + (time.perf_counter() - self._paused_at if self._paused_at else 0.0)
        end = self._ended_at if self._status in ENDED else time.perf_counter()
        return max(end - self._started - paused, 0.0)

    _ended_at = 0.0

    # --- the thread ----------------------------------------------------------------------
    def _set(self, status: str, message: str | None = None) -> None:
        with self._lock:
            if status in ENDED:
                self._ended_at = time.perf_counter()
                if self._paused_at is not None:  # ended while paused: the pause ends here too
                    self._paused_total += self._ended_at - self._paused_at
                    self._paused_at = None
            self._status = status
            if message is not None:
                self._message = message

    def _run(self) -> None:
        if self._slots is not None:
            self._set(QUEUED, "waiting for a free training slot")
            if not self._slots.acquire(self, self._stop):
                self._set(STOPPED, "stopped while waiting for a training slot")
                return
        try:
            self._load_and_train()
        finally:
            if self._slots is not None:
                self._slots.release(self)

    def _load_and_train(self) -> None:
        try:
            self._set(LOADING, "loading MNIST")
            data = self._data if self._data is not None else self._data_loader()
            if self._stop.is_set():
                self._set(STOPPED, "stopped before training started")
                return
            use_cpu_threads_for(self.config, self._device)
            trainer = Trainer(
                self.config,
                data,
                self._device,
                record_every=self._record_every,
                watch_nonfinite=self._stop_on_nonfinite,
                **self._trainer_options,
            )
            if self._resume_from is not None:
                trainer.restore(*_resume_state(self._resume_from))
            self._checkpointed_at = time.monotonic()
            with self._lock:
                self._trainer = trainer
                self._records, self._evals = list(trainer.records), list(trainer.evals)
                self._status = PAUSED if not self._resume.is_set() else RUNNING
                self._message = ""
            self._train(trainer)
        except (DataError, RunFormatError) as exc:
            self._set(FAILED, str(exc))
        except Exception as exc:  # never let the thread die silently
            self._set(FAILED, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")

    def _train(self, trainer: Trainer) -> None:
        diverged = False
        while not self._resume.is_set() and not self._stop.is_set():  # paused before the first step
            self._resume.wait(0.1)
        for _ in trainer.steps(on_epoch_end=self._checkpoint) if not self._stop.is_set() else ():
            self._publish(trainer)
            if (
                self._checkpoint_dir is not None
                and trainer.at_checkpoint
                and time.monotonic() - self._checkpointed_at >= CHECKPOINT_SECONDS
            ):
                self._checkpoint(trainer)
            if self._eval_requested.is_set():
                self._eval_requested.clear()
                trainer.evaluate("test")
                self._publish(trainer)
            if self._stop_on_nonfinite and trainer.first_nonfinite_step is not None:
                diverged = True
                break
            while not self._resume.is_set() and not self._stop.is_set():
                self._resume.wait(0.1)
            if self._stop.is_set():
                break
        self._publish(trainer)
        if not trainer.finished:  # stopped or diverged: final evaluation of what was trained
            self._set(EVALUATING)
            trainer.final_evaluations()
        if diverged:
            status, message = (
                DIVERGED,
                f"the loss became NaN/inf at step {trainer.first_nonfinite_step}; "
                "the weights can no longer learn, so the run was stopped",
            )
        elif trainer.first_nonfinite_step is not None:
            status, message = DIVERGED, f"the loss became NaN/inf at step {trainer.first_nonfinite_step}"
        elif trainer.finished:
            status, message = FINISHED, "finished"
        else:
            status, message = STOPPED, f"stopped at step {trainer.step} of {trainer.total_steps}"
        with self._lock:
            self._summary = {**trainer.summary(), "status": status}
            self._records = list(trainer.records)
            self._evals = list(trainer.evals)
        self._set(status, message)

    def _checkpoint(self, trainer: Trainer) -> None:
        """Save the run as it is now, unfinished, so that a crash loses at most this much."""
        if self._checkpoint_dir is None or trainer.finished:
            return  # the finished run is saved by its owner, with its final evaluations
        run = SavedRun(
            name=self.name,
            config=trainer.config,  # with the live edits applied so far
            records=list(trainer.records),
            evals=list(trainer.evals),
            summary={"status": "interrupted", "steps": trainer.step, "edits": list(trainer.edits)},
            model=trainer.model,
            preset=self.preset,
            checkpoint=trainer.state_dict(),
        )
        try:
            save_run(run, self._checkpoint_dir)
        except OSError as exc:
            with self._lock:
                self._message = f"could not save a checkpoint: {exc}"
        self._checkpointed_at = time.monotonic()

    def _publish(self, trainer: Trainer) -> None:
        """Copy new records for snapshots (cheap: only the appended tail)."""
        if len(trainer.records) != len(self._records) or len(trainer.evals) != len(self._evals):
            with self._lock:
                self._records.extend(trainer.records[len(self._records) :])
                self._evals.extend(trainer.evals[len(self._evals) :])


RESUME_READS = 5  # tries at reading one whole save of a run that is being saved again


def _saved_step(run: SavedRun) -> int:
    return run.records[-1]["step"] if run.records else 0


def _resume_state(saved: SavedRun) -> tuple[dict, dict, list[StepRecord], list[EvalRecord]]:
    """Weights, checkpoint and metric records of one and the same save of the unfinished run
    ``saved``, for :meth:`bnn.train.Trainer.restore`.

    :func:`bnn.runs.load_run` does not read the checkpoint: it is read here, maybe long after.
    If the run was saved again in between (by a job still training it: a pause takes effect
    only after the step or the epoch's end under way, checkpoint included), the checkpoint on
    disk belongs to the later save, and paired with the weights of ``saved`` it would continue
    another run. Then the whole run is read again and continues from that later save, which is
    the same run further along (refused if a live edit changed its settings since).
    """
    if saved.checkpoint is not None and saved.model is not None:  # in memory: one save already
        return saved.model.state_dict(), saved.checkpoint, saved.records, saved.evals
    if saved.path is None:
        raise RunFormatError(f"{saved.name} has no checkpoint to resume from")
    run: SavedRun | None = saved if saved.model is not None else None
    for attempt in range(RESUME_READS):
        if attempt:
            time.sleep(0.05 * attempt)
        try:
            run = run or load_run(saved.path)
            checkpoint = load_checkpoint(saved.path)
        except RunFormatError:  # e.g. caught between the two renames of a save
            if attempt == RESUME_READS - 1:
                raise
            run = None
            continue
        # the steps of a run's saves only grow, and its weights are read after its metrics and
        # before its checkpoint: the same step in metrics and checkpoint means one save
        if checkpoint.get("step") == _saved_step(run):
            if run.model is None:
                raise RunFormatError(f"{saved.name} has no weights to resume from")
            if run.config != saved.config:
                raise RunFormatError(f"{saved.name} was saved with other settings while it was read for resuming")
            return run.model.state_dict(), checkpoint, run.records, run.evals
        run = None
    raise RunFormatError(f"{saved.name} kept changing while it was read for resuming: is it still training?")
