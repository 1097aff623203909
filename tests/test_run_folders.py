"""bnn.jobs.run_folders: saving and loading runs, atomically, and refusing what is not ours."""

from __future__ import annotations

import json
import math
import os
import pickle
import time
from pathlib import Path

import pytest
import torch

from bnn.config.model_settings import LayerConfig, ModelConfig
from bnn.config.schema import RunConfig
from bnn.jobs.run import Run, Status
from bnn.jobs.run_folders import default_runs_dir, delete_run, load_run, rename_run, save_run
from bnn.jobs.run_format import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    FORMAT,
    META_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    RunFormatError,
    metrics_limit,
)
from bnn.jobs.run_listing import list_runs, scan_runs
from bnn.jobs.run_names import MAX_NAME_CHARS, RunNameError, name_problem, slugify, unique_name
from bnn.jobs.run_weights import load_checkpoint, load_weights
from bnn.network.models import build_model

CONFIG = RunConfig(ModelConfig(layers=(LayerConfig(12), LayerConfig(10, binarize_activations=False)))).replace_train(
    seed=5, epochs=2
)


def make_run(name: str = "my run", created: float = 0.0, **kwargs) -> Run:
    torch.manual_seed(0)
    model = build_model(CONFIG.model)
    with torch.no_grad():  # non-default BatchNorm statistics must survive too
        model.blocks[0].norm.running_mean.uniform_(-1, 1)
        model.blocks[0].norm.num_batches_tracked.fill_(17)
    records = [
        {"step": 1, "epoch": 0.5, "loss": 0.5, "flip_rate": {"dense1": 0.1}},
        {"step": 2, "epoch": 1.0, "loss": float("nan"), "grad_norm": float("inf"), "nested": [1.0, float("-inf")]},
    ]
    evals = [
        {
            "step": 2,
            "epoch": 1.0,
            "split": "test",
            "accuracy": 12.5,
            "loss": float("nan"),
            "prediction_histogram": [1] * 10,
        }
    ]
    summary = {"test_accuracy": 12.5, "final_loss": None, "first_nonfinite_step": 2}
    return Run(
        name=name,
        config=CONFIG,
        status=Status.FINISHED,
        records=records,
        evals=evals,
        summary=summary,
        weights=lambda: model,
        created=created,
        preset="fast",
        **kwargs,
    )


def test_save_load_round_trip(runs_dir: Path):
    run = make_run()
    saved = save_run(run, runs_dir)
    path = saved.path
    assert path == runs_dir / "my-run" and saved.created > 0 and run.path is None
    assert sorted(p.name for p in path.iterdir()) == sorted([META_FILE, CONFIG_FILE, METRICS_FILE, WEIGHTS_FILE])
    loaded = load_run(path)
    assert loaded.name == "my run" and loaded.preset == "fast" and loaded.created == saved.created
    assert loaded.config == CONFIG and loaded.status == Status.FINISHED
    state, original = loaded.model().state_dict(), run.model().state_dict()
    assert state.keys() == original.keys()
    assert all(torch.equal(state[k], original[k]) for k in state)
    assert not loaded.model().training
    x = torch.rand(3, 784)
    assert torch.equal(loaded.model()(x), run.model().eval()(x))
    # NaN and inf become null; everything else is kept as is
    assert loaded.records[0] == {"step": 1, "epoch": 0.5, "loss": 0.5, "flip_rate": {"dense1": 0.1}}
    assert loaded.records[1] == {"step": 2, "epoch": 1.0, "loss": None, "grad_norm": None, "nested": [1.0, None]}
    assert loaded.evals[0]["loss"] is None and loaded.evals[0]["prediction_histogram"] == [1] * 10
    assert loaded.summary == run.summary
    text = (path / METRICS_FILE).read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text)  # strict JSON
    meta = json.loads((path / META_FILE).read_text())
    assert meta["format"] == FORMAT and meta["version"] == 2 and meta["status"] == "finished"
    # the caller's records keep their NaN (the cleaning works on a copy)
    assert math.isnan(run.records[1]["loss"])


def test_load_without_model_and_without_weights(runs_dir: Path):
    run = make_run("no weights").but(weights=None)
    path = save_run(run, runs_dir).path
    assert not (path / WEIGHTS_FILE).exists()
    assert load_run(path).model() is None
    path2 = save_run(make_run("weights"), runs_dir).path
    assert load_run(path2, with_model=False).model() is not None  # read when asked


