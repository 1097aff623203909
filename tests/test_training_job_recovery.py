"""bnn.jobs.training_job: crash safety (checkpoints, resuming an interrupted run), the limit on runs training
at once, and ended runs saved and let go of."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import torch
from conftest import ROOT, make_tiny_data

from bnn.config.model_settings import InputConfig, LayerConfig, ModelConfig
from bnn.config.schema import RunConfig
from bnn.config.train_settings import TrainConfig
from bnn.jobs.run import Run, Status
from bnn.jobs.run_folders import load_run, save_run
from bnn.jobs.run_format import CHECKPOINT_FILE
from bnn.jobs.run_listing import scan_runs
from bnn.jobs.run_slots import RunSlots
from bnn.jobs.training_job import TrainingJob
from bnn.network.models import build_model
from bnn.training.loop import Trainer
from bnn.training.runners import train

CONFIG = RunConfig(
    ModelConfig(input=InputConfig(dropout=0.2), layers=(LayerConfig(32), LayerConfig(10, binarize_activations=False))),
    TrainConfig(batch_size=50, epochs=3, seed=3),
)


WAIT = 60.0  # seconds: an upper bound on waiting for an event, never a measurement


@pytest.fixture(autouse=True)
def _no_warm_up_training():
    """The app's warm-up (``ui.state.warm_up``, started by the page tests that ran before) takes a
    training step in background threads, drawing from torch's global random generator: these tests
    compare runs bit for bit, so they start once it is done."""
    for thread in threading.enumerate():
        if thread.name.startswith("bnn-warm-up"):
            thread.join(WAIT)


def _weights_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_a_job_checkpoints_every_epoch_and_a_resumed_run_ends_as_the_uninterrupted_one(tmp_path: Path):
    data = make_tiny_data(n_train=200)
    whole = TrainingJob(CONFIG, data, name="whole", record_every=3).start()
    assert whole.join(WAIT) and whole.status == Status.FINISHED

    job = TrainingJob(CONFIG, data, name="crashing", record_every=3, runs_dir=tmp_path / "server").start()
    job.wait_until(lambda run: run.path is not None, WAIT)  # epoch 1 ended: saved with a checkpoint
    job.pause()  # takes effect after the step or epoch end under way: the run may be saved once more
    job.wait_until(lambda run: job.parked, WAIT)
    shutil.copytree(tmp_path / "server", tmp_path / "crashed")  # what the server left when it died here
    job.stop()
    job.join(WAIT)
    assert load_run(tmp_path / "server" / "crashing").status == Status.STOPPED  # a stopped run saves itself
    saved = load_run(tmp_path / "crashed" / "crashing")
    assert saved.status == Status.INTERRUPTED and saved.records and (saved.path / CHECKPOINT_FILE).exists()

    resumed = TrainingJob(CONFIG, data, name="crashing", record_every=3, resume_from=saved).start()
    assert resumed.join(WAIT) and resumed.status == Status.FINISHED, resumed.snapshot().message
    assert _weights_equal(resumed.model_copy(), whole.model_copy())
    assert resumed.snapshot().evals == whole.snapshot().evals


def test_a_run_saved_again_after_it_was_read_resumes_from_one_whole_save(tmp_path: Path):
    """``resume_from`` a run read at one checkpoint (a record inside epoch 1) whose folder now
    holds a later one (inside epoch 2): the job continues from weights, records and checkpoint of
    one and the same save, and ends as the uninterrupted run."""
    data = make_tiny_data(n_train=200)
    whole = train(CONFIG, data, "cpu", record_every=3)
    trainer = Trainer(CONFIG, data, "cpu", record_every=3)  # 4 steps an epoch, records at 3, 4, 6, 8, ...
    run = Run(name="saved-twice", config=CONFIG)
    saved = None
    for step in trainer.steps():
        if step in (3, 6):
            assert trainer.at_checkpoint
            run = run.but(records=list(trainer.records), evals=list(trainer.evals), summary={"steps": step})
            run = save_run(run, tmp_path, model=trainer.model, checkpoint=trainer.state_dict())
        if step == 3:
            saved = load_run(run.path)
        if step == 6:
            break
    assert saved is not None and saved.records[-1]["step"] == 3

    resumed = TrainingJob(CONFIG, data, name="saved-twice", record_every=3, resume_from=saved).start()
    assert resumed.join(WAIT) and resumed.status == Status.FINISHED, resumed.snapshot().message
    assert _weights_equal(resumed.model_copy(), whole.model)
    assert resumed.snapshot().evals == whole.evals
    assert [r["step"] for r in resumed.snapshot().records] == [r["step"] for r in whole.records]


def test_reading_a_run_while_another_trains_leaves_the_training_alone(tmp_path: Path):
    """Reading a run (a page, or the test thread, while a job trains) draws nothing from torch's
    random generator, where the training draws its dropout masks from and which its checkpoints save."""
    data = make_tiny_data(n_train=200)
    whole = train(CONFIG, data, "cpu", record_every=3)
    other = save_run(Run(name="other", config=CONFIG), tmp_path, model=build_model(CONFIG.model)).path
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
        import sys
        sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / "tests")!r})
        from conftest import make_tiny_data
        from test_training_job_recovery import CONFIG
        from bnn.jobs.training_job import TrainingJob
        job = TrainingJob(CONFIG.replace_train(epochs=200), make_tiny_data(n_train=200), name="victim",
                          record_every=3, runs_dir={str(tmp_path)!r}).start()
        saved = job.wait_until(lambda run: run.path is not None).step
        job.wait_until(lambda run: run.step > saved + 1)  # killed between two saves
        print("training on", flush=True)
        job.join()
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline() == "training on\n"  # waits for the line
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(WAIT)
    runs, unreadable = scan_runs(tmp_path)
    assert not unreadable and [run.name for run in runs] == ["victim"]
    saved = load_run(runs[0].path)
    assert saved.status == Status.INTERRUPTED and saved.model() is not None
    done = saved.records[-1]["step"]
    resumed = TrainingJob(saved.config, make_tiny_data(n_train=200), name="victim", record_every=3, resume_from=saved)
    resumed.start()
    resumed.wait_until(lambda run: run.step > done + 2, WAIT)
    resumed.stop()
    assert resumed.join(WAIT) and resumed.status == Status.STOPPED


def test_runs_beyond_the_limit_wait_their_turn_in_order(tmp_path: Path):
    data = make_tiny_data(n_train=200)
    slots = RunSlots(limit=1)
    first = TrainingJob(CONFIG.replace_train(epochs=50), data, name="first", slots=slots).start()
    first.wait_until(lambda run: run.step > 0, WAIT)
    second = TrainingJob(CONFIG, data, name="second", slots=slots).start()
    second.wait_until(lambda run: run.queue_position == 1, WAIT)
    third = TrainingJob(CONFIG, data, name="third", slots=slots).start()
    third.wait_until(lambda run: run.queue_position == 2, WAIT)
    assert (second.status, third.status) == (Status.QUEUED, Status.QUEUED)
    third.stop()
    assert third.join(WAIT) and third.status == Status.STOPPED and third.snapshot().step == 0
    assert second.status == Status.QUEUED and second.snapshot().queue_position == 1
    first.stop()
    assert second.join(WAIT) and second.status == Status.FINISHED


def test_a_run_with_a_free_slot_is_never_reported_queued(monkeypatch):
    """Start waits for the first record unless the run is queued: a run that found a free slot
    reporting QUEUED for an instant sent the page on without its first point."""
    statuses = []
    set_status = TrainingJob._set
    monkeypatch.setattr(
        TrainingJob,
        "_set",
        lambda job, status, *args, **kw: (statuses.append(status), set_status(job, status, *args, **kw))[1],
    )
    slots = RunSlots(limit=1)
    job = TrainingJob(CONFIG.replace_train(epochs=1), make_tiny_data(n_train=200), name="alone", slots=slots).start()
    assert job.join(WAIT) and job.status == Status.FINISHED
    assert Status.QUEUED not in statuses and Status.RUNNING in statuses


def test_an_ended_job_is_saved_and_lets_its_model_go_keeping_its_numbers(tmp_path: Path):
    job = TrainingJob(CONFIG.replace_train(epochs=1), make_tiny_data(n_train=200), name="done", runs_dir=tmp_path)
    assert job.start().join(WAIT)
    run = job.snapshot()
    assert run.status == Status.FINISHED and run.path == tmp_path / "done"
    assert (run.step, run.total_steps, run.epoch) == (4, 4, 1.0) and run.records and run.test_accuracy is not None
    assert job._trainer is None  # let go of: its weights are in the folder
    assert _weights_equal(job.model_copy(), load_run(run.path).model())
