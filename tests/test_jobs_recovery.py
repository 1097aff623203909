"""bnn.jobs: crash safety (checkpoints, resuming an interrupted run), the limit on runs training
at once, and releasing ended runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, make_tiny_data

from bnn.config import InputConfig, LayerConfig, ModelConfig, RunConfig, TrainConfig
from bnn.jobs import FINISHED, QUEUED, STOPPED, RunSlots, TrainingJob
from bnn.models import build_model
from bnn.runs import CHECKPOINT_FILE, SavedRun, list_runs, load_run, save_run, scan_runs
from bnn.train import Trainer, train

CONFIG = RunConfig(
    ModelConfig(input=InputConfig(dropout=0.2), layers=(LayerConfig(32), LayerConfig(10, binarize_activations=False))),
    TrainConfig(batch_size=50, epochs=3, seed=3),
)


def _wait(predicate, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _weights_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_a_job_checkpoints_every_epoch_and_a_resumed_run_ends_as_the_uninterrupted_one(tmp_path: Path):
    data = make_tiny_data(n_train=200)
    whole = TrainingJob(CONFIG, data, name="whole", record_every=3).start()
    assert whole.join(60) and whole.status == FINISHED

    job = TrainingJob(CONFIG, data, name="crashing", record_every=3, checkpoint_dir=tmp_path).start()
    _wait(lambda: (tmp_path / "crashing" / CHECKPOINT_FILE).exists())  # epoch 1 ended
    job.pause()  # takes effect after the step or epoch end under way: the run may be saved once more
    saved = load_run(tmp_path / "crashing")
    assert saved.unfinished and saved.summary["status"] == "interrupted" and saved.records
    job.stop()
    job.join(30)

    resumed = TrainingJob(CONFIG, data, name="crashing", record_every=3, resume_from=saved).start()
    assert resumed.join(60) and resumed.status == FINISHED, resumed.snapshot().message
    assert _weights_equal(resumed.model_copy(), whole.model_copy())
    assert resumed.snapshot().evals == whole.snapshot().evals


def test_a_run_saved_again_after_it_was_read_resumes_from_one_whole_save(tmp_path: Path):
    """``resume_from`` a run read at one checkpoint (a record inside epoch 1) whose folder now
    holds a later one (inside epoch 2): the job continues from weights, records and checkpoint of
    one and the same save, and ends as the uninterrupted run."""
    data = make_tiny_data(n_train=200)
    whole = train(CONFIG, data, "cpu", record_every=3)
    trainer = Trainer(CONFIG, data, "cpu", record_every=3)  # 4 steps an epoch, records at 3, 4, 6, 8, ...
    run = SavedRun(name="saved-twice", config=CONFIG)
    saved = None
    for step in trainer.steps():
        if step in (3, 6):
            assert trainer.at_checkpoint
            run.records, run.evals, run.model = trainer.records, trainer.evals, trainer.model
            run.checkpoint, run.summary = trainer.state_dict(), {"status": "interrupted", "steps": step}
            save_run(run, tmp_path)
        if step == 3:
            saved = load_run(run.path)
        if step == 6:
            break
    assert saved is not None and saved.records[-1]["step"] == 3

    resumed = TrainingJob(CONFIG, data, name="saved-twice", record_every=3, resume_from=saved).start()
    assert resumed.join(60) and resumed.status == FINISHED, resumed.snapshot().message
    assert _weights_equal(resumed.model_copy(), whole.model)
    assert resumed.snapshot().evals == whole.evals
    assert [r["step"] for r in resumed.snapshot().records] == [r["step"] for r in whole.records]


def test_reading_a_run_while_another_trains_leaves_the_training_alone(tmp_path: Path):
    """Reading a run (a page, or the test thread, while a job trains) draws nothing from torch's
    random generator, where the training draws its dropout masks from and which its checkpoints save."""
    data = make_tiny_data(n_train=200)
    whole = train(CONFIG, data, "cpu", record_every=3)
    other = save_run(SavedRun(name="other", config=CONFIG, model=build_model(CONFIG.model)), tmp_path)
    before = torch.get_rng_state()
    load_run(other)
    assert torch.equal(torch.get_rng_state(), before)

    trainer = Trainer(CONFIG, data, "cpu", record_every=3)
    for _ in trainer.steps(on_epoch_end=lambda _: load_run(other)):
        load_run(other)
    assert _weights_equal(trainer.model, whole.model)
    assert trainer.evals == whole.evals


@pytest.mark.slow  # a fresh process trains until killed
def test_a_run_killed_mid_training_comes_back_interrupted_and_resumes(tmp_path: Path):
    """SIGKILL of the process that trains: its last checkpoint is a whole, loadable run."""
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / "tests")!r})
        from conftest import make_tiny_data
        from test_jobs_recovery import CONFIG
        from bnn.jobs import TrainingJob
        job = TrainingJob(CONFIG.replace_train(epochs=200), make_tiny_data(n_train=200), name="victim",
                          record_every=3, checkpoint_dir={str(tmp_path)!r}).start()
        job.join()
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        _wait(lambda: (tmp_path / "victim" / CHECKPOINT_FILE).exists(), 120)
        time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    runs, unreadable = scan_runs(tmp_path)
    assert not unreadable and [run.name for run in runs] == ["victim"]
    saved = load_run(runs[0].path)
    assert saved.unfinished and saved.model is not None
    done = saved.records[-1]["step"]
    resumed = TrainingJob(
        saved.config.replace_train(epochs=200),
        make_tiny_data(n_train=200),
        name="victim",
        record_every=3,
        resume_from=saved,
    )
    resumed.start()
    _wait(lambda: resumed.snapshot().step > done + 2)
    resumed.stop()
    assert resumed.join(60) and resumed.status == STOPPED


def test_runs_beyond_the_limit_wait_their_turn_in_order(tmp_path: Path):
    data = make_tiny_data(n_train=200)
    slots = RunSlots(limit=1)
    first = TrainingJob(CONFIG.replace_train(epochs=50), data, name="first", slots=slots).start()
    _wait(lambda: first.snapshot().step > 0)
    second = TrainingJob(CONFIG, data, name="second", slots=slots).start()
    third = TrainingJob(CONFIG, data, name="third", slots=slots).start()
    _wait(lambda: third.status == QUEUED)
    assert (second.snapshot().queue_position, third.snapshot().queue_position) == (1, 2)
    third.stop()
    assert third.join(10) and third.status == STOPPED and third.snapshot().step == 0
    assert second.status == QUEUED and second.snapshot().queue_position == 1
    first.stop()
    assert second.join(60) and second.status == FINISHED


def test_a_released_job_keeps_its_numbers_but_not_its_model(tmp_path: Path):
    job = TrainingJob(CONFIG.replace_train(epochs=1), make_tiny_data(n_train=200), name="done").start()
    assert job.join(60)
    before = job.snapshot()
    job.release()
    after = job.snapshot()
    assert job.model_copy() is None
    assert (after.step, after.total_steps, after.epoch, after.records) == (
        before.step,
        before.total_steps,
        before.epoch,
        before.records,
    )
    assert not list_runs(tmp_path)
