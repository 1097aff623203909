"""bnn.jobs.training_job: a run in a background thread; start, pause, resume, stop, snapshots, failures."""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time

import pytest
import torch
from conftest import shrink

from bnn.config.presets import PRESETS
from bnn.config.schema import ConfigError
from bnn.jobs import training_job as jobs
from bnn.jobs.run import Run, Status
from bnn.jobs.run_folders import load_run
from bnn.jobs.run_slots import RunSlots
from bnn.jobs.training_job import TrainingJob
from bnn.training import devices
from bnn.training.data import DataUnavailableError, MnistData
from bnn.training.devices import set_background_priority

WAIT = 60.0  # seconds: an upper bound on waiting for an event, never a measurement


class FakeClock:
    """Stands in for the ``time`` module of bnn.jobs.training_job: its perf_counter moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now

    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(jobs, "time", fake)
    return fake


@pytest.fixture
def thread_errors(monkeypatch):
    """Exceptions that escaped a thread (threading.excepthook); a job must never add any."""
    errors = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    return errors


@pytest.fixture(scope="module")
def long_config():
    """2,000 steps of a tiny model: far longer than any test waits (5,000 images, batch 50, 20 epochs)."""
    return shrink(PRESETS["fast"], 32).replace_train(train_subset=5000, batch_size=50, epochs=20)


@pytest.fixture(scope="module")
def data(mnist: MnistData) -> MnistData:
    return mnist.subset(test=2000)


def test_start_pause_resume_stop(long_config, data, thread_errors, clock):
    job = TrainingJob(long_config, data, device="cpu", name="t", record_every=10)
    assert job.status == Status.CREATED and job.snapshot().step == 0
    job.start()
    assert job.start() is job  # a second start is a no-op
    job.wait_until(lambda run: run.step >= 15, WAIT)
    assert job.status == Status.RUNNING

    job.pause()
    assert job.status == Status.PAUSED
    job.wait_until(lambda run: job.parked, WAIT)  # the step in flight is done
    paused = job.snapshot()
    clock.now += 30.0  # half a minute passes while it is paused
    snap = job.snapshot()
    assert snap.step == paused.step and snap.status == Status.PAUSED
    assert snap.eta_s is not None and snap.eta_s > 0
    assert snap.elapsed_s == paused.elapsed_s  # the training clock stopped

    job.resume()
    assert job.status == Status.RUNNING
    job.wait_until(lambda run: run.step >= paused.step + 10, WAIT)

    before_stop = job.snapshot().step
    job.stop()
    assert job.status in (Status.STOPPING, Status.EVALUATING, Status.STOPPED)
    assert job.join(timeout=WAIT)
    snap = job.snapshot()
    assert snap.status == Status.STOPPED and snap.ended
    # stopped after the step under way: one more at most (and one between the snapshot and the stop)
    assert before_stop <= snap.step <= before_stop + 2
    assert snap.message == f"stopped at step {snap.step} of {snap.total_steps}"
    assert snap.total_steps == 2000 and 0 < snap.step < 2000
    assert snap.summary["steps"] == snap.step
    # the final evaluation of what was trained, on both splits, at the stopped step
    assert snap.last_eval("test")["step"] == snap.step and snap.last_eval("test")["count"] == 2000
    assert snap.last_eval("train")["step"] == snap.step and snap.last_eval("train")["count"] == 5000
    assert snap.eta_s is None
    assert not job.is_alive
    assert thread_errors == []
    model = job.model_copy()
    assert model is not None and not model.training
    assert snap.model() is not None  # a snapshot's weights, on demand


def test_stopped_while_paused_keeps_its_elapsed_time(long_config, data, thread_errors, clock):
    job = TrainingJob(long_config, data, device="cpu", record_every=10).start()
    job.wait_until(lambda run: run.step >= 5, WAIT)
    clock.now += 5.0
    job.pause()
    job.wait_until(lambda run: job.parked, WAIT)
    clock.now += 100.0  # paused for 100 s: not training time
    job.stop()
    assert job.join(timeout=WAIT)
    first = job.snapshot().elapsed_s
    assert first == pytest.approx(5.0)
    clock.now += 50.0
    assert job.snapshot().elapsed_s == first  # frozen once ended
    assert job.status == Status.STOPPED
    assert thread_errors == []


def test_snapshot_is_a_consistent_copy(long_config, data, thread_errors):
    job = TrainingJob(long_config, data, device="cpu", record_every=5).start()
    try:
        job.wait_until(lambda run: len(run.records) >= 3, WAIT)
        for _ in range(200):
            snap = job.snapshot()
            assert isinstance(snap, Run)
            assert snap.epoch == pytest.approx(snap.step / 100)  # same step: 100 steps per epoch
            assert snap.records and snap.records[-1]["step"] <= snap.step
            assert [r["step"] for r in snap.records] == list(range(5, 5 * len(snap.records) + 1, 5))
            assert 0 < snap.progress < 1 and snap.epochs == 20
        snap = job.snapshot()
        n = len(snap.records)
        snap.records.clear()
        snap.evals.append({"split": "test"})
        later = job.snapshot()
        assert len(later.records) >= n and {"split": "test"} not in later.evals
        with pytest.raises(dataclasses.FrozenInstanceError):
            snap.step = 0  # frozen
    finally:
        job.stop()
        job.join(timeout=WAIT)
    assert thread_errors == []


def test_finished_run(data, thread_errors):
    config = shrink(PRESETS["fast"], 16).replace_train(train_subset=200, batch_size=50, epochs=2)
    job = TrainingJob(config, data, device="cpu", record_every=2).start()
    assert job.join(timeout=WAIT)
    snap = job.snapshot()
    assert snap.status == Status.FINISHED and snap.message == "finished"
    assert snap.step == snap.total_steps == 8 and snap.progress == 1.0
    assert [e["split"] for e in snap.evals] == ["test", "test", "train"]
    assert [r["step"] for r in snap.records] == [2, 4, 6, 8]
    assert snap.summary["steps"] == 8 and snap.nonfinite_step is None
    job.stop()  # stopping an ended job changes nothing
    assert job.status == Status.FINISHED
    assert thread_errors == []


def test_seed_preset_diverges(data, thread_errors):
    config = PRESETS["seed"].replace_train(train_subset=2000, epochs=5)
    job = TrainingJob(config, data, device="cpu", record_every=5, stop_on_nonfinite=True).start()
    assert job.join(timeout=WAIT)
    snap = job.snapshot()
    assert snap.status == Status.DIVERGED
    assert snap.nonfinite_step is not None and snap.step == snap.nonfinite_step < snap.total_steps
    assert f"NaN/inf at step {snap.nonfinite_step}" in snap.message
    assert snap.summary["prediction_histogram"] == [2000] + [0] * 9
    assert snap.last_eval("train") is not None
    assert thread_errors == []


def test_a_diverged_run_keeps_recording_to_the_end_unless_told_to_stop(data, thread_errors):
    config = PRESETS["seed"].replace_train(train_subset=2000, epochs=2)
    job = TrainingJob(config, data, device="cpu", record_every=5).start()
    assert job.join(timeout=WAIT)
    snap = job.snapshot()
    assert snap.status == Status.DIVERGED and snap.summary["status"] == Status.DIVERGED
    assert snap.step == snap.total_steps and f"NaN/inf at step {snap.nonfinite_step}" in snap.message
    nan_records = [r for r in snap.records if r["nonfinite"]]
    assert len(nan_records) == len(snap.records) - (snap.nonfinite_step > 5)  # every record after the NaN
    mean_accuracy = sum(r["batch_accuracy"] for r in nan_records) / len(nan_records)
    assert 5 < mean_accuracy < 15  # the flat line: always class 0, right for the ~10% zeros
    assert thread_errors == []


def test_live_edit_through_the_job_lands_in_snapshot_and_summary(long_config, data, thread_errors):
    job = TrainingJob(long_config, data, device="cpu", name="t", record_every=10).start()
    with pytest.raises(ConfigError):
        TrainingJob(long_config, data).edit("lr", 1e-3)  # not started: nothing to edit
    job.wait_until(lambda run: run.step >= 5, WAIT)
    job.edit("lr", 3e-3)
    job.edit("binarize_activations", False, layer=1)
    job.wait_until(lambda run: len(run.edits) == 2, WAIT)
    assert job.config.train.lr == 3e-3 and job.snapshot().config == job.config  # as trained now
    assert not job.config.model.layers[1].binarize_activations
    job.stop()
    assert job.join(timeout=WAIT)
    snap = job.snapshot()
    assert [e["setting"] for e in snap.summary["edits"]] == ["lr", "binarize_activations"]
    assert [e["setting"] for e in snap.edits] == ["lr", "binarize_activations"]
    assert snap.config.train.lr == 3e-3 and not snap.config.model.layers[1].binarize_activations
    assert snap.summary["status"] == Status.STOPPED
    with pytest.raises(ConfigError):
        job.edit("lr", 1e-3)  # ended
    assert thread_errors == []


def test_eta_includes_the_final_evaluation(long_config, data, thread_errors):
    job = TrainingJob(long_config, data, device="cpu", record_every=10).start()
    job.wait_until(lambda run: run.step >= 15 and run.records, WAIT)
    job.pause()
    job.wait_until(lambda run: job.parked, WAIT)
    snap = job.snapshot()
    assert snap.final_eval_s > 0
    assert snap.eta_s >= snap.final_eval_s + snap.elapsed_s / snap.step * (snap.total_steps - snap.step) * 0.99
    job.stop()
    assert job.join(timeout=WAIT)


def test_data_unavailable_gives_failed_status(long_config, thread_errors):
    message = "MNIST is not in /nowhere/MNIST/raw and could not be downloaded (download disabled)."

    def loader():
        raise DataUnavailableError(message)

    job = TrainingJob(long_config, data_loader=loader, device="cpu").start()
    assert job.join(timeout=WAIT)
    snap = job.snapshot()
    assert snap.status == Status.FAILED and snap.message == message and snap.ended
    assert snap.step == 0 and snap.summary == {} and job.model_copy() is None and snap.model() is None
    assert thread_errors == []


def test_any_exception_gives_failed_status_and_the_thread_never_raises(long_config, thread_errors):
    def loader():
        raise ZeroDivisionError("boom")

    job = TrainingJob(long_config, data_loader=loader, device="cpu").start()
    assert job.join(timeout=WAIT)
    assert job.status == Status.FAILED
    assert job.snapshot().message.startswith("ZeroDivisionError: boom")
    # an invalid config fails inside the thread too (Trainer refuses it)
    bad = TrainingJob(long_config.replace_train(lr=-1.0), data_loader=lambda: None, device="cpu").start()
    assert bad.join(timeout=WAIT)
    assert bad.status == Status.FAILED and "Learning rate must be in (0, 10]" in bad.snapshot().message
    assert thread_errors == []


def test_stop_before_data_arrives(long_config, data, thread_errors):
    arrived = threading.Event()

    def slow_loader():
        arrived.wait(5)
        return data

    job = TrainingJob(long_config, data_loader=slow_loader, device="cpu").start()
    job.wait_until(lambda run: run.status == Status.LOADING, WAIT)
    job.stop()
    arrived.set()
    assert job.join(timeout=WAIT)
    assert job.status == Status.STOPPED and job.snapshot().message == "stopped before training started"
    assert job.status.ended
    assert thread_errors == []


def test_paused_before_data_arrives_starts_paused(long_config, data, thread_errors):
    arrived = threading.Event()
    job = TrainingJob(long_config, data_loader=lambda: (arrived.wait(5), data)[1], device="cpu").start()
    job.pause()
    arrived.set()
    job.wait_until(lambda run: job.parked, WAIT)  # parked before its first step
    snap = job.snapshot()
    assert snap.status == Status.PAUSED and snap.total_steps == 2000 and snap.step == 0
    job.stop()
    assert job.join(timeout=WAIT)
    assert job.status == Status.STOPPED and job.snapshot().step == 0
    assert thread_errors == []


def test_request_eval(long_config, data, thread_errors):
    job = TrainingJob(long_config, data, device="cpu").start()
    try:
        requested_at = job.wait_until(lambda run: run.step >= 3, WAIT).step
        job.request_eval()
        job.wait_until(lambda run: run.last_eval("test") is not None, WAIT)
        ev = job.snapshot().evals[0]
        assert ev["split"] == "test" and ev["count"] == 2000 and ev["step"] >= requested_at
        if requested_at < 90:  # handled between two steps, long before the first epoch's evaluation
            assert ev["step"] < 100 and ev["epoch"] == ev["step"] / 100
    finally:
        job.stop()
        job.join(timeout=WAIT)
    assert thread_errors == []


def test_a_job_saves_itself_when_it_ends_with_the_settings_as_trained(long_config, data, tmp_path, thread_errors):
    job = TrainingJob(
        long_config, data, device="cpu", name="saved", record_every=10, runs_dir=tmp_path, fixes="broken-run"
    ).start()
    job.wait_until(lambda run: run.step >= 5, WAIT)
    job.edit("binarize_weights", False, layer=0)
    job.wait_until(lambda run: run.edits, WAIT)
    job.stop()
    run = job.wait_until(lambda run: run.ended, WAIT)  # ended means saved: no page has to run first
    assert run.path == tmp_path / "saved" and not (run.path / "checkpoint.pt").exists()
    saved = load_run(run.path)
    assert saved.config == run.config == job.config and not saved.config.model.layers[0].binarize_weights
    assert (saved.status, saved.fixes, saved.edits) == (Status.STOPPED, "broken-run", run.edits)
    assert saved.records == run.records and saved.test_accuracy == run.test_accuracy
    released, on_disk = job.model_copy().state_dict(), saved.model().state_dict()
    assert all(torch.equal(released[k], on_disk[k]) for k in on_disk)  # the job's weights are the folder's now
    assert thread_errors == []


def test_wait_until_gives_up_when_the_job_ends_without_it(long_config, thread_errors):
    job = TrainingJob(long_config, data_loader=lambda: 1 / 0, device="cpu").start()
    with pytest.raises(TimeoutError, match="failed"):
        job.wait_until(lambda run: run.step >= 1, WAIT)


class _Waiter:
    """Stands in for a job waiting for a slot: RunSlots needs only its owner."""

    def __init__(self, owner: str) -> None:
        self.owner = owner


def test_waiting_runs_take_turns_by_owner_so_a_script_does_not_starve_the_class():
    import queue

    slots = RunSlots(1)
    holder = _Waiter("teacher")
    assert slots.try_acquire(holder)
    script = [_Waiter("script") for _ in range(4)]  # one owner queued 4 runs first ...
    students = [_Waiter("student 1"), _Waiter("student 2")]  # ... then two others one each
    started: queue.Queue = queue.Queue()
    threads = []
    for job in script + students:
        thread = threading.Thread(
            target=lambda job=job: slots.acquire(job, threading.Event()) and started.put(job), daemon=True
        )
        thread.start()
        threads.append(thread)
        with slots._changed:  # it waits: the next one arrives after it
            assert slots._changed.wait_for(lambda job=job: slots.position(job) is not None, timeout=30)
    assert slots.waiting == 6 and [slots.position(job) for job in script + students] == [1, 4, 5, 6, 2, 3]
    order, running = [], holder
    for _ in range(6):
        slots.release(running)
        running = started.get(timeout=30)
        order.append(running.owner)
    assert order == ["script", "student 1", "student 2", "script", "script", "script"]
    slots.release(running)
    for thread in threads:
        thread.join(30)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_a_job_trains_in_the_background_priority_the_app_sets(long_config, data, monkeypatch, thread_errors):
    monkeypatch.setattr(devices, "_background_nice", 0)
    set_background_priority(5)  # what the app does at its start (ui.state.BACKGROUND_NICE)
    seen = []

    def loader():  # runs in the job's thread, before its first training step
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return data

    job = TrainingJob(long_config.replace_train(epochs=1, train_subset=100), data_loader=loader, device="cpu")
    assert job.start().join(timeout=WAIT) and thread_errors == []
    assert seen == [min(19, os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) + 5)]


def test_starting_a_job_lets_the_starting_threads_idle_openmp_workers_go(long_config, data, monkeypatch, thread_errors):
    released = []
    monkeypatch.setattr(jobs, "release_idle_cpu_threads", lambda: released.append(threading.get_native_id()))
    job = TrainingJob(long_config.replace_train(epochs=1, train_subset=100), data, device="cpu")
    assert job.start().join(timeout=WAIT) and thread_errors == []
    assert released == [threading.get_native_id()]  # in the caller's thread, whose workers would slow the run's
