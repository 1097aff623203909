"""bnn.jobs.run: one Run type; a saved run is exactly the network that trained.

The network that trained is rebuilt here by replaying the run in this process: training is
deterministic on the CPU for a seed, and the run's live edits name the step at which each took
effect, so a :class:`~bnn.training.loop.Trainer` given the same edits at the same steps ends with the
same weights and the same switches. Its logits on 1,000 test images must equal, bit for bit,
those of the run read back from its folder in a fresh process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, shrink

from bnn.config.presets import PRESETS
from bnn.jobs.run import Run, Status
from bnn.jobs.run_folders import load_run
from bnn.jobs.run_format import CONFIG_FILE, META_FILE, METRICS_FILE
from bnn.jobs.training_job import TrainingJob
from bnn.training.data import MnistData
from bnn.training.devices import use_cpu_threads_for
from bnn.training.loop import Trainer

WAIT = 120.0  # seconds: an upper bound on waiting for an event, never a measurement
# 20 steps an epoch; Adam at 1e-2 to start, then SGD, a lower lr, dense1 real in weights and activations
CONFIG = shrink(PRESETS["fast"], 64).replace_train(train_subset=1000, batch_size=50, epochs=3, seed=7)
EDITS = (
    ("lr", None, 3e-3),
    ("optimizer", None, "sgd"),
    ("binarize_weights", 0, False),
    ("binarize_activations", 0, False),
)


@pytest.fixture(scope="module")
def data(mnist: MnistData) -> MnistData:
    return mnist.subset(test=1000)


def _edit_live(job: TrainingJob, after_step: int) -> None:
    job.wait_until(lambda run: run.step >= after_step, WAIT)
    for setting, layer, value in EDITS:
        job.edit(setting, value, layer)
    job.wait_until(lambda run: len(run.edits) == len(EDITS), WAIT)


def replay(run: Run, data: MnistData) -> torch.nn.Module:
    """The network ``run`` trained, trained again here from ``CONFIG`` with its edits at their steps
    (on as many torch threads as the job's thread: float sums depend on how the work is split)."""
    use_cpu_threads_for(CONFIG, "cpu")
    trainer = Trainer(CONFIG, data, "cpu")
    names = [block.name for block in trainer.model.blocks]
    pending = list(run.edits)
    for step in trainer.steps():
        while pending and pending[0]["step"] == step:
            edit = pending.pop(0)
            layer = None if edit["layer"] is None else names.index(edit["layer"])
            trainer.request_edit(edit["setting"], edit["new"], layer)
    assert not pending and trainer.config == run.config
    return trainer.model.eval()


def logits_in_a_fresh_process(run_folder: Path, images: torch.Tensor, tmp_path: Path) -> torch.Tensor:
    torch.save(images, tmp_path / "images.pt")
    script = (
        "import sys, torch; from bnn.jobs.run_folders import load_run; "
        f"model = load_run({str(run_folder)!r}).model(); images = torch.load({str(tmp_path / 'images.pt')!r}); "
        f"torch.save(model(images), {str(tmp_path / 'logits.pt')!r})"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=WAIT)
    return torch.load(tmp_path / "logits.pt")


def test_status_words_and_ended():
    assert Status.RUNNING == "running" and str(Status.LOADING) == "loading data"
    assert {s for s in Status if s.ended} == {"finished", "stopped", "diverged", "failed", "interrupted"}
    assert Status.INTERRUPTED.resumable and not Status.STOPPED.resumable


def test_a_run_edited_while_it_trains_is_saved_as_the_network_that_trained(data, tmp_path: Path):
    job = TrainingJob(CONFIG, data, device="cpu", name="edited", runs_dir=tmp_path / "runs").start()
    _edit_live(job, after_step=12)
    run = job.wait_until(lambda run: run.ended, WAIT)
    assert run.status == Status.FINISHED and [e["setting"] for e in run.edits] == [s for s, _, _ in EDITS]
    saved = load_run(run.path)
    assert saved.config == run.config and saved.config != CONFIG  # as trained, not as started
    assert not saved.config.model.layers[0].binarize_weights and saved.config.train.optimizer == "sgd"

    images = data.test_images[:1000]
    network = replay(saved, data)
    with torch.no_grad():
        trained = network(images)
    assert torch.equal(logits_in_a_fresh_process(run.path, images, tmp_path), trained)


def test_an_edited_run_interrupted_and_resumed_is_saved_as_the_network_that_trained(data, tmp_path: Path):
    server = tmp_path / "server"
    job = TrainingJob(CONFIG, data, device="cpu", name="edited", runs_dir=server).start()
    _edit_live(job, after_step=5)  # in epoch 1; the checkpoint at its end carries the edits
    job.wait_until(lambda run: run.path is not None and run.step >= 21, WAIT)
    job.pause()
    job.wait_until(lambda run: job.parked, WAIT)
    shutil.copytree(server, tmp_path / "crashed")  # what a server that died here would leave
    job.stop()
    job.join(WAIT)

    interrupted = load_run(tmp_path / "crashed" / "edited")
    assert interrupted.status == Status.INTERRUPTED and len(interrupted.edits) == len(EDITS)
    resumed = TrainingJob(
        CONFIG, data, device="cpu", name="edited", runs_dir=tmp_path / "crashed", resume_from=interrupted
    )
    run = resumed.start().wait_until(lambda run: run.ended, WAIT)
    assert run.status == Status.FINISHED, run.message
    assert run.path == interrupted.path and run.edits == interrupted.edits

    images = data.test_images[:1000]
    network = replay(load_run(run.path), data)
    with torch.no_grad():
        trained = network(images)
    assert torch.equal(logits_in_a_fresh_process(run.path, images, tmp_path), trained)


def test_make_active_of_an_edited_run_predicts_as_the_run_did(data, tmp_path: Path):
    from ui import state

    job = TrainingJob(CONFIG, data, device="cpu", name="edited").start()  # not saved: weights in memory
    _edit_live(job, after_step=12)
    run = job.wait_until(lambda run: run.ended, WAIT)
    assert state.activate(run)
    active = state.app_state().active
    images = data.test_images[:1000]
    network = replay(run, data)
    with torch.no_grad():
        assert torch.equal(active.model()(images), network(images))
    assert active.config == run.config and active.edits == run.edits
    state.app_state().active = None


def test_a_folder_saved_before_the_run_type_is_read_with_its_edits(data, tmp_path: Path):
    """Format 1: edits in the summary only; config.json as started (saved by a page) or as trained
    (saved by a checkpoint). Both are read as the network that trained."""
    job = TrainingJob(CONFIG, data, device="cpu", name="old", runs_dir=tmp_path / "runs").start()
    _edit_live(job, after_step=12)
    run = job.wait_until(lambda run: run.ended, WAIT)
    images = data.test_images[:1000]
    with torch.no_grad():
        trained = load_run(run.path).model()(images)
    for label, config in (("as started", CONFIG), ("as trained", run.config)):
        old = tmp_path / label.replace(" ", "-")
        shutil.copytree(run.path, old)
        meta = json.loads((old / META_FILE).read_text())
        for key in ("status", "fixes", "message"):
            meta.pop(key)
        (old / META_FILE).write_text(json.dumps({**meta, "version": 1}))
        metrics = json.loads((old / METRICS_FILE).read_text())
        metrics["summary"]["edits"] = metrics.pop("edits")
        (old / METRICS_FILE).write_text(json.dumps(metrics))
        (old / CONFIG_FILE).write_text(config.to_json())
        loaded = load_run(old)
        assert loaded.config == run.config, label
        assert loaded.status == Status.FINISHED and loaded.edits == run.edits
        with torch.no_grad():
            assert torch.equal(loaded.model()(images), trained), label
