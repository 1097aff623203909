"""bnn.analysis.reference: a run is compared with the measured preset of its architecture at the same
epoch; when it is behind, the finding names the settings that explain the gap and fixes them."""

from __future__ import annotations

from dataclasses import replace

from bnn.analysis.diagnosis import diagnose
from bnn.analysis.reference import reference_for
from bnn.config.presets import PRESETS
from bnn.config.schema import RunConfig
from tests.recorded_runs import healthy_records, one_test_eval, recorded_run


def _ids(findings) -> set[str]:
    return {f.id for f in findings}


def _sgd_variant() -> RunConfig:
    """The run of issue 11: `fast` with SGD at lr 2e-2, dense2's activations and the output weights real."""
    fast = PRESETS["fast"]
    dense1, dense2, output = fast.model.layers
    layers = (dense1, replace(dense2, binarize_activations=False), replace(output, binarize_weights=False))
    return fast.replace_model(layers=layers).replace_train(optimizer="sgd", lr=2e-2, schedule="constant")


def test_reference_is_the_measured_preset_of_the_same_architecture():
    assert reference_for(_sgd_variant()).config == PRESETS["fast"]
    assert reference_for(PRESETS["float"].replace_train(lr=3e-3)).config == PRESETS["float"]
    assert reference_for(PRESETS["float"], preset="fast").config == PRESETS["fast"]
    assert reference_for(PRESETS["seed"]) is None  # no measured preset of that shape


def test_a_run_behind_its_reference_gets_the_gap_and_the_settings_that_explain_it():
    config = _sgd_variant()
    run = {"records": healthy_records(flip=2e-4), "evals": one_test_eval(88.9, [100] * 10, 3.0)}
    findings = diagnose(recorded_run(config, run), reference=reference_for(config))
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
        recorded_run(config, {"records": healthy_records(), "evals": one_test_eval(94.0, [100] * 10, 1.0)}),
        reference=reference,
    )
    assert "1.3 points behind" in after_one[0].evidence and "95.27% after 1" in after_one[0].evidence
    early = diagnose(
        recorded_run(config, {"records": healthy_records(), "evals": one_test_eval(60.0, [100] * 10, 0.5)}),
        reference=reference,
    )
    assert "behind_reference" not in _ids(early)  # no reference before its first epoch


def test_each_likely_cause_of_a_gap_is_named_with_its_fix():
    fast = PRESETS["fast"]
    layers = [replace(layer, batch_norm=False) for layer in fast.model.layers]
    config = fast.replace_model(layers=tuple(layers), ste_cancel=False).replace_train(clip_latent=False)
    run = {"records": healthy_records(saturation=0.8), "evals": one_test_eval(90.0, [100] * 10, 2.0)}
    behind = diagnose(recorded_run(config, run), reference=reference_for(config))[0]
    assert "7.4 points behind" in behind.evidence
    for cause in ("no BatchNorm before the signs of dense1 and dense2", "identity STE", "not clipped", "dense1 80%"):
        assert cause in behind.evidence
    fixed = behind.fix(config)
    assert fixed.model.ste_cancel and fixed.train.clip_latent and all(l.batch_norm for l in fixed.model.layers[:2])


def test_a_run_close_to_its_reference_has_no_gap_finding():
    config = PRESETS["fast"]
    run = {"records": healthy_records(), "evals": one_test_eval(97.5, [100] * 10, 3.0)}
    assert diagnose(recorded_run(config, run), reference=reference_for(config)) == []