def test_atomic_overwrite(runs_dir: Path):
    first = make_run("same name")
    path = save_run(first, runs_dir).path
    saved = load_run(path)
    model = saved.model()
    with torch.no_grad():
        model.blocks[0].linear.weight.zero_()
    second = saved.but(summary={"test_accuracy": 99.0}, weights=lambda: model)
    assert save_run(second, runs_dir).path == path  # its own folder: replaced, atomically
    assert [p.name for p in runs_dir.iterdir()] == ["same-name"]  # no temporary or old copies left
    loaded = load_run(path)
    assert loaded.summary == {"test_accuracy": 99.0}
    assert torch.count_nonzero(loaded.model().blocks[0].linear.weight) == 0
    # saving the loaded run again writes to its own directory
    assert save_run(loaded.but(summary={"test_accuracy": 50.0}), runs_dir).path == path
    assert load_run(path).summary == {"test_accuracy": 50.0}


def test_failed_save_leaves_the_old_run_intact(runs_dir: Path, monkeypatch):
    path = save_run(make_run("keep me"), runs_dir).path
    broken = make_run("keep me")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        save_run(broken, runs_dir)
    assert [p.name for p in runs_dir.iterdir()] == ["keep-me"]
    assert load_run(path).name == "keep me"


def test_list_runs_skips_foreign_dirs_newest_first(runs_dir: Path):
    save_run(make_run("old", created=1000.0), runs_dir)
    save_run(make_run("new", created=2000.0), runs_dir)
    (runs_dir / "empty").mkdir()
    (runs_dir / "foreign").mkdir()
    (runs_dir / "foreign" / META_FILE).write_text(json.dumps({"format": "something-else"}))
    (runs_dir / "garbage").mkdir()
    (runs_dir / "garbage" / META_FILE).write_text("{not json")
    (runs_dir / "bad-config").mkdir()
    (runs_dir / "bad-config" / META_FILE).write_text(json.dumps({"format": FORMAT, "version": 1}))
    (runs_dir / "bad-config" / CONFIG_FILE).write_text(json.dumps({"model": "abc"}))
    (runs_dir / "future").mkdir()
    (runs_dir / "future" / META_FILE).write_text(json.dumps({"format": FORMAT, "version": 99}))
    (runs_dir / ".hidden-tmp").mkdir()
    (runs_dir / "a-file.txt").write_text("hello")
    runs = list_runs(runs_dir)
    assert [r.name for r in runs] == ["new", "old"]
    assert all(r.path is not None for r in runs)
    assert list_runs(runs_dir / "does-not-exist") == []
    assert [r.name for r in list_runs()] == ["new", "old"]  # $BNN_RUNS_DIR


def test_load_rejects_non_runs(runs_dir: Path):
    with pytest.raises(RunFormatError, match="is not a run directory"):
        load_run(runs_dir / "missing")
    (runs_dir / "plain").mkdir()
    with pytest.raises(RunFormatError, match="is not a BNN Playground run"):
        load_run(runs_dir / "plain")
    future = runs_dir / "future"
    future.mkdir()
    (future / META_FILE).write_text(json.dumps({"format": FORMAT, "version": 3}))
    with pytest.raises(RunFormatError, match="newer BNN Playground"):
        load_run(future)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize(
    "payload",
    [
        "random-bytes",
        "pickled-object",
        "torch-pickled-object",
        "list-of-tensors",
        "dict-of-strings",
        "other-architecture",
        "empty",
    ],
)
def test_load_rejects_foreign_weights(runs_dir: Path, payload: str):
    path = save_run(make_run("victim"), runs_dir).path
    weights = path / WEIGHTS_FILE
    if payload == "random-bytes":
        weights.write_bytes(os.urandom(4096))
    elif payload == "pickled-object":
        weights.write_bytes(pickle.dumps(Evil()))
    elif payload == "torch-pickled-object":
        torch.save({"x": Evil()}, weights)
    elif payload == "list-of-tensors":
        torch.save([torch.zeros(2)], weights)
    elif payload == "dict-of-strings":
        torch.save({"blocks.0.linear.weight": "hello"}, weights)
    elif payload == "other-architecture":
        torch.save(build_model(ModelConfig()).state_dict(), weights)
    else:
        weights.write_bytes(b"")
    with pytest.raises(RunFormatError) as info:
        load_run(path)
    assert str(weights) in str(info.value)
    assert load_run(path, with_model=False).name == "victim"  # the rest is still readable


def test_load_weights_into_a_model(runs_dir: Path):
    run = make_run()
    path = save_run(run, runs_dir).path
    fresh = build_model(CONFIG.model)
    loaded = load_weights(fresh, path / WEIGHTS_FILE)
    assert loaded is fresh
    assert torch.equal(fresh.blocks[0].norm.running_mean, run.model().blocks[0].norm.running_mean)


def test_rename_and_delete(runs_dir: Path):
    path = save_run(make_run("first name"), runs_dir).path
    rename_run(path, "second name")
    loaded = load_run(path)
    assert loaded.name == "second name" and loaded.path == path and loaded.config == CONFIG
    assert sorted(p.name for p in path.iterdir()) == sorted([META_FILE, CONFIG_FILE, METRICS_FILE, WEIGHTS_FILE])
    delete_run(path)
    assert not path.exists()
    assert list_runs(runs_dir) == []


