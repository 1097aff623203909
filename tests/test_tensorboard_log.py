"""TensorBoard event files in a run's folder: read back with TensorBoard's record format, their
scalars are the numbers of ``metrics.json``; histograms every epoch, edits as text, the settings
as hyperparameters; a save keeps the files (and the writer's open file) in the folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bnn.jobs.run_folders import load_run, save_run
from bnn.jobs.training_job import TrainingJob
from bnn.training.tensorboard_log import EVENTS_PREFIX, FINAL_METRIC, frame, is_event_file, read_events


def events_of(folder: Path) -> list:
    files = sorted(path for path in folder.iterdir() if is_event_file(path.name))
    assert files, f"no event file in {folder}"
    return [event for path in files for event in read_events(path)]


def scalars_of(events) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for event in events:
        for value in event.summary.value:
            if value.WhichOneof("value") == "simple_value":
                out.setdefault(value.tag, {})[event.step] = value.simple_value
    return out


def f32(value: float) -> float:
    return float(np.float32(value))  # TensorBoard keeps scalars as float32


def trained_job(config, data, runs_dir: Path, **options) -> TrainingJob:
    job = TrainingJob(config.replace_train(epochs=2), data, name="tb", runs_dir=runs_dir, record_every=3, **options)
    job.start()
    job.pause()  # an edit while it trains
    job.wait_until(lambda run: job.parked or run.ended)
    job.edit("lr", 5e-3)
    job.resume()
    job.wait_until(lambda run: run.step > 8 or run.ended)  # 8 steps an epoch: saved once
    job.pause()
    job.wait_until(lambda run: job.parked or run.ended)
    job.written_while_training = scalars_of(events_of(job.snapshot().path)) if options.get("tensorboard", True) else {}
    job.resume()
    job.join()
    return job


def test_the_event_files_hold_the_scalars_of_metrics_json(tiny_config, tiny_data, tmp_path):
    job = trained_job(tiny_config, tiny_data, tmp_path)
    folder = job.snapshot().path
    metrics = json.loads((folder / "metrics.json").read_text())
    events = events_of(folder)
    scalars = scalars_of(events)
    records = metrics["records"]
    assert len(records) > 4
    # written as it trains: at the pause in the second epoch, the first epoch's records were on disk
    assert {3, 6, 8} <= set(job.written_while_training["loss/train batches"])
    assert scalars["loss/train batches"] == {r["step"]: f32(r["loss"]) for r in records}
    assert scalars["accuracy/train batches"] == {r["step"]: f32(r["batch_accuracy"]) for r in records}
    assert scalars["learning rate"] == {r["step"]: f32(r["lr"]) for r in records}
    assert scalars["flip rate/dense1"] == {r["step"]: f32(r["flip_rate"]["dense1"]) for r in records}
    for split in ("test", "train"):
        evals = [e for e in metrics["evals"] if e["split"] == split]
        assert evals and scalars[f"accuracy/{split} set"] == {e["step"]: f32(e["accuracy"]) for e in evals}
        assert scalars[f"loss/{split} set"] == {e["step"]: f32(e["loss"]) for e in evals}
    assert list(scalars[FINAL_METRIC].values()) == [f32(metrics["summary"]["test_accuracy"])]
    # each layer's latent weights at each of the 2 epochs' ends
    histograms = [(e.step, v.tag) for e in events for v in e.summary.value if v.WhichOneof("value") == "histo"]
    assert sorted({tag for _, tag in histograms}) == ["latent weights/dense1", "latent weights/output"]
    assert len(histograms) == 2 * 2
    # the live edit as text at its step, the settings as hyperparameters
    (edit,) = metrics["edits"]
    texts = [(e.step, v.tensor.string_val[0].decode()) for e in events for v in e.summary.value if v.tensor.string_val]
    assert texts == [(edit["step"], "lr 1e-02 → 5e-03")]
    tags = [v.tag for e in events for v in e.summary.value]
    assert "_hparams_/session_start_info" in tags and "_hparams_/session_end_info" in tags
    start = next(v for e in events for v in e.summary.value if v.tag == "_hparams_/session_start_info")
    assert b"batch_size" in start.metadata.plugin_data.content and b"layers" in start.metadata.plugin_data.content
    assert load_run(folder).status == "finished"  # the reader ignores the event files


def test_a_run_without_tensorboard_writes_no_event_file(tiny_config, tiny_data, tmp_path):
    job = trained_job(tiny_config, tiny_data, tmp_path, tensorboard=False)
    assert not [path for path in job.snapshot().path.iterdir() if is_event_file(path.name)]


def test_a_save_keeps_the_event_files_and_the_writers_open_file(tiny_config, tiny_data, tmp_path):
    job = TrainingJob(tiny_config, tiny_data, name="kept", runs_dir=tmp_path, tensorboard=False)
    job.start().join()
    run = job.snapshot()
    event_file = run.path / f"{EVENTS_PREFIX}1.host.1.1"
    with open(event_file, "ab") as writer:
        writer.write(frame(b""))
        writer.flush()
        save_run(run, tmp_path)  # the folder is replaced whole
        writer.write(frame(b""))  # the open file followed its file into the new folder
    assert event_file.read_bytes() == frame(b"") * 2
    link = run.path / f"{EVENTS_PREFIX}link"
    link.symlink_to(tmp_path / "elsewhere")
    save_run(run, tmp_path)
    assert not link.is_symlink()  # links are not carried: only regular files


def test_a_torn_last_record_is_left_out_and_a_corrupt_one_refused(tmp_path):
    path = tmp_path / f"{EVENTS_PREFIX}x"
    record = frame(b"")
    path.write_bytes(record + record[:-2])
    assert len(read_events(path)) == 1
    path.write_bytes(record[:-1] + b"\0")
    with pytest.raises(ValueError, match="corrupt record"):
        read_events(path)


@pytest.mark.slow  # trains on MNIST in a fresh process
def test_the_command_line_writes_event_files_too(mnist_dir, tmp_path):
    from bnn.cli import main

    assert main(["train", "--preset", "fast", "--epochs", "1", "--train-subset", "600", "--out", str(tmp_path)]) == 0
    (folder,) = tmp_path.iterdir()
    metrics = json.loads((folder / "metrics.json").read_text())
    scalars = scalars_of(events_of(folder))
    assert scalars["loss/train batches"] == {r["step"]: f32(r["loss"]) for r in metrics["records"]}
