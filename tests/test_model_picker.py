"""ui.model_picker: a training run's weights are copied at most every SNAPSHOT_EVERY_S, shared by all readers."""

from __future__ import annotations

from dataclasses import dataclass

from ui import model_picker


@dataclass
class Snap:
    step: int
    ended: bool = False


class FakeJob:
    name = "fast-1"

    def __init__(self) -> None:
        self.copies = 0
        self.step = 10
        self.ended = False

    def snapshot(self) -> Snap:
        return Snap(self.step, self.ended)

    def model_copy(self):
        self.copies += 1
        return object()


def test_a_training_run_is_copied_at_most_every_interval(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(model_picker.time, "monotonic", lambda: clock[0])
    snapshots, job = model_picker._Snapshots(), FakeJob()
    first = snapshots.get(job)
    job.step = 20
    assert snapshots.get(job) is first and job.copies == 1  # within the interval: the same copy
    clock[0] += model_picker.SNAPSHOT_EVERY_S
    newer = snapshots.get(job)
    assert newer is not first and newer.step == 20 and job.copies == 2
    job.ended = True
    clock[0] += 100
    assert snapshots.get(job) is newer and job.copies == 2  # ended, nothing new: no more copies


def test_read_at_names_the_step_and_accuracies():
    from bnn.config.presets import PRESETS
    from bnn.jobs.run import Run, Status

    training = Run(
        "fast-1",
        PRESETS["fast"],
        Status.RUNNING,
        records=[{"step": 120, "epoch": 0.4, "batch_accuracy": 88.0}],
        evals=[{"step": 100, "epoch": 0.3, "split": "test", "accuracy": 91.5}],
        step=120,
        total_steps=900,
    )
    assert training.read_at() == "step 120 of 900 · training batches 88.0% right · last test accuracy 91.50%"
    assert training.but(status=Status.FINISHED).read_at() == ""


def test_an_ended_run_without_weights_in_memory_is_read_from_its_saved_folder(monkeypatch, tmp_path):
    from bnn.jobs.run import Status
    from bnn.jobs.run_folders import load_run, save_run
    from ui import state
    from ui.state import PRETRAINED_DIR

    shipped = load_run(PRETRAINED_DIR)
    saved = save_run(shipped.but(name="fast-1", status=Status.FINISHED, path=None), tmp_path)

    class EndedJob:  # saved when it ended, its model let go of
        def snapshot(self):
            return saved

        def model_copy(self):
            raise AssertionError("an ended, saved run is read from its folder")

    monkeypatch.setattr(state, "app_state", lambda: state.AppState(jobs={"fast-1": EndedJob()}))
    monkeypatch.setattr(model_picker, "_saved", lambda path, modified: load_run(path))
    picked = model_picker.load("job:fast-1")
    assert picked is not None and picked.path == saved.path and picked.name == "fast-1"
    assert picked.model() is picked.model() and picked.model() is not None  # read once
