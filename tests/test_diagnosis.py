"""bnn.analysis.diagnosis: the seed run's 9.87% is diagnosed, the fixes make it learn, healthy runs pass."""

from __future__ import annotations

import pytest
import torch

from bnn.analysis.diagnosis import apply_fixes, diagnose
from bnn.analysis.probe import probe
from bnn.config.presets import PRESETS
from bnn.jobs.training_job import TrainingJob
from bnn.training.metrics import last_eval
from bnn.training.runners import train
from tests.recorded_runs import healthy_records, one_test_eval, recorded_run

SEED = PRESETS["seed"]
SEED_FINDINGS = {"nan_loss", "collapsed", "output_binarized", "no_batchnorm", "lr_too_small"}


def _ids(findings) -> set[str]:
    return {f.id for f in findings}


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


@pytest.mark.slow  # trains the fixed seed on 20,000 MNIST images
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
    findings = {f.id: f for f in diagnose(recorded_run(SEED, {"evals": one_test_eval(9.8, [1000] + [0] * 9)}))}
    output_fixed = findings["output_binarized"].fix(SEED)
    assert [l.binarize_activations for l in output_fixed.model.layers] == [True, True, True, False]
    assert output_fixed.train == SEED.train
    bn_fixed = findings["no_batchnorm"].fix(SEED)
    assert all(l.batch_norm for l in bn_fixed.model.layers) and bn_fixed.train == SEED.train
    assert findings["no_batchnorm"].fix(bn_fixed) == bn_fixed  # idempotent


def test_healthy_run_has_no_findings():
    config = PRESETS["fast"]
    run = {"records": healthy_records(), "evals": one_test_eval(95.0, [100] * 10)}
    assert diagnose(recorded_run(config, run)) == []


def test_chance_without_collapse():
    run = {"records": healthy_records(), "evals": one_test_eval(12.0, [100] * 10)}
    findings = diagnose(recorded_run(PRESETS["fast"], run))
    assert _ids(findings) == {"chance"}
    assert "12.00%" in findings[0].evidence
    fixed = findings[0].fix(PRESETS["fast"])
    assert fixed.train.optimizer == "adam" and fixed.train.lr == 1e-3


def test_collapse_to_another_class():
    findings = diagnose(
        recorded_run(
            PRESETS["fast"], {"records": healthy_records(), "evals": one_test_eval(11.35, [0] * 7 + [995, 5, 0])}
        )
    )
    collapsed = next(f for f in findings if f.id == "collapsed")
    assert "class 7" in collapsed.title and "99.5%" in collapsed.evidence


def test_zero_flip_rate_means_learning_rate_too_small():
    run = {"records": healthy_records(flip=0.0), "evals": one_test_eval(95.0, [100] * 10)}
    findings = diagnose(recorded_run(PRESETS["fast"], run))
    assert _ids(findings) == {"lr_too_small"}
    assert "flip rate" in findings[0].evidence


def test_saturation_from_records():
    run = {"records": healthy_records(saturation=0.8), "evals": one_test_eval(95.0, [100] * 10)}
    findings = diagnose(recorded_run(PRESETS["fast"], run))
    assert _ids(findings) == {"saturated"}
    assert "dense1 80%" in findings[0].evidence
    assert findings[0].fix(PRESETS["fast"]).model.ste_cancel is False  # BatchNorm is already on


def test_unclipped_latent_weights():
    config = PRESETS["fast"].replace_train(clip_latent=False)
    latent = {"dense1": torch.tensor([0.5, 1.5, -2.0, 0.1])}
    findings = diagnose(
        recorded_run(config, {"records": healthy_records(), "evals": one_test_eval(95.0, [100] * 10)}),
        latent_weights=latent,
    )
    assert _ids(findings) == {"not_clipped"}
    assert findings[0].severity == "warning" and "50.00%" in findings[0].evidence
    assert findings[0].fix(config).train.clip_latent


def test_nan_with_another_loss_lowers_the_learning_rate():
    config = PRESETS["fast"]
    findings = diagnose(
        recorded_run(
            config, {"records": healthy_records(), "evals": one_test_eval(95.0, [100] * 10), "nonfinite_step": 40}
        )
    )
    nan = next(f for f in findings if f.id == "nan_loss")
    assert nan.fix(config).train.lr == pytest.approx(config.train.lr / 10)
