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
    picked = model_picker.PickedModel("fast-1", None, None, 91.5, "job", True, 120, 900, 88.0)
    assert picked.read_at() == "step 120 of 900 · training batches 88.0% right · last test accuracy 91.50%"
    assert model_picker.PickedModel("pretrained", None, None, 97.9, "pretrained").read_at() == ""


def test_an_ended_run_without_weights_in_memory_is_read_from_its_saved_folder(monkeypatch, tmp_path):
    from bnn.runs import SavedRun, load_run, save_run
    from ui import state
    from ui.state import PRETRAINED_DIR

    shipped = load_run(PRETRAINED_DIR)
    save_run(
        SavedRun(name="fast-1", config=shipped.config, records=[], evals=[], summary={}, model=shipped.model), tmp_path
    )
    job = FakeJob()
    job.ended = True
    job.model_copy = lambda: None  # released once saved
    monkeypatch.setattr(state, "runs_dir", lambda: tmp_path)
    monkeypatch.setattr(state, "app_state", lambda: state.AppState(jobs={"fast-1": job}))
    monkeypatch.setattr(model_picker, "_snapshots", model_picker._Snapshots)
    monkeypatch.setattr(model_picker, "_saved", lambda path, modified: load_run(path))
    picked = model_picker.load("job:fast-1")
    assert picked is not None and picked.source == "saved" and picked.name == "fast-1"
