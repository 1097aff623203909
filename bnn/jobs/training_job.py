"""A training run in a background thread: start, pause, resume, stop, and snapshots.

The thread makes no UI calls: a page (or a test) reads :meth:`TrainingJob.snapshot`, a
:class:`bnn.jobs.run.Run` taken under a lock (metrics, status, the settings as trained now), whenever
it likes, or waits for one that satisfies a condition (:meth:`TrainingJob.wait_until`). Pause and stop
are checked between optimizer steps (and inside evaluations), so they take effect well within
a second. Stopping keeps everything trained so far and runs a final evaluation.

A NaN or inf loss (or weight) is reported in the snapshot (``nonfinite_step``); with
``stop_on_nonfinite`` the run then stops with status ``diverged`` after its final evaluation,
without it the run keeps training and recording (the NaN loss, the flat accuracy) and ends as
``diverged``. :meth:`TrainingJob.edit` changes a live setting at the next optimizer step
(:meth:`bnn.training.loop.Trainer.request_edit`); the applied edits are in the snapshot and the summary,
as is the final status.

Saving: with ``runs_dir`` the job saves itself as an unfinished run (weights, metrics and
:meth:`bnn.training.loop.Trainer.state_dict`) at every epoch's end and every ``CHECKPOINT_SECONDS`` of
training, atomically (:func:`bnn.jobs.run_folders.save_run`), so a crash loses at most that much; and once
more when it ends, finished, stopped or diverged, after which it lets its model and optimizer go
(its weights then reload from the folder). ``resume_from`` a saved unfinished run continues it
exactly, from weights, metrics and checkpoint of one save (the latest, if the run was saved again
after it was read: see :func:`bnn.jobs.resuming.resume_state`). With ``runs_dir`` it also writes
TensorBoard event files into its folder as it trains (:mod:`bnn.training.tensorboard_log`; ``tensorboard=False``:
none). Load: jobs sharing one :class:`RunSlots` train at most
``limit`` at a time, the others wait in order (status ``queued``).
"""

from __future__ import annotations

import copy
import os
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

from ..config.schema import ConfigError, RunConfig
from ..network.models import BinaryNet
from ..training.data import DataError, MnistData, load_mnist
from ..training.devices import enter_background, release_idle_cpu_threads, resolve_device, use_cpu_threads_for
from ..training.loop import Trainer
from ..training.tensorboard_log import EventLog
from .resuming import resume_state, starting_run
from .run import Run, Status
from .run_folders import load_run, save_run
from .run_format import RunFormatError
from .run_slots import RunSlots
from .time_left import time_left

CHECKPOINT_SECONDS = 60.0  # of training between two checkpoints inside a long epoch


