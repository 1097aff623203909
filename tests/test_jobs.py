"""bnn.jobs: a run in a background thread; start, pause, resume, stop, snapshots, failures."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from conftest import shrink

from bnn.data import DataUnavailableError, MnistData
from bnn.jobs import DIVERGED, ENDED, FAILED, FINISHED, PAUSED, RUNNING, STOPPED, STOPPING, JobSnapshot, TrainingJob
from bnn.presets import PRESETS
from bnn.settings import ConfigError


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.005) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


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


def test_start_pause_resume_stop(long_config, data, thread_errors):
    job = TrainingJob(long_config, data, device="cpu", name="t", record_every=10)
    assert job.status == "created" and job.snapshot().step == 0
    job.start()
    assert job.start() is job  # a second start is a no-op
    assert wait_for(lambda: job.snapshot().step >= 15), job.snapshot()
    assert job.status == RUNNING

    job.pause()
    assert job.status == PAUSED
    time.sleep(0.3)  # let the step in flight finish
    paused_step = job.snapshot().step
    time.sleep(0.5)
    snap = job.snapshot()
    assert snap.step == paused_step and snap.status == PAUSED
    assert snap.eta_s is not None and snap.eta_s > 0
    elapsed_while_paused = snap.elapsed_s
    time.sleep(0.2)
    assert job.snapshot().elapsed_s == pytest.approx(elapsed_while_paused, abs=0.05)  # clock stopped

    job.resume()
    assert job.status == RUNNING
    assert wait_for(lambda: job.snapshot().step >= paused_step + 10)

    stop_called = time.perf_counter()
    job.stop()
    assert job.status in (STOPPING, "evaluating", STOPPED)
    assert wait_for(lambda: job.status not in (RUNNING, STOPPING), timeout=5, interval=0.001)
    assert time.perf_counter() - stop_called < 1.0
    assert job.join(timeout=30)
    snap = job.snapshot()
    assert snap.status == STOPPED and snap.ended
    assert snap.message == f"stopped at step {snap.step} of {snap.total_steps}"
    assert snap.total_steps == 2000 and 0 < snap.step < 2000
    assert snap.summary is not None and snap.summary["steps"] == snap.step
    # the final evaluation of what was trained, on both splits, at the stopped step
    assert snap.last_eval("test")["step"] == snap.step and snap.last_eval("test")["count"] == 2000
    assert snap.last_eval("train")["step"] == snap.step and snap.last_eval("train")["count"] == 5000
    assert snap.eta_s is None
    assert not job.is_alive
    assert thread_errors == []
    model = job.model_copy()
    assert model is not None and not model.training


def test_stopped_while_paused_keeps_its_elapsed_time(long_config, data, thread_errors):
    job = TrainingJob(long_config, data, device="cpu", record_every=10).start()
    assert wait_for(lambda: job.snapshot().step >= 5)
    job.pause()
    time.sleep(0.2)
    job.stop()
    assert job.join(timeout=30)
    first = job.snapshot().elapsed_s
    assert first > 0
    time.sleep(0.3)
    assert job.snapshot().elapsed_s == pytest.approx(first, abs=1e-6)  # frozen, not shrinking
    assert job.status == STOPPED
    assert thread_errors == []


def test_snapshot_is_a_consistent_copy(long_config, data, thread_errors):
    job = TrainingJob(long_config, data, device="cpu", record_every=5).start()
    try:
        assert wait_for(lambda: len(job.snapshot().records) >= 3)
        for _ in range(200):
            snap = job.snapshot()
            assert isinstance(snap, JobSnapshot)
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
        job.join(timeout=30)
    assert thread_errors == []


def test_finished_run(data, thread_errors):
    config = shrink(PRESETS["fast"], 16).replace_train(train_subset=200, batch_size=50, epochs=2)
    job = TrainingJob(config, data, device="cpu", record_every=2).start()
    assert job.join(timeout=60)
    snap = job.snapshot()
    assert snap.status == FINISHED and snap.message == "finished"
    assert snap.step == snap.total_steps == 8 and snap.progress == 1.0
    assert [e["split"] for e in snap.evals] == ["test", "test", "train"]
    assert [r["step"] for r in snap.records] == [2, 4, 6, 8]
    assert snap.summary["steps"] == 8 and snap.nonfinite_step is None
    job.stop()  # stopping an ended job changes nothing
    assert job.status == FINISHED
    assert thread_errors == []


def test_seed_preset_diverges(data, thread_errors):
    config = PRESETS["seed"].replace_train(train_subset=2000, epochs=5)
    job = TrainingJob(config, data, device="cpu", record_every=5, stop_on_nonfinite=True).start()
    assert job.join(timeout=60)
    snap = job.snapshot()
    assert snap.status == DIVERGED
    assert snap.nonfinite_step is not None and snap.step == snap.nonfinite_step < snap.total_steps
    assert f"NaN/inf at step {snap.nonfinite_step}" in snap.message
    assert snap.summary["prediction_histogram"] == [2000] + [0] * 9
    assert snap.last_eval("train") is not None
    assert thread_errors == []


def test_a_diverged_run_keeps_recording_to_the_end_unless_told_to_stop(data, thread_errors):
    config = PRESETS["seed"].replace_train(train_subset=2000, epochs=2)
    job = TrainingJob(config, data, device="cpu", record_every=5).start()
    assert job.join(timeout=60)
    snap = job.snapshot()
    assert snap.status == DIVERGED and snap.summary["status"] == DIVERGED
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
    assert wait_for(lambda: job.snapshot().step >= 5)
    job.edit("lr", 3e-3)
    job.edit("binarize_activations", False, layer=1)
    assert wait_for(lambda: len(job.snapshot().edits) == 2)
    assert job.current_config().train.lr == 3e-3 and job.config.train.lr == long_config.train.lr
    job.stop()
    assert job.join(timeout=30)
    snap = job.snapshot()
    assert [e["setting"] for e in snap.summary["edits"]] == ["lr", "binarize_activations"]
    assert snap.summary["status"] == STOPPED
    with pytest.raises(ConfigError):
        job.edit("lr", 1e-3)  # ended
    assert thread_errors == []


def test_eta_includes_the_final_evaluation(long_config, data, thread_errors):
    job = TrainingJob(long_config, data, device="cpu", record_every=10).start()
    assert wait_for(lambda: job.snapshot().step >= 15 and job.snapshot().records)
    job.pause()
    time.sleep(0.3)
    snap = job.snapshot()
    assert snap.final_eval_s > 0
    assert snap.eta_s >= snap.final_eval_s + snap.elapsed_s / snap.step * (snap.total_steps - snap.step) * 0.99
    job.stop()
    assert job.join(timeout=30)


def test_data_unavailable_gives_failed_status(long_config, thread_errors):
    message = "MNIST is not in /nowhere/MNIST/raw and could not be downloaded (download disabled)."

    def loader():
        raise DataUnavailableError(message)

    job = TrainingJob(long_config, data_loader=loader, device="cpu").start()
    assert job.join(timeout=10)
    snap = job.snapshot()
    assert snap.status == FAILED and snap.message == message and snap.ended
    assert snap.step == 0 and snap.summary is None and job.model_copy() is None
    assert thread_errors == []


def test_any_exception_gives_failed_status_and_the_thread_never_raises(long_config, thread_errors):
    def loader():
        raise ZeroDivisionError("boom")

    job = TrainingJob(long_config, data_loader=loader, device="cpu").start()
    assert job.join(timeout=10)
    assert job.status == FAILED
    assert job.snapshot().message.startswith("ZeroDivisionError: boom")
    # an invalid config fails inside the thread too (Trainer refuses it)
    bad = TrainingJob(long_config.replace_train(lr=-1.0), data_loader=lambda: None, device="cpu").start()
    assert bad.join(timeout=10)
    assert bad.status == FAILED and "Learning rate must be in (0, 10]" in bad.snapshot().message
    assert thread_errors == []


def test_stop_before_data_arrives(long_config, data, thread_errors):
    arrived = threading.Event()

    def slow_loader():
        arrived.wait(5)
        return data

    job = TrainingJob(long_config, data_loader=slow_loader, device="cpu").start()
    assert wait_for(lambda: job.status == "loading data", timeout=5)
    job.stop()
    arrived.set()
    assert job.join(timeout=10)
    assert job.status == STOPPED and job.snapshot().message == "stopped before training started"
    assert job.status in ENDED
    assert thread_errors == []


def test_paused_before_data_arrives_starts_paused(long_config, data, thread_errors):
    arrived = threading.Event()
    job = TrainingJob(long_config, data_loader=lambda: (arrived.wait(5), data)[1], device="cpu").start()
    job.pause()
    arrived.set()
    assert wait_for(lambda: job.status == PAUSED and job.snapshot().total_steps == 2000, timeout=10)
    time.sleep(0.3)
    assert job.snapshot().step == 0
    job.stop()
    assert job.join(timeout=30)
    assert job.status == STOPPED and job.snapshot().step == 0
    assert thread_errors == []


def test_request_eval(long_config, data, thread_errors):
    job = TrainingJob(long_config, data, device="cpu").start()
    try:
        assert wait_for(lambda: job.snapshot().step >= 3)
        requested_at = job.snapshot().step
        job.request_eval()
        assert wait_for(lambda: job.snapshot().last_eval("test") is not None, timeout=10)
        ev = job.snapshot().evals[0]
        assert ev["split"] == "test" and ev["count"] == 2000 and ev["step"] >= requested_at
        if requested_at < 90:  # handled between two steps, long before the first epoch's evaluation
            assert ev["step"] < 100 and ev["epoch"] == ev["step"] / 100
    finally:
        job.stop()
        job.join(timeout=30)
    assert thread_errors == []
