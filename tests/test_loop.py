"""bnn.training.loop: metric records, evaluations, determinism, and the seed preset's failure."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import shrink

from bnn.config.model_settings import LayerConfig
from bnn.config.presets import PRESETS
from bnn.config.schema import ConfigError, RunConfig
from bnn.network import summary
from bnn.network.binarize import sign
from bnn.network.models import build_model
from bnn.network.optim import scheduled_lr
from bnn.training import evaluation, loop
from bnn.training.data import MnistData
from bnn.training.devices import cpu_threads_for, use_cpu_threads_for
from bnn.training.evaluation import EvalResult, evaluate, recalibrate_batch_norm
from bnn.training.loop import Trainer
from bnn.training.runners import train, warm_up

RECORD_KEYS = {
    "step",
    "epoch",
    "time",
    "loss",
    "batch_accuracy",
    "lr",
    "samples_per_s",
    "grad_norm",
    "flip_rate",
    "saturation",
    "nonfinite",
}
EVAL_KEYS = {"step", "epoch", "split", "accuracy", "loss", "prediction_histogram", "count"}
SUMMARY_KEYS = {
    "epochs",
    "steps",
    "edits",
    "test_accuracy",
    "train_accuracy",
    "test_loss",
    "final_loss",
    "prediction_histogram",
    "train_prediction_histogram",
    "first_nonfinite_step",
    "started_at",
    "seconds",
    "train_seconds",
}


@pytest.fixture(scope="module")
def fast_run(mnist: MnistData) -> Trainer:
    """`fast` with 64-unit hidden layers, 2,000 images, 1 epoch: 10 steps of 200."""
    config = shrink(PRESETS["fast"]).replace_train(train_subset=2000, epochs=1)
    trainer = Trainer(config, mnist, "cpu", record_every=5)
    steps = list(trainer.steps())
    assert steps == list(range(1, 11))
    return trainer


def test_records_have_all_documented_keys(fast_run: Trainer):
    records = fast_run.records
    assert [r["step"] for r in records] == [5, 10]
    for r in records:
        assert set(r) == RECORD_KEYS
        assert set(r["flip_rate"]) == {"dense1", "dense2", "output"}
        assert set(r["saturation"]) == {"dense1", "dense2", "output"}
        assert all(0.0 <= v <= 1.0 for v in r["flip_rate"].values())
        assert all(0.0 <= v <= 1.0 for v in r["saturation"].values())
        assert r["nonfinite"] is False
        assert math.isfinite(r["loss"]) and r["loss"] > 0
        assert 0.0 <= r["batch_accuracy"] <= 100.0
        assert r["samples_per_s"] > 0 and r["grad_norm"] > 0 and math.isfinite(r["grad_norm"])
    # the lr of a record is the schedule's lr at that record's (0-based) last step
    cfg = fast_run.config.train
    assert records[0]["lr"] == pytest.approx(scheduled_lr(cfg, 4, 10))
    assert records[-1]["lr"] == pytest.approx(cfg.lr_end)
    assert records[0]["epoch"] == 0.5 and records[1]["epoch"] == 1.0
    assert records[0]["time"] <= records[1]["time"]
    assert any(v > 0 for v in records[0]["flip_rate"].values())  # lr 1e-2: signs do change


def test_evaluations_after_the_epoch(fast_run: Trainer, mnist: MnistData):
    test, train_eval = fast_run.evals
    assert set(test) == EVAL_KEYS and set(train_eval) == EVAL_KEYS
    assert (test["split"], test["step"], test["epoch"], test["count"]) == ("test", 10, 1.0, 10000)
    assert len(test["prediction_histogram"]) == 10
    assert sum(test["prediction_histogram"]) == 10000
    assert (train_eval["split"], train_eval["count"]) == ("train", 2000)
    assert sum(train_eval["prediction_histogram"]) == 2000
    assert test["accuracy"] > 50.0  # 10 steps of a binarized MLP already learn something
    # the recorded accuracy is the model's: recompute on the first 1,000 test images
    predictions = fast_run.model.cpu().predict(mnist.test_images[:1000])
    again = evaluate(fast_run.model, mnist.test_images[:1000], mnist.test_labels[:1000], "cross_entropy")
    assert again.accuracy == pytest.approx(100.0 * float((predictions == mnist.test_labels[:1000]).float().mean()))
    assert again.prediction_histogram == torch.bincount(predictions, minlength=10).tolist()


def test_summary(fast_run: Trainer):
    summary = fast_run.summary()
    assert set(summary) == SUMMARY_KEYS
    assert summary["steps"] == 10 and summary["epochs"] == 1.0
    assert summary["test_accuracy"] == fast_run.evals[0]["accuracy"]
    assert summary["final_loss"] == fast_run.records[-1]["loss"]
    assert summary["first_nonfinite_step"] is None
    assert fast_run.finished and fast_run.total_steps == 10 and fast_run.steps_per_epoch == 10


def _largest_latent_weight(clip_latent: bool, data: MnistData, config: RunConfig) -> float:
    """Latent weights start U(-1, 1) and Adam at lr 0.5 moves each by ~0.5 a step: without the
    clip after every step many end far outside [-1, 1]."""
    config = config.replace_model(latent_init="uniform1").replace_train(
        lr=0.5, schedule="constant", clip_latent=clip_latent, epochs=1
    )
    trainer = train(config, data, "cpu")
    return max(float(block.linear.weight.detach().abs().max()) for block in trainer.model.blocks)


def test_latent_weights_stay_clipped(tiny_data: MnistData, tiny_config: RunConfig):
    assert _largest_latent_weight(True, tiny_data, tiny_config) <= 1.0
    assert _largest_latent_weight(False, tiny_data, tiny_config) > 2.0


def _final_state(config: RunConfig, data: MnistData) -> tuple[dict, list[float]]:
    trainer = train(config, data, "cpu")
    return trainer.model.state_dict(), [r["loss"] for r in trainer.records]


def test_same_seed_same_run_different_seed_different_run(mnist: MnistData):
    config = shrink(PRESETS["fast"], 32).replace_train(train_subset=600, epochs=1, batch_size=50, seed=7)
    data = mnist.subset(test=500)
    state_a, losses_a = _final_state(config, data)
    state_b, losses_b = _final_state(config, data)
    assert losses_a == losses_b and len(losses_a) == 1
    assert state_a.keys() == state_b.keys()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    state_c, losses_c = _final_state(config.replace_train(seed=8), data)
    assert losses_c != losses_a
    assert not torch.equal(state_a["blocks.0.linear.weight"], state_c["blocks.0.linear.weight"])


def test_seed_preset_diverges_to_nan_and_predicts_class_zero(mnist: MnistData):
    config = PRESETS["seed"].replace_train(train_subset=2000, epochs=1)
    trainer = Trainer(config, mnist, "cpu", record_every=5)
    for _ in trainer.steps():
        pass
    summary = trainer.summary()
    assert summary["first_nonfinite_step"] is not None and summary["first_nonfinite_step"] <= 5
    assert all(r["nonfinite"] for r in trainer.records)
    assert all(math.isnan(r["loss"]) for r in trainer.records)
    assert summary["final_loss"] is None and summary["test_loss"] is None
    assert summary["prediction_histogram"] == [10000] + [0] * 9
    assert summary["train_prediction_histogram"] == [2000] + [0] * 9
    zeros_share = 100.0 * float((mnist.train_labels[:2000] == 0).float().mean())
    assert summary["train_accuracy"] == pytest.approx(zeros_share)
    assert summary["test_accuracy"] == pytest.approx(9.80)  # the 980 zeros of the test set
    assert not trainer.weights_finite()
    # the NaN reaches the outputs (sign keeps NaN), it is not silently turned into a number
    assert torch.isnan(trainer.model(mnist.test_images[:4])).all()


def test_flip_rate_is_share_of_changed_signs(tiny_data: MnistData, tiny_config: RunConfig):
    trainer = Trainer(tiny_config.replace_train(lr=0.05, schedule="constant"), tiny_data, "cpu", record_every=1)
    for _ in range(4):
        before = {b.name: sign(b.linear.weight.detach()).clone() for b in trainer.model.blocks}
        indices = torch.arange(trainer.step * 32, trainer.step * 32 + 32)
        trainer.train_step(tiny_data.train_images[indices], tiny_data.train_labels[indices])
        record = trainer.records[-1]
        for block in trainer.model.blocks:
            changed = (sign(block.linear.weight.detach()) != before[block.name]).float().mean().item()
            assert record["flip_rate"][block.name] == pytest.approx(changed)


def test_saturation_is_share_outside_ste_window(tiny_data: MnistData):
    # no BatchNorm, real weights: pre-activations are the linear map, easy to recompute
    config = (
        RunConfig()
        .replace_model(
            layers=(
                LayerConfig(16, binarize_weights=False, batch_norm=False),
                LayerConfig(10, batch_norm=False, binarize_activations=False),
            )
        )
        .replace_train(batch_size=32, epochs=1)
    )
    trainer = Trainer(config, tiny_data, "cpu", record_every=1)
    x, y = tiny_data.train_images[:32], tiny_data.train_labels[:32]
    with torch.no_grad():
        pre = trainer.model.blocks[0].pre_activation(trainer.model._prepare(x))
        pre_out = trainer.model.blocks[1].pre_activation(sign(pre))
    trainer.train_step(x, y)
    saturation = trainer.records[-1]["saturation"]
    assert saturation["dense1"] == pytest.approx(float((pre.abs() > 1).float().mean()))
    assert saturation["output"] == pytest.approx(float((pre_out.abs() > 1).float().mean()))
    assert set(trainer.records[-1]["flip_rate"]) == {"output"}  # dense1 has real weights


def test_subset_and_step_counts(tiny_data: MnistData, tiny_config: RunConfig):
    trainer = Trainer(tiny_config.replace_train(train_subset=100, batch_size=30, epochs=2), tiny_data, "cpu")
    assert len(trainer.data.train_labels) == 100 and len(trainer.data.test_labels) == 64
    assert trainer.steps_per_epoch == 4 and trainer.total_steps == 8
    for _ in trainer.steps():
        pass
    assert [e["split"] for e in trainer.evals] == ["test", "test", "train"]
    assert [e["epoch"] for e in trainer.evals] == [1.0, 2.0, 2.0]
    assert trainer.epoch == 2


def test_invalid_config_is_refused(tiny_data: MnistData, tiny_config: RunConfig):
    with pytest.raises(ConfigError, match=r"Epochs must be in \[1, 1000\]"):
        Trainer(tiny_config.replace_train(epochs=0), tiny_data, "cpu")


def test_evaluate_function_on_a_fixed_model():
    config = RunConfig().replace_model(
        image_shape=(1, 1, 2),
        layers=(LayerConfig(2, binarize_weights=False, binarize_activations=False, batch_norm=False),),
    )
    model = build_model(config.model)
    with torch.no_grad():
        model.blocks[0].linear.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    # pm1 scaling; class = the brighter of the two pixels
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.2, 0.8]]).reshape(4, 1, 1, 2)
    labels = torch.tensor([0, 1, 1, 1])
    result = evaluate(model, images, labels, "cross_entropy", batch_size=3)
    assert isinstance(result, EvalResult)
    assert result.accuracy == 75.0 and result.count == 4
    assert result.prediction_histogram == [2, 2]
    scores = torch.tensor([[1.0, -1.0], [-1.0, 1.0], [0.8, -0.8], [-0.6, 0.6]])
    expected = torch.nn.functional.cross_entropy(scores, labels).item()
    assert result.loss == pytest.approx(expected, rel=1e-5)


def test_small_steps_train_on_one_thread_big_ones_on_every_core():
    assert cpu_threads_for(PRESETS["seed-fixed"], cores=4) == 1  # 24M multiply-adds per batch
    assert cpu_threads_for(PRESETS["fast"], cores=4) == 4  # 372M
    assert cpu_threads_for(PRESETS["best"], cores=4) == 4  # the CNN
    shrunk = PRESETS["fast"].replace_train(batch_size=10)
    assert cpu_threads_for(shrunk, cores=4) == 1  # the same net, 19M per batch


def test_use_cpu_threads_for_sets_this_threads_torch_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    before = torch.get_num_threads()
    try:
        use_cpu_threads_for(PRESETS["fast"], "cpu")
        assert torch.get_num_threads() == 3
        use_cpu_threads_for(PRESETS["seed-fixed"], "cpu")
        assert torch.get_num_threads() == 1
        use_cpu_threads_for(PRESETS["fast"], "cuda")  # a GPU: torch's CPU threads left alone
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_records_at_every_epoch_end_and_without_live_stats(tiny_data: MnistData, tiny_config: RunConfig):
    config = tiny_config.replace_train(batch_size=30, epochs=2)  # 9 steps an epoch
    trainer = train(config, tiny_data, "cpu", record_every=4, live_stats=False)
    assert [r["step"] for r in trainer.records] == [4, 8, 9, 12, 16, 18]
    assert [r["epoch"] for r in trainer.records if r["step"] % 9 == 0] == [1.0, 2.0]
    for record in trainer.records:
        assert set(record) == RECORD_KEYS
        assert record["flip_rate"] == {} and record["saturation"] == {} and math.isnan(record["grad_norm"])
        assert math.isfinite(record["loss"]) and 0.0 <= record["batch_accuracy"] <= 100.0
    # the live statistics do not change the training
    with_stats = train(config, tiny_data, "cpu", record_every=4)
    assert all(r["flip_rate"] and r["saturation"] for r in with_stats.records)
    assert all(
        torch.equal(a, b) for a, b in zip(trainer.model.state_dict().values(), with_stats.model.state_dict().values())
    )
    assert [r["loss"] for r in trainer.records] == [r["loss"] for r in with_stats.records]


def test_record_loss_and_accuracy_are_the_means_of_their_steps(tiny_data: MnistData, tiny_config: RunConfig):
    trainer = Trainer(tiny_config.replace_train(schedule="constant"), tiny_data, "cpu", record_every=2)
    losses, correct = [], 0
    for step in range(2):
        x, y = tiny_data.train_images[step * 32 : step * 32 + 32], tiny_data.train_labels[step * 32 : step * 32 + 32]
        with torch.no_grad():
            trainer.model.train()
            scores = trainer.model(x)  # BatchNorm's running stats move; the step sees the same batch statistics
        losses.append(float(torch.nn.functional.cross_entropy(scores, y)))
        correct += int((scores.argmax(1) == y).sum())
        trainer.train_step(x, y)
    (record,) = trainer.records
    assert record["loss"] == pytest.approx(sum(losses) / 2, rel=1e-5)
    assert record["batch_accuracy"] == pytest.approx(100.0 * correct / 64)


@pytest.mark.parametrize(
    "train_eval, splits",
    [("end", ["test", "test", "train"]), ("epoch", ["test", "train", "test", "train"]), ("never", ["test", "test"])],
)
def test_train_eval_option(tiny_data: MnistData, tiny_config: RunConfig, train_eval: str, splits: list[str]):
    trainer = train(tiny_config.replace_train(epochs=2), tiny_data, "cpu", train_eval=train_eval)
    assert [e["split"] for e in trainer.evals] == splits
    assert (trainer.summary()["train_accuracy"] is None) == (train_eval == "never")
    with pytest.raises(ConfigError, match="train_eval must be one of end, epoch, never"):
        Trainer(tiny_config, tiny_data, "cpu", train_eval="sometimes")


def test_first_nonfinite_step_is_exact_between_records(mnist: MnistData):
    config = PRESETS["seed"].replace_train(train_subset=2000, epochs=1)
    lazy = train(config, mnist, "cpu", record_every=10)
    watched = Trainer(config, mnist, "cpu", record_every=10, watch_nonfinite=True)
    stopped_at = next(step for step in watched.steps() if watched.first_nonfinite_step is not None)
    assert stopped_at == watched.first_nonfinite_step == lazy.first_nonfinite_step < 10


def test_live_edits_apply_at_the_next_step_and_are_recorded(tiny_data: MnistData, tiny_config: RunConfig):
    config = tiny_config.replace_train(optimizer="adam", lr=1e-2, schedule="constant", epochs=2)
    trainer = Trainer(config, tiny_data, "cpu", record_every=1)
    steps = trainer.steps()
    for _ in range(3):
        next(steps)
    trainer.request_edit("lr", 5e-3)
    trainer.request_edit("binarize_activations", False, layer=0)
    trainer.request_edit("optimizer", "sgd")
    assert trainer.edits == [] and trainer.model.blocks[0].activation.binarized  # queued, not yet applied
    next(steps)
    assert trainer.records[-1]["lr"] == 5e-3
    assert not trainer.model.blocks[0].activation.binarized
    assert isinstance(trainer.optimizer, torch.optim.SGD)
    assert trainer.config.train.lr == 5e-3 and not trainer.config.model.layers[0].binarize_activations
    assert [(e["step"], e["setting"], e["layer"], e["old"], e["new"]) for e in trainer.edits] == [
        (3, "lr", None, 1e-2, 5e-3),
        (3, "binarize_activations", trainer.model.blocks[0].name, True, False),
        (3, "optimizer", None, "adam", "sgd"),
    ]
    for _ in steps:
        pass
    assert trainer.summary()["edits"] == trainer.edits


def test_a_live_edit_that_changes_nothing_is_not_recorded(tiny_data: MnistData, tiny_config: RunConfig):
    trainer = Trainer(tiny_config, tiny_data, "cpu")
    trainer.request_edit("lr", tiny_config.train.lr)
    next(trainer.steps())
    assert trainer.edits == []


@pytest.mark.parametrize(
    "setting, value, layer",
    [("batch_size", 10, None), ("lr", -1.0, None), ("optimizer", "nope", None), ("binarize_weights", True, 9)],
)
def test_live_edits_the_run_cannot_take_are_refused(tiny_data, tiny_config, setting, value, layer):
    trainer = Trainer(tiny_config, tiny_data, "cpu")
    with pytest.raises(ConfigError):
        trainer.request_edit(setting, value, layer)
    next(trainer.steps())
    assert trainer.edits == []


def test_early_records_come_at_once_and_leave_the_training_alone(tiny_data, tiny_config):
    """While a run is young its records also come every early_record_s (the app's live chart starts
    at once); the weights are those of a run recorded at fixed steps only."""
    fixed = Trainer(tiny_config, tiny_data, "cpu", record_every=5)
    early = Trainer(tiny_config, tiny_data, "cpu", record_every=5, early_record_s=1e-9)
    for _ in fixed.steps():
        pass
    for _ in early.steps():
        pass
    assert [r["step"] for r in fixed.records] == [5, 8]  # 8 steps of 32 images
    assert [r["step"] for r in early.records] == list(range(1, 9))  # young: every step is a record
    assert all(torch.equal(a, b) for a, b in zip(fixed.model.state_dict().values(), early.model.state_dict().values()))


def _trained(trainer: Trainer, steps: int | None = None) -> Trainer:
    for step in trainer.steps():
        if step == steps:
            break
    return trainer


def test_random_shifts_change_the_training_and_a_resumed_run_draws_the_same_ones(tiny_data, tiny_config):
    """Shifted images train other weights; the shifts of a step come from the seed and the step,
    so a run restored in the middle of an epoch ends as the uninterrupted one."""
    shifted = tiny_config.replace_train(shift=2, epochs=2)
    plain = _trained(Trainer(shifted.replace_train(shift=0), tiny_data, "cpu", record_every=3))
    whole = _trained(Trainer(shifted, tiny_data, "cpu", record_every=3))
    assert not torch.equal(plain.model.blocks[0].linear.weight, whole.model.blocks[0].linear.weight)
    first = _trained(Trainer(shifted, tiny_data, "cpu", record_every=3), steps=3)  # mid-epoch 1, at a record
    resumed = Trainer(shifted, tiny_data, "cpu", record_every=3)
    resumed.restore(first.model.state_dict(), first.state_dict(), first.records, first.evals)
    _trained(resumed)
    assert resumed.step == whole.step == 16
    weights = zip(whole.model.state_dict().values(), resumed.model.state_dict().values())
    assert all(torch.equal(a, b) for a, b in weights)


@pytest.mark.parametrize("name", ["fast", "best"])
def test_warm_up_takes_one_step_of_the_network_on_random_images(name, monkeypatch):
    steps = []
    original = Trainer.train_step
    monkeypatch.setattr(Trainer, "train_step", lambda self, *a: steps.append(a[0].shape) or original(self, *a))
    config = shrink(PRESETS[name])
    warm_up(config)
    assert steps == [(config.train.batch_size, *config.model.image_shape)]


def test_recalibrated_batch_norm_statistics_are_those_of_the_images(tiny_config):
    model = build_model(tiny_config.model)
    norm = model.blocks[0].norm
    norm.momentum = 0.3
    images = torch.rand(600, 1, 28, 28)
    model.eval()
    recalibrate_batch_norm(model, images, batch_size=600)  # one batch: its mean and (unbiased) variance
    with torch.no_grad():
        z = model.blocks[0].linear(model._prepare(images).flatten(1))
    assert torch.allclose(norm.running_mean, z.mean(0), atol=1e-5)
    assert torch.allclose(norm.running_var, z.var(0), rtol=1e-4)
    assert norm.momentum == 0.3 and not model.training


def test_a_run_recalibrates_in_its_training_batches_and_evaluates_in_batches_that_fit(
    tiny_data, tiny_config, monkeypatch
):
    """Recalibration passes batches of the training size (a deeper layer's input depends on it);
    evaluation passes batches whose widest activation stays small (see evaluation_batch_size)."""
    recalibrated, evaluated = [], []
    monkeypatch.setattr(
        torch.optim.swa_utils, "update_bn", lambda batches, model: recalibrated.extend(len(b) for b in batches)
    )
    real_totals = evaluation.evaluation_totals

    def totals(model, images, labels, loss_name, batch_size):
        evaluated.append(batch_size)
        return real_totals(model, images, labels, loss_name, batch_size)

    monkeypatch.setattr(loop, "evaluation_totals", totals)
    monkeypatch.setattr(summary, "EVAL_TENSOR_BYTES", 4 * 32 * 10)  # the widest layer, 32 units: 10 images
    config = tiny_config.replace_train(bn_recalibrate=True, batch_size=40, epochs=1)
    _trained(Trainer(config, tiny_data, "cpu", train_eval="never"))
    assert recalibrated[0] == 40 and sum(recalibrated) == len(tiny_data.train_images)
    assert evaluated == [10]


def test_evaluating_a_model_in_training_keeps_no_graph(tiny_data, tiny_config):
    """The trainer's evaluations hold no autograd graph (it would keep every batch's activations)."""
    trainer = Trainer(tiny_config, tiny_data, "cpu")
    assert all(p.requires_grad for p in trainer.model.parameters())
    totals = evaluation.evaluation_totals(
        trainer.model, tiny_data.test_images, tiny_data.test_labels, "cross_entropy", 8
    )
    assert not totals.requires_grad and totals.grad_fn is None


def test_a_run_that_recalibrates_ends_with_the_same_weights_and_new_statistics(tiny_data, tiny_config):
    plain = _trained(Trainer(tiny_config, tiny_data, "cpu"))
    recalibrated = _trained(Trainer(tiny_config.replace_train(bn_recalibrate=True), tiny_data, "cpu"))
    assert torch.equal(plain.model.blocks[0].linear.weight, recalibrated.model.blocks[0].linear.weight)
    assert not torch.allclose(plain.model.blocks[0].norm.running_mean, recalibrated.model.blocks[0].norm.running_mean)