class TrainingJob:
    """Runs :class:`~bnn.training.loop.Trainer` in a daemon thread; every public method is thread-safe."""

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
        early_record_s: float = 0.0,
        preset: str | None = None,
        fixes: str | None = None,
        owner: str | None = None,
        runs_dir: str | os.PathLike | None = None,
        resume_from: Run | None = None,
        slots: RunSlots | None = None,
        replaces: str | os.PathLike | None = None,
        tensorboard: bool = True,
    ) -> None:
        self.name = name
        self._run = starting_run(config, name=name, preset=preset, fixes=fixes, owner=owner, resume_from=resume_from)
        self._runs_dir = Path(runs_dir) if runs_dir is not None else None
        self._replaces = (
            Path(replaces) if replaces is not None else None
        )  # bnn.jobs.run_folders.save_run's, at its first save
        self._checkpointed_at = 0.0
        self._resume_from = resume_from
        self._slots = slots
        self._events = EventLog() if tensorboard and runs_dir is not None else None  # TensorBoard files in its folder
        self._data = data
        self._data_loader = data_loader or (lambda: load_mnist(data_dir, device="cpu"))
        self._device = resolve_device(device)
        self._record_every = record_every
        self._trainer_options = {"live_stats": live_stats, "train_eval": train_eval, "early_record_s": early_record_s}
        self._stop_on_nonfinite = stop_on_nonfinite
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # notified at every change a snapshot shows
        self._resume = threading.Event()
        self._resume.set()
        self._stop = threading.Event()
        self._eval_requested = threading.Event()
        self._thread: threading.Thread | None = None
        self._trainer: Trainer | None = None
        self._started = 0.0
        self._paused_total = 0.0
        self._paused_at: float | None = None
        self._ended_at = 0.0
        self._done = False  # the thread has nothing more to do
        self._parked = False  # the thread waits for resume or stop, between two steps
        self._crash: BaseException | None = None  # what ended the thread other than an Exception

    @property
    def owner(self) -> str | None:
        """Who started it (:attr:`bnn.jobs.run.Run.owner`): :class:`RunSlots` takes turns by owner."""
        return self._run.owner

    @property
    def config(self) -> RunConfig:
        """The settings in use now: the starting ones with every applied live edit."""
        with self._lock:
            return self._trainer.config if self._trainer is not None else self._run.config

    # --- control -------------------------------------------------------------------------
    def start(self) -> TrainingJob:
        with self._lock:
            if self._thread is not None:
                return self
            self._started = time.perf_counter()
            if self._device.type == "cpu":
                release_idle_cpu_threads()  # the idle OpenMP workers of this thread would slow the run (see there)
            self._thread = threading.Thread(target=self._main, name=f"bnn-train-{self.name}", daemon=True)
            self._thread.start()
        return self

    def pause(self) -> None:
        with self._lock:
            if self.status in (Status.RUNNING, Status.LOADING, Status.CREATED, Status.QUEUED):
                self._resume.clear()
                self._paused_at = time.perf_counter()
                if self.status == Status.RUNNING:
                    self._set(Status.PAUSED)

    def resume(self) -> None:
        with self._lock:
            if self._paused_at is not None:
                self._paused_total += time.perf_counter() - self._paused_at
                self._paused_at = None
            if self.status == Status.PAUSED:
                self._set(Status.RUNNING)
            self._resume.set()

    def stop(self) -> None:
        """Stop after the current step (within a second); what was trained is kept."""
        with self._lock:
            if not self.status.ended:
                if self.status != Status.CREATED:
                    self._set(Status.STOPPING)
                self._stop.set()
                self._resume.set()

    def edit(self, setting: str, value, layer: int | None = None) -> None:
        """Change a live setting of the running trainer at its next optimizer step (raises
        :class:`bnn.config.schema.ConfigError` if it cannot, e.g. before training started or after it ended)."""
        with self._lock:
            trainer, status = self._trainer, self.status
        if trainer is None or status.ended or status in (Status.STOPPING, Status.EVALUATING):
            raise ConfigError("the run is not training")
        trainer.request_edit(setting, value, layer)

    def pending_edits(self) -> list[str]:
        """The edits requested and not yet applied, in words (see :meth:`Trainer.pending_edits`)."""
        with self._lock:
            trainer = self._trainer
        return trainer.pending_edits() if trainer is not None else []

    def request_eval(self) -> None:
        """Evaluate on the test set between two steps, as soon as possible."""
        self._eval_requested.set()

    @property
    def crash(self) -> BaseException | None:
        """What killed the job's thread other than an Exception (those fail the run), or None."""
        return self._crash

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def wait_until(self, condition: Callable[[Run], bool], timeout: float | None = None) -> Run:
        """The first snapshot for which ``condition`` holds, checked at every change of the job
        (each step, record and status); :class:`TimeoutError` after ``timeout`` seconds, or when
        the job's thread has ended without it."""
        with self._changed:
            done = self._changed.wait_for(
                lambda: self._done or condition(self.snapshot()),
                timeout,
            )
            run = self.snapshot()
        if not done or not condition(run):
            raise TimeoutError(f"{self.name} did not get there (now {run.status}, step {run.step})")
        return run

    @property
    def status(self) -> Status:
        with self._lock:
            return self._run.status

    @property
    def parked(self) -> bool:
        """Paused, and the step that was under way when it was paused is done: its weights and
        records stay as they are until it is resumed or stopped."""
        with self._lock:
            return self._parked

    @property
    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- results -------------------------------------------------------------------------
    def snapshot(self) -> Run:
        """The run as it is now (the settings as trained so far, live edits applied)."""
        with self._lock:
            run, trainer = self._run, self._trainer
            elapsed = self._elapsed()
            rate = run.records[-1]["samples_per_s"] if run.records else 0.0
            eta = final_eval = None
            changes = {}
            if trainer is not None:
                eta, final_eval = time_left(trainer, run, elapsed)
                changes = {
                    "config": trainer.config,
                    "edits": list(trainer.edits),
                    "step": trainer.step,
                    "total_steps": trainer.total_steps,
                    "nonfinite_step": trainer.first_nonfinite_step,
                }
            return run.but(
                records=list(run.records),
                evals=list(run.evals),
                elapsed_s=elapsed,
                samples_per_s=rate,
                eta_s=eta,
                final_eval_s=final_eval,
                queue_position=self._slots.position(self) if self._slots and run.status == Status.QUEUED else None,
                weights=self.model_copy,
                **changes,
            )

    def model_copy(self) -> BinaryNet | None:
        """A CPU copy of the model in eval mode: the trainer's while it has one, else the saved
        run's (None before the model exists)."""
        with self._lock:
            if self._trainer is not None:
                return copy.deepcopy(self._trainer.model).cpu().eval()
            path = self._run.path
        if path is None or not self.status.ended:
            return None
        try:
            return load_run(path).model()
        except RunFormatError:
            return None

    def _elapsed(self) -> float:
        if not self._started:
            return 0.0
        paused = self._paused_total + (time.perf_counter() - self._paused_at if self._paused_at else 0.0)
        end = self._ended_at if self._run.status.ended else time.perf_counter()
        return max(end - self._started - paused, 0.0)

    # --- the thread ----------------------------------------------------------------------
    def _set(self, status: Status | None = None, message: str | None = None, **changes) -> None:
        with self._changed:
            if status is not None:
                if status.ended:
                    self._ended_at = time.perf_counter()
                    if self._paused_at is not None:  # ended while paused: the pause ends here too
                        self._paused_total += self._ended_at - self._paused_at
                        self._paused_at = None
                changes["status"] = status
            if message is not None:
                changes["message"] = message
            self._run = self._run.but(**changes)
            self._changed.notify_all()

    def _main(self) -> None:
        enter_background()  # the app's training threads yield the CPU to the pages and browsers (bnn.training.devices)
        if self._slots is not None and not self._slots.try_acquire(self):
            self._set(Status.QUEUED, "waiting for a free training slot")  # only a run that waits is queued
            if not self._slots.acquire(self, self._stop):
                self._set(Status.STOPPED, "stopped while waiting for a training slot")
                with self._changed:
                    self._done = True
                    self._changed.notify_all()
                return
        try:
            self._load_and_train()
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: the caller that drives the job re-raises it
            self._crash = exc
        finally:
            if self._slots is not None:
                self._slots.release(self)
            with self._changed:
                self._done = True
                self._changed.notify_all()

    def _load_and_train(self) -> None:
        try:
            self._set(Status.LOADING, "loading MNIST")
            data = self._data if self._data is not None else self._data_loader()
            if self._stop.is_set():
                self._set(Status.STOPPED, "stopped before training started")
                return
            config = self._run.config
            use_cpu_threads_for(config, self._device)
            trainer = Trainer(
                config,
                data,
                self._device,
                record_every=self._record_every,
                watch_nonfinite=self._stop_on_nonfinite,
                **self._trainer_options,
            )
            if self._resume_from is not None:
                trainer.restore(*resume_state(self._resume_from))
                if self._events is not None:
                    self._events.continue_from(trainer, self._resume_from.path)
            self._checkpointed_at = time.monotonic()
            with self._lock:
                self._trainer = trainer
                status = Status.PAUSED if not self._resume.is_set() else Status.RUNNING
                self._set(status, "", records=list(trainer.records), evals=list(trainer.evals))
            self._train(trainer)
        except (DataError, RunFormatError) as exc:
            self._set(Status.FAILED, str(exc))
        except Exception as exc:  # never let the thread die silently
            self._set(Status.FAILED, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")

    def _wait_while_paused(self) -> None:
        if self._resume.is_set() or self._stop.is_set():
            return
        with self._changed:
            self._parked = True
            self._changed.notify_all()
        while not self._resume.is_set() and not self._stop.is_set():
            self._resume.wait(0.1)
        with self._changed:
            self._parked = False
            self._changed.notify_all()

    def _train(self, trainer: Trainer) -> None:
        diverged = False
        self._wait_while_paused()  # paused before the first step
        for _ in trainer.steps(on_epoch_end=self._checkpoint) if not self._stop.is_set() else ():
            self._publish(trainer)
            if self._runs_dir is not None and trainer.at_checkpoint and not trainer.world.distributed:
                if time.monotonic() - self._checkpointed_at >= CHECKPOINT_SECONDS:
                    self._checkpoint(trainer)
            if self._eval_requested.is_set():
                self._eval_requested.clear()
                trainer.evaluate("test")
                self._publish(trainer)
            if self._stop_on_nonfinite and trainer.first_nonfinite_step is not None:
                diverged = True
                break
            self._wait_while_paused()
            if self._stop.is_set():
                break
        self._publish(trainer)
        if not trainer.finished:  # stopped or diverged: final evaluation of what was trained
            self._set(Status.EVALUATING)
            trainer.final_evaluations()
        if diverged:
            status, message = (
                Status.DIVERGED,
                f"the loss became NaN/inf at step {trainer.first_nonfinite_step}; "
                "the weights can no longer learn, so the run was stopped",
            )
        elif trainer.first_nonfinite_step is not None:
            status, message = Status.DIVERGED, f"the loss became NaN/inf at step {trainer.first_nonfinite_step}"
        elif trainer.finished:
            status, message = Status.FINISHED, "finished"
        else:
            status, message = Status.STOPPED, f"stopped at step {trainer.step} of {trainer.total_steps}"
        self._end(trainer, status, message)

    def _end(self, trainer: Trainer, status: Status, message: str) -> None:
        """Save the ended run (final evaluations included, no checkpoint), then announce the end
        and let the model and optimizer go: its weights reload from the folder when asked. A
        run that could not be saved keeps them, and says why in its message."""
        self._publish(trainer)  # the final evaluations
        summary = {**trainer.summary(), "status": str(status)}
        ended = self.snapshot().but(status=status, message=message, summary=summary)
        saved = self._save(trainer, ended, None) if self._runs_dir is not None else None
        if self._events is not None:
            self._events.close(trainer, saved.path if saved else None, preset=ended.preset, status=str(status))
        with self._changed:
            if saved is not None:
                self._trainer = None
                ended = ended.but(path=saved.path, created=saved.created)
            elif self._runs_dir is not None:
                ended = ended.but(message=f"{message}; {self._run.message}")
            self._run = ended
            self._set(status)

    def _save(self, trainer: Trainer, run: Run, checkpoint: dict | None) -> Run | None:
        """Save ``run`` (a snapshot) with the trainer's weights into the runs folder; None, and a
        message saying why, if it could not."""
        try:
            replaces = self._replaces if run.path is None else None
            return save_run(run, self._runs_dir, model=trainer.model, checkpoint=checkpoint, replaces=replaces)
        except OSError as exc:
            self._set(message=f"could not save the run in {self._runs_dir}: {exc}")
            return None

    def _checkpoint(self, trainer: Trainer) -> None:
        """Save the run as it is now, unfinished, so that a crash loses at most this much."""
        if trainer.finished or (self._runs_dir is None and not trainer.world.distributed):
            return  # the finished run is saved when it has ended, with its final evaluations
        checkpoint = trainer.state_dict()  # on every process of a group: it gathers their random states
        if self._runs_dir is None:
            return  # a process of a group other than the first: that one saves
        self._publish(trainer)  # the evaluations just made
        saved = self._save(trainer, self.snapshot(), checkpoint)
        if saved is not None:
            self._set(path=saved.path, created=saved.created)
            if self._events is not None:
                self._events.update(trainer, saved.path)
        self._checkpointed_at = time.monotonic()

    def _publish(self, trainer: Trainer) -> None:
        """Copy new records for snapshots (cheap: only the appended tail) and wake waiters."""
        with self._changed:
            run = self._run
            if len(trainer.records) != len(run.records) or len(trainer.evals) != len(run.evals):
                self._run = run.but(
                    records=run.records + trainer.records[len(run.records) :],
                    evals=run.evals + trainer.evals[len(run.evals) :],
                )
            self._changed.notify_all()
            path = self._run.path
        if self._events is not None:
            self._events.update(trainer, path)
