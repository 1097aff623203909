"""bnn.training.distributed + the Trainer in a process group: 2 gloo processes on the CPU train the same
run as one process; the synchronized BatchNorm; torchrun end to end; checkpoints resume exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import ROOT, make_tiny_data, shrink
from torch import nn

from bnn.config.model_settings import InputConfig
from bnn.config.presets import PRESETS
from bnn.config.schema import RunConfig
from bnn.jobs.run import Run
from bnn.jobs.run_folders import load_run, save_run
from bnn.jobs.run_weights import load_checkpoint
from bnn.network.models import build_model
from bnn.training import distributed
from bnn.training.distributed import SyncedBatchNorm1d, World, current_world, sync_batch_norm
from bnn.training.loop import Trainer
from bnn.training.runners import train

# 251 images in batches of 64: 4 steps an epoch, the last batch of 59 splits 30 + 29 over 2 ranks.
# No biases: a bias before BatchNorm has a zero gradient up to rounding, which Adam scales up to
# full steps, so its value is rounding noise (harmless: BatchNorm subtracts it) that no two
# summation orders share.
EQUIVALENCE_CONFIG = (
    # float32 backward products: bfloat16 rounds each rank's half of the batch otherwise than the whole batch
    shrink(PRESETS["fast"], 32)
    .replace_model(bias=False)
    .replace_train(batch_size=64, epochs=2, seed=3, precision="fp32")
)
EQUIVALENCE_DATA = {"n_train": 251, "n_test": 40}


def _bn_input() -> torch.Tensor:
    return torch.randn(10, 4, generator=torch.Generator().manual_seed(0)) * 3 + 1


def _rank_work(rank: int, world_size: int, rendezvous: str, out: str, config: RunConfig) -> None:
    """One rank: a SyncedBatchNorm1d step on its uneven part of a batch, then the training run."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world_size)
    try:
        norm = SyncedBatchNorm1d(4, momentum=0.1)
        part = (_bn_input()[:7] if rank == 0 else _bn_input()[7:]).requires_grad_(True)
        (norm(part) * torch.arange(1.0, 5.0)).square().sum().backward()
        batch_norm = {"grad": part.grad, "mean": norm.running_mean, "var": norm.running_var}
        trainer = train(config, make_tiny_data(**EQUIVALENCE_DATA), "cpu")
        run = {"state": trainer.model.state_dict(), "evals": trainer.evals, "records": trainer.records}
        torch.save({"batch_norm": batch_norm, "run": run}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> list[dict]:
    """What each of 2 gloo processes computed (spawned once for the tests below)."""
    tmp = tmp_path_factory.mktemp("two-ranks")
    _spawn(_rank_work, (2, str(tmp / "rendezvous"), str(tmp / "rank"), EQUIVALENCE_CONFIG), nprocs=2)
    return [torch.load(tmp / f"rank.{rank}", weights_only=True) for rank in (0, 1)]


def _spawn(fn, args: tuple, nprocs: int, timeout: float = 120.0) -> None:
    # A spawned child first re-runs the parent's __main__ file; after an AppTest in this process
    # that is app.py (Streamlit runs a script as __main__), so hide it while the children start.
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
        context = mp.start_processes(fn, args=args, nprocs=nprocs, join=False, start_method="spawn")
    deadline = time.monotonic() + timeout
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"{nprocs} processes did not finish within {timeout} s")


@pytest.mark.slow  # spawns 2 processes that train
def test_two_gloo_processes_train_the_same_run_as_one(two_ranks: list[dict]):
    two = two_ranks[0]["run"]
    one = train(EQUIVALENCE_CONFIG, make_tiny_data(**EQUIVALENCE_DATA), "cpu")
    state = one.model.state_dict()
    assert set(two["state"]) == set(state)  # synchronized BatchNorm keeps the state_dict keys
    for key, value in state.items():
        torch.testing.assert_close(two["state"][key], value, rtol=1e-4, atol=1e-5, msg=key)
    # the weights did move: the comparison is not between two initializations
    assert not torch.equal(
        state["blocks.0.linear.weight"], build_model(EQUIVALENCE_CONFIG.model).state_dict()["blocks.0.linear.weight"]
    )
    assert state["blocks.0.norm.num_batches_tracked"] == 8
    # the records and evaluations speak for the whole batch and the whole set
    assert [r["step"] for r in two["records"]] == [r["step"] for r in one.records] == [4, 8]
    for mine, theirs in zip(two["records"], one.records):
        assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-4)
        assert mine["batch_accuracy"] == pytest.approx(theirs["batch_accuracy"])
    assert [(e["split"], e["count"], e["accuracy"]) for e in two["evals"]] == [
        (e["split"], e["count"], e["accuracy"]) for e in one.evals
    ]


@pytest.mark.slow  # spawns 2 processes that train
def test_synced_batch_norm_equals_batch_norm_of_the_whole_batch(two_ranks: list[dict]):
    x = _bn_input().requires_grad_(True)
    norm = nn.BatchNorm1d(4, momentum=0.1)
    (norm(x) * torch.arange(1.0, 5.0)).square().sum().backward()
    ranks = [rank["batch_norm"] for rank in two_ranks]
    torch.testing.assert_close(torch.cat([ranks[0]["grad"], ranks[1]["grad"]]), x.grad, rtol=1e-4, atol=1e-5)
    for saved in ranks:
        torch.testing.assert_close(saved["mean"], norm.running_mean)
        torch.testing.assert_close(saved["var"], norm.running_var)
    # both ranks ended the training run with the same weights
    for key, value in two_ranks[0]["run"]["state"].items():
        assert torch.equal(two_ranks[1]["run"]["state"][key], value), key


