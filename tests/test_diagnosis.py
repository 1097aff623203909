"""bnn.diagnosis: the seed run's 9.87% is diagnosed, the fixes make it learn, healthy runs pass."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from bnn.diagnosis import apply_fixes, diagnose, probe, reference_for
from bnn.jobs import TrainingJob
from bnn.metrics import last_eval
from bnn.presets import PRESETS
from bnn.run import Run, Status
from bnn.settings import LayerConfig, ModelConfig, RunConfig, TrainConfig
from bnn.train import train

SEED = PRESETS["seed"]
SEED_FINDINGS = {"nan_loss", "collapsed", "output_binarized", "no_batchnorm", "lr_too_small"}


def _ids(findings) -> set[str]:
    return {f.id for f in findings}


def _healthy_records(steps: int = 5, flip: float = 0.01, saturation: float = 0.3) -> list[dict]:
    return [
        {
            "step": 20 * (i + 1),
            "epoch": 0.1 * (i + 1),
            "loss": 0.5,
            "batch_accuracy": 90.0,
            "lr": 1e-2,
            "flip_rate": {"dense1": flip, "output": flip},
            "saturation": {"dense1": saturation},
            "nonfinite": False,
        }
        for i in range(steps)
    ]


def _run(config, recorded: dict) -> Run:
    """A run of ``config`` that recorded ``recorded`` (records, evals, nonfinite_step ...)."""
    return Run("run", config, Status.FINISHED, **recorded)


def _evals(accuracy: float, histogram: list[int]) -> list[dict]:
    return [
        {
            "step": 100,
            "epoch": 1.0,
            "split": "test",
            "accuracy": accuracy,
            "loss": 0.3,
            "prediction_histogram": histogram,
            "count": sum(histogram),
        }
    ]


@pytest.fixture(scope="module")
def seed_run(mnist):
    """The seed preset on all of MNIST: it diverges at step 2, so this takes about a second."""
    job = TrainingJob(SEED, mnist, stop_on_nonfinite=True).start()
    job.join()
    return job.snapshot(), probe(SEED, mnist.train_images, mnist.train_labels)


def test_seed_run_is_diagnosed(seed_run):
    snapshot, seed_probe = seed_run
    findings = diagnose(snapshot, seed_probe)
    assert SEED_FINDINGS <= _ids(findings)
    assert "not_clipped" not in _ids(findings)  # the seed has real-valued weights: nothing to clip
    collapsed = next(f for f in findings if f.id == "collapsed")
    assert "class 0" in collapsed.title
    assert "9.87%" in collapsed.evidence and "share of 0s" in collapsed.evidence
    nan = next(f for f in findings if f.id == "nan_loss")
    assert "step 2" in nan.evidence
    lr = next(f for f in findings if f.id == "lr_too_small")
    assert "1e-06" in lr.evidence
    assert all(f.evidence and f.explanation and f.fix_label for f in findings)
    assert [f.severity for f in findings] == sorted(
        (f.severity for f in findings), key=["error", "warning", "info"].index
    )


def test_seed_probe_numbers(seed_run):
    _, seed_probe = seed_run
    assert seed_probe.output_tie_share > 0.9  # ten ±1 scores: ties almost always
    assert 0 < seed_probe.output_zero_sum_share < 1  # Keras' y / sum(y) divides by zero
    assert seed_probe.step_size["dense1"] < 1e-7  # SGD at 1e-6 barely moves a weight
    assert set(seed_probe.saturation) == {"dense1", "dense2", "dense3", "output"}


def test_all_fixes_make_the_seed_learn(seed_run, mnist):
    snapshot, seed_probe = seed_run
    fixed = apply_fixes(SEED, diagnose(snapshot, seed_probe))
    assert not fixed.model.layers[-1].binarize_activations
    assert fixed.train.loss == "cross_entropy"
    assert all(layer.batch_norm for layer in fixed.model.layers[:-1])
    assert (fixed.train.optimizer, fixed.train.lr) == ("adam", 1e-3)
    assert fixed.model.layers[0].units == 256 and fixed.model.input.scale == "01"  # the rest is the seed's
    trainer = train(fixed.replace_train(train_subset=20_000, epochs=2), mnist.subset(test=2_000), device="cpu")
    assert last_eval(trainer.evals, "test")["accuracy"] > 90.0


def test_fix_changes_only_its_setting():
    findings = {f.id: f for f in diagnose(_run(SEED, {"evals": _evals(9.8, [1000] + [0] * 9)}))}
    output_fixed = findings["output_binarized"].fix(SEED)
    assert [l.binarize_activations for l in output_fixed.model.layers] == [True, True, True, False]
    assert output_fixed.train == SEED.train
    bn_fixed = findings["no_batchnorm"].fix(SEED)
    assert all(l.batch_norm for l in bn_fixed.model.layers) and bn_fixed.train == SEED.train
    assert findings["no_batchnorm"].fix(bn_fixed) == bn_fixed  # idempotent


def test_healthy_run_has_no_findings():
    config = PRESETS["fast"]
    run = {"records": _healthy_records(), "evals": _evals(95.0, [100] * 10)}
    assert diagnose(_run(config, run)) == []


def test_chance_without_collapse():
    run = {"records": _healthy_records(), "evals": _evals(12.0, [100] * 10)}
    findings = diagnose(_run(PRESETS["fast"], run))
    assert _ids(findings) == {"chance"}
    assert "12.00%" in findings[0].evidence
    fixed = findings[0].fix(PRESETS["fast"])
    assert fixed.train.optimizer == "adam" and fixed.train.lr == 1e-3


def test_collapse_to_another_class():
    findings = diagnose(
        _run(PRESETS["fast"], {"records": _healthy_records(), "evals": _evals(11.35, [0] * 7 + [995, 5, 0])})
    )
    collapsed = next(f for f in findings if f.id == "collapsed")
    assert "class 7" in collapsed.title and "99.5%" in collapsed.evidence


def test_zero_flip_rate_means_learning_rate_too_small():
    run = {"records": _healthy_records(flip=0.0), "evals": _evals(95.0, [100] * 10)}
    findings = diagnose(_run(PRESETS["fast"], run))
    assert _ids(findings) == {"lr_too_small"}
    assert "flip rate" in findings[0].evidence


def test_saturation_from_records():
    run = {"records": _healthy_records(saturation=0.8), "evals": _evals(95.0, [100] * 10)}
    findings = diagnose(_run(PRESETS["fast"], run))
    assert _ids(findings) == {"saturated"}
    assert "dense1 80%" in findings[0].evidence
    assert findings[0].fix(PRESETS["fast"]).model.ste_cancel is False  # BatchNorm is already on


def test_unclipped_latent_weights():
    config = PRESETS["fast"].replace_train(clip_latent=False)
    latent = {"dense1": torch.tensor([0.5, 1.5, -2.0, 0.1])}
    findings = diagnose(
        _run(config, {"records": _healthy_records(), "evals": _evals(95.0, [100] * 10)}), latent_weights=latent
    )
    assert _ids(findings) == {"not_clipped"}
    assert findings[0].severity == "warning" and "50.00%" in findings[0].evidence
    assert findings[0].fix(config).train.clip_latent


def test_nan_with_another_loss_lowers_the_learning_rate():
    config = PRESETS["fast"]
    findings = diagnose(
        _run(config, {"records": _healthy_records(), "evals": _evals(95.0, [100] * 10), "nonfinite_step": 40})
    )
    nan = next(f for f in findings if f.id == "nan_loss")
    assert nan.fix(config).train.lr == pytest.approx(config.train.lr / 10)


def test_probe_on_synthetic_data(tiny_data):
    output = LayerConfig(10, binarize_weights=False, binarize_activations=False)
    config = RunConfig(
        ModelConfig(layers=(LayerConfig(16), output)), TrainConfig(optimizer="sgd", lr=1e-3, momentum=0.0)
    )
    before = torch.random.get_rng_state()
    result = probe(config, tiny_data.train_images, tiny_data.train_labels, batch_size=32)
    assert torch.equal(before, torch.random.get_rng_state())  # training threads' RNG untouched
    assert result.output_tie_share == 0.0 and result.gradient_loss == "cross_entropy"
    assert 0.0 <= result.saturation["dense1"] <= 1.0


def _sgd_variant() -> RunConfig:
    """The run of issue 11: `fast` with SGD at lr 2e-2, dense2's activations and the output weights real."""
    fast = PRESETS["fast"]
    dense1, dense2, output = fast.model.layers
    layers = (dense1, replace(dense2, binarize_activations=False), replace(output, binarize_weights=False))
    return fast.replace_model(layers=layers).replace_train(optimizer="sgd", lr=2e-2, schedule="constant")