def test_rename_and_delete_refuse_foreign_dirs(runs_dir: Path):
    foreign = runs_dir / "not-ours"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep")
    with pytest.raises(RunFormatError):
        delete_run(foreign)
    with pytest.raises(RunFormatError):
        rename_run(foreign, "x")
    (foreign / META_FILE).write_text(json.dumps({"format": "other"}))
    with pytest.raises(RunFormatError):
        rename_run(foreign, "x")
    with pytest.raises(RunFormatError):
        delete_run(foreign)
    assert (foreign / "precious.txt").read_text() == "keep"


def test_slugify_and_default_dir(tmp_path: Path, monkeypatch):
    assert slugify("  My run: seed=3 / lr 0.1 ") == "My-run-seed-3-lr-0.1"
    assert slugify("../../etc") == "etc"
    assert slugify("///") == "run"
    assert len(slugify("x" * 500)) == 80
    monkeypatch.setenv("BNN_RUNS_DIR", str(tmp_path / "r"))
    assert default_runs_dir() == tmp_path / "r"
    monkeypatch.delenv("BNN_RUNS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_runs_dir() == tmp_path / "xdg" / "bnn-playground" / "runs"


def test_save_to_default_dir(runs_dir: Path):
    path = save_run(make_run("default place")).path
    assert path.parent == runs_dir


def test_checkpoint_written_with_the_run_and_gone_once_it_finishes(runs_dir: Path, tiny_data):
    from bnn.training.loop import Trainer

    trainer = Trainer(CONFIG, tiny_data, "cpu")  # 2 epochs
    states = []
    for _ in trainer.steps(on_epoch_end=lambda t: states.append((t.state_dict(), t.generator.get_state()))):
        pass
    (state, generator), _ = states
    run = make_run()
    saved = save_run(run, checkpoint=state)
    path = saved.path
    assert saved.status == Status.INTERRUPTED and load_run(path).status == Status.INTERRUPTED
    checkpoint = load_checkpoint(path)
    assert checkpoint["step"] == trainer.steps_per_epoch and checkpoint["epoch"] == 1 and checkpoint["world_size"] == 1
    assert torch.equal(checkpoint["generator"], generator)
    assert checkpoint["optimizer"]["state"]  # Adam's moments, loaded without pickle code (weights_only)
    assert load_run(path).records == load_run(path, with_model=False).records  # load_run ignores it
    assert load_checkpoint(saved)["step"] == checkpoint["step"]  # a Run or its folder
    assert save_run(saved.but(status=Status.FINISHED)).status == Status.FINISHED  # into its own folder
    assert not (path / CHECKPOINT_FILE).exists()
    with pytest.raises(RunFormatError, match="has no checkpoint.pt: the run has finished"):
        load_checkpoint(path)


def test_load_checkpoint_rejects_foreign_files(runs_dir: Path):
    path = save_run(make_run()).path
    (path / CHECKPOINT_FILE).write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(RunFormatError, match="is not a BNN Playground checkpoint"):
        load_checkpoint(path)


def test_a_save_cut_between_its_two_renames_leaves_the_old_run(runs_dir: Path):
    path = save_run(make_run("cut short"), runs_dir).path
    os.replace(path, runs_dir / f".{path.name}.old-123-456")  # the new copy never arrived
    (runs_dir / f".{path.name}.tmp123").mkdir()  # its half-written temporary folder
    runs, unreadable = scan_runs(runs_dir)
    assert [run.name for run in runs] == ["cut short"] and not unreadable


def test_rename_and_delete_refuse_a_run_folder_that_is_a_link(runs_dir: Path, tmp_path: Path):
    outside = save_run(make_run("outside"), tmp_path / "elsewhere").path
    link = runs_dir / "linked"
    link.symlink_to(outside, target_is_directory=True)
    with pytest.raises(RunFormatError, match="symbolic link"):
        rename_run(link, "renamed")
    with pytest.raises(RunFormatError, match="symbolic link"):
        delete_run(link)
    assert load_run(outside).name == "outside" and outside.is_dir()


def test_owner_is_saved_kept_by_a_rename_and_checked(runs_dir: Path):
    path = save_run(make_run("owned", owner="0123abcd" * 4), runs_dir).path
    rename_run(path, "renamed")
    assert load_run(path).owner == "0123abcd" * 4
    assert load_run(save_run(make_run("nobody's"), runs_dir).path).owner is None
    meta = json.loads((path / META_FILE).read_text())
    (path / META_FILE).write_text(json.dumps({**meta, "owner": 42}))
    with pytest.raises(RunFormatError, match="owner must be text or null"):
        load_run(path)


def test_a_format_1_folder_with_a_bad_summary_is_refused_not_raised(runs_dir: Path):
    """Format-1 folders get their status from the summary's numbers: those are checked first."""
    path = save_run(make_run("old"), runs_dir).path
    meta = json.loads((path / META_FILE).read_text())
    (path / META_FILE).write_text(json.dumps({k: v for k, v in meta.items() if k in ("format", "name", "created")}))
    metrics = json.loads((path / METRICS_FILE).read_text())
    metrics["summary"]["epochs"] = "abc"
    (path / METRICS_FILE).write_text(json.dumps(metrics))
    runs, unreadable = scan_runs(runs_dir)
    assert not runs and "summary.epochs must be a number" in unreadable[0].reason


def test_a_save_never_replaces_a_folder_that_is_not_its_own(runs_dir: Path):
    theirs = save_run(make_run("shared name", owner="b" * 32), runs_dir)
    mine = save_run(make_run("shared name", owner="a" * 32), runs_dir)  # e.g. after a restart, or the CLI
    assert mine.path == runs_dir / "shared-name-2"
    assert load_run(theirs.path).owner == "b" * 32  # the other owner's run is as it was
    assert save_run(mine.but(summary={"test_accuracy": 1.0}), runs_dir).path == mine.path  # its own: in place
    pointed = save_run(mine.but(path=theirs.path), runs_dir)  # a run whose path names another run's folder
    assert pointed.path not in (theirs.path, mine.path) and load_run(theirs.path).owner == "b" * 32
    assert unique_name("shared name", runs_dir) == "shared name-4"  # its folder is new
    assert unique_name("new", runs_dir, taken={"new", "new-2"}) == "new-3"  # names in use are taken too
    assert name_problem("ok name") is None
    for bad in ("", "  ", "a\nb", "tab\there", "rtl\u202eevil", "x" * (MAX_NAME_CHARS + 1)):
        assert name_problem(bad), repr(bad)
    with pytest.raises(RunNameError, match="control characters"):
        rename_run(mine.path, "two\nlines")


def test_a_scan_removes_what_crashed_saves_left_and_keeps_a_save_in_progress(runs_dir: Path):
    save_run(make_run("kept"), runs_dir)
    dead = 2**22 + 12345  # above any pid this machine hands out (pid_max is at most 2**22)
    leftovers = [f".kept.tmp-{dead}-abcd1234", f".kept.old-{dead}-5", ".legacy.k3j_x9zq"]
    in_progress = f".fresh.tmp-{os.getpid()}-zzzz9999"
    for name in (*leftovers, in_progress):
        (runs_dir / name).mkdir()
        (runs_dir / name / WEIGHTS_FILE).write_bytes(b"0" * 1024)
    old = time.time() - 3600
    os.utime(runs_dir / ".legacy.k3j_x9zq", (old, old))  # a save of an older version, an hour ago
    runs, unreadable = scan_runs(runs_dir)
    assert [run.name for run in runs] == ["kept"] and not unreadable
    assert sorted(p.name for p in runs_dir.iterdir()) == [in_progress, "kept"]


def test_a_listed_folder_is_read_again_only_when_it_changed(runs_dir: Path, monkeypatch):
    import sys

    module = sys.modules["bnn.jobs.run_listing"]
    reads = []
    real = module.load_run
    monkeypatch.setattr(module, "load_run", lambda path, **options: reads.append(path.name) or real(path, **options))
    save_run(make_run("one"), runs_dir)
    save_run(make_run("two"), runs_dir)
    (runs_dir / "bad").mkdir()
    (runs_dir / "bad" / META_FILE).write_text("{")
    first = scan_runs(runs_dir)
    assert sorted(reads) == ["bad", "one", "two"]
    assert scan_runs(runs_dir) == first and len(reads) == 3  # nothing changed: nothing read again
    rename_run(runs_dir / "one", "one renamed")
    runs, unreadable = scan_runs(runs_dir)
    assert reads[3:] == ["one"] and "one renamed" in [run.name for run in runs] and len(unreadable) == 1


def test_a_metrics_file_larger_than_its_run_can_write_is_not_read(runs_dir: Path):
    path = save_run(make_run("padded"), runs_dir).path
    limit = metrics_limit(CONFIG)
    assert limit < 20 * 1024**2  # a few MB for a small run, far below the 256 MB of any JSON file
    metrics = json.loads((path / METRICS_FILE).read_text())
    metrics["padding"] = "x" * limit
    (path / METRICS_FILE).write_text(json.dumps(metrics))
    runs, (unreadable,) = scan_runs(runs_dir)
    assert not runs and f"more than {limit:,}" in unreadable.reason