def test_sync_batch_norm_keeps_parameters_and_outside_a_group_is_batch_norm():
    model = build_model(PRESETS["best"].model)
    x = torch.rand(6, 1, 28, 28)
    expected = model(x)  # training mode: batch statistics (and the running ones move)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sync_batch_norm(model)
    kinds = {type(block.norm).__name__ for block in model.blocks}
    assert kinds == {"SyncedBatchNorm1d", "SyncedBatchNorm2d"}
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert current_world() == World()  # no process group: plain BatchNorm
    torch.testing.assert_close(model(x), expected)


@pytest.mark.slow  # torchrun: 2 processes train on MNIST
def test_torchrun_two_processes_one_json_line(mnist_dir: Path, tmp_path: Path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "BNN_DATA_DIR": str(mnist_dir)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += ["-m", "bnn", "train", "--preset", "seed-fixed", "--epochs", "1", "--train-subset", "600"]
    command += ["--device", "cpu", "--out", str(tmp_path), "--json"]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-6000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout  # only rank 0 writes
    result = json.loads(lines[0])
    assert result["world_size"] == 2 and result["device"] == "cpu"
    assert sum(result["prediction_histogram"]) == 10000 and sum(result["train_prediction_histogram"]) == 600
    assert result["test_accuracy"] > 20.0  # 6 steps: well above chance
    (saved,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert load_run(saved).summary["steps"] == 6  # 600 images, global batch 100


def test_ranks_leave_together_after_a_good_run_and_at_once_after_a_failure(monkeypatch):
    calls = []
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "barrier", lambda: calls.append("barrier"))
    monkeypatch.setattr(dist, "destroy_process_group", lambda: calls.append("destroy"))
    distributed.shutdown(together=True)
    assert calls == ["barrier", "destroy"]  # rank 0 still saves while the others are done
    calls.clear()
    distributed.shutdown()
    assert calls == ["destroy"]  # a failed rank never waits for ranks that still train


@pytest.mark.parametrize("world_size, exit_kind", [("1", "sys.exit"), ("2", "os._exit")])
def test_a_rank_of_several_exits_without_finalizing(monkeypatch, world_size, exit_kind):
    """A rank skips Python's finalization, during which gloo's threads abort it (see exit_process)."""
    ended = []

    def os_exit(code: int) -> None:
        ended.append(("os._exit", code))

    monkeypatch.setenv("WORLD_SIZE", world_size)
    monkeypatch.setattr(distributed.os, "_exit", os_exit)
    try:
        distributed.exit_process(3)
    except SystemExit as exc:
        ended.append(("sys.exit", exc.code))
    assert ended[0] == (exit_kind, 3)


def _dropout_config() -> RunConfig:
    """Dropout draws from torch's random state: resuming must restore it too."""
    config = shrink(PRESETS["fast"], 32).replace_train(batch_size=50, epochs=3, seed=5)
    return config.replace_model(input=InputConfig(dropout=0.2))


def test_resume_after_a_crash_gives_the_uninterrupted_run(tmp_path: Path):
    config, data = _dropout_config(), make_tiny_data(n_train=200)
    uninterrupted = train(config, data, "cpu", record_every=3)

    crashed = Trainer(config, data, "cpu", record_every=3)

    def checkpoint(trainer: Trainer) -> None:
        run = Run(name="crashing", config=config, records=trainer.records, evals=trainer.evals)
        save_run(run, tmp_path, model=trainer.model, checkpoint=trainer.state_dict())

    for step in crashed.steps(on_epoch_end=checkpoint):
        if step == 6:  # 4 steps an epoch: the crash comes in the middle of epoch 2
            break
    saved = load_run(tmp_path / "crashing")
    resumed = Trainer(config, data, "cpu", record_every=3)
    resumed.restore(saved.model().state_dict(), load_checkpoint(saved), saved.records, saved.evals)
    assert resumed.step == 4 and resumed.epoch == 1
    steps = list(resumed.steps())
    assert steps == list(range(5, 13))

    for key, value in uninterrupted.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    assert resumed.evals == uninterrupted.evals
    timeless = [{k: v for k, v in r.items() if k not in ("time", "samples_per_s")} for r in resumed.records]
    assert timeless == [
        {k: v for k, v in r.items() if k not in ("time", "samples_per_s")} for r in uninterrupted.records
    ]


def test_a_checkpoint_is_taken_right_after_a_record(tiny_data, tiny_config):
    trainer = Trainer(tiny_config.replace_train(epochs=2), tiny_data, "cpu", record_every=3)
    steps = trainer.steps()
    next(steps)
    with pytest.raises(RuntimeError, match="right after a record"):
        trainer.state_dict()


def test_resume_from_the_middle_of_an_epoch_gives_the_uninterrupted_run(tmp_path: Path):
    """The app checkpoints at records inside an epoch too (every 60 s of a long epoch)."""
    config, data = _dropout_config(), make_tiny_data(n_train=200)
    uninterrupted = train(config, data, "cpu", record_every=3)
    crashed = Trainer(config, data, "cpu", record_every=3)
    for step in crashed.steps():
        if step == 9:  # a record, one step into epoch 3 (4 steps an epoch)
            assert crashed.at_checkpoint
            run = Run(name="mid-epoch", config=config, records=crashed.records, evals=crashed.evals)
            save_run(run, tmp_path, model=crashed.model, checkpoint=crashed.state_dict())
        if step == 10:
            break
    saved = load_run(tmp_path / "mid-epoch")
    resumed = Trainer(config, data, "cpu", record_every=3)
    resumed.restore(saved.model().state_dict(), load_checkpoint(saved), saved.records, saved.evals)
    assert (resumed.step, resumed.epoch) == (9, 2)
    assert list(resumed.steps()) == [10, 11, 12]
    for key, value in uninterrupted.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    assert resumed.evals == uninterrupted.evals