def _evals_at(accuracy: float, epoch: float) -> list[dict]:
    return [{**_evals(accuracy, [100] * 10)[0], "epoch": epoch}]


def test_reference_is_the_measured_preset_of_the_same_architecture():
    assert reference_for(_sgd_variant()).config == PRESETS["fast"]
    assert reference_for(PRESETS["float"].replace_train(lr=3e-3)).config == PRESETS["float"]
    assert reference_for(PRESETS["float"], preset="fast").config == PRESETS["fast"]
    assert reference_for(PRESETS["seed"]) is None  # no measured preset of that shape


def test_a_run_behind_its_reference_gets_the_gap_and_the_settings_that_explain_it():
    config = _sgd_variant()
    run = {"records": _healthy_records(flip=2e-4), "evals": _evals_at(88.9, 3.0)}
    findings = diagnose(_run(config, run), reference=reference_for(config))
    behind = findings[0]
    assert behind.id == "behind_reference" and behind.severity == "warning"
    assert "9.0 points behind" in behind.evidence and "97.90%" in behind.evidence and "88.90%" in behind.evidence
    assert "SGD at lr 2e-02" in behind.evidence and "Adam at lr 1e-02 → 1e-05 (cosine)" in behind.evidence
    assert "0.020% per record" in behind.evidence  # the measured flip rate
    fixed = behind.fix(config)
    assert fixed.train == PRESETS["fast"].train  # the optimizer settings of fast ...
    assert fixed.model == config.model  # ... and its layers left as chosen


def test_the_gap_is_measured_at_the_same_epoch():
    config = _sgd_variant()
    reference = reference_for(config)
    after_one = diagnose(
        _run(config, {"records": _healthy_records(), "evals": _evals_at(94.0, 1.0)}), reference=reference
    )
    assert "1.3 points behind" in after_one[0].evidence and "95.27% after 1" in after_one[0].evidence
    early = diagnose(_run(config, {"records": _healthy_records(), "evals": _evals_at(60.0, 0.5)}), reference=reference)
    assert "behind_reference" not in _ids(early)  # no reference before its first epoch


def test_each_likely_cause_of_a_gap_is_named_with_its_fix():
    fast = PRESETS["fast"]
    layers = [replace(layer, batch_norm=False) for layer in fast.model.layers]
    config = fast.replace_model(layers=tuple(layers), ste_cancel=False).replace_train(clip_latent=False)
    run = {"records": _healthy_records(saturation=0.8), "evals": _evals_at(90.0, 2.0)}
    behind = diagnose(_run(config, run), reference=reference_for(config))[0]
    assert "7.4 points behind" in behind.evidence
    for cause in ("no BatchNorm before the signs of dense1 and dense2", "identity STE", "not clipped", "dense1 80%"):
        assert cause in behind.evidence
    fixed = behind.fix(config)
    assert fixed.model.ste_cancel and fixed.train.clip_latent and all(l.batch_norm for l in fixed.model.layers[:2])


def test_a_run_close_to_its_reference_has_no_gap_finding():
    config = PRESETS["fast"]
    run = {"records": _healthy_records(), "evals": _evals_at(97.5, 3.0)}
    assert diagnose(_run(config, run), reference=reference_for(config)) == []
