"""Why is my BNN not learning? Data-driven checks on a run, each with its evidence and a fix.

Every check reads the run's own numbers (metric and evaluation records, the final summary) and,
where the run cannot show it, a :class:`bnn.analysis.probe.Probe`: the configured network at
initialization on one batch of training images. A :class:`Finding` carries the evidence as
numbers, a one-line explanation, and ``fix(config)`` returning the edited settings; the fixes
are the ``fix_*`` functions here.

The checks follow the failure of the Keras question this project started from (the ``seed``
preset): output activations binarized, so argmax over ten ±1 scores returns the first tied
class, 0, and train accuracy is 9.87%, the share of zeros in MNIST; Keras' cross-entropy divides
by the sum of those ±1 outputs, which can be 0, so the loss turns NaN; no BatchNorm before the
signs; SGD at lr 1e-6 moves no weight far enough to matter. Background: Courbariaux et al. 2016
(arXiv:1602.02830): BatchNorm before every sign, the hard-tanh straight-through estimator whose
gradient is cancelled where ``|x| > 1`` (eq. 4), latent weights clipped to [-1, 1] (Alg. 1).

Besides the disasters, a run is compared with a :class:`bnn.analysis.reference.Reference` at the same
epoch: when it is behind, the reference's finding says by how much and which of its settings
most likely explain it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config.schema import RunConfig
from ..jobs.run import Run
from .findings import (
    CHANCE_FACTOR,
    COLLAPSE_SHARE,
    ERROR,
    FIXED_LR,
    FLIP_RATE_FLOOR,
    INFO,
    RELATIVE_MOVE_FLOOR,
    SEVERITY_ORDER,
    WARNING,
    Finding,
    fix_batch_norm,
    fix_chance,
    fix_clip,
    fix_collapse,
    fix_identity_ste,
    fix_learning_rate,
    fix_loss,
    fix_lower_lr,
    fix_output_real,
    flip_rates,
    layers_text,
    layers_without_batch_norm,
    optimizer_name,
    percent,
    saturated,
)
from .probe import Probe, probe
from .reference import Reference, reference_for

if TYPE_CHECKING:
    import torch

    from ..training.data import MnistData


def _is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _nan_on_chart(run: Run, step: int | None) -> str:
    bad = [r for r in run.records if r.get("nonfinite")]
    if not bad:
        return ""
    flat = sum(r.get("batch_accuracy", 0.0) for r in bad) / len(bad)
    where = f" from step {step:,}" if step is not None else ""
    return (
        f"the red crosses along the bottom of the Loss panel: {len(bad):,} records with a NaN loss{where} "
        f"(the loss line stops there), while the train-batch accuracy stays flat at {flat:.2f}% on the Accuracy panel"
    )


def _check_nan(config: RunConfig, run: Run, probe: Probe | None) -> Finding | None:
    step = run.nonfinite_step
    if step is None:
        step = next((r["step"] for r in run.records if r.get("nonfinite")), None)
    test = run.last_eval("test")
    if step is None and not (test and _is_nan(test.get("loss")) and run.records):
        return None
    where = f"at step {step:,}" if step is not None else "by the end"
    evidence = f"The loss became NaN {where}"
    if run.total_steps:
        evidence += f" of {run.total_steps:,}"
    evidence += "."
    if config.train.loss == "keras_ce":
        if probe is not None and config.model.layers[-1].binarize_activations:
            evidence += (
                f" At initialization the ten ±1 outputs sum to exactly 0 for "
                f"{percent(probe.output_zero_sum_share)} of the images."
            )
        explanation = (
            "Keras' cross-entropy divides the outputs by their sum: on ±1 outputs that sum is "
            "often 0 (division by zero) or negative, so the gradient is inf/NaN and every "
            "weight becomes NaN."
        )
        fix_label, fix = "Use softmax cross-entropy", fix_loss
    else:
        explanation = "A NaN weight makes every later output NaN: the step size was too large for this setup."
        fix_label, fix = f"Divide the learning rate by 10 (to {config.train.lr / 10:.0e})", fix_lower_lr
    chart = _nan_on_chart(run, step)
    return Finding("nan_loss", "The loss is NaN", evidence, explanation, ERROR, fix_label, fix, chart)


def _check_collapse(config: RunConfig, run: Run, probe: Probe | None) -> Finding | None:
    for split in ("train", "test"):
        record = run.last_eval(split)
        if not record or not record.get("prediction_histogram"):
            continue
        counts = list(record["prediction_histogram"])
        total = sum(counts)
        if not total:
            continue
        top = max(range(len(counts)), key=counts.__getitem__)
        share = counts[top] / total
        if share < COLLAPSE_SHARE:
            continue
        accuracy = record.get("accuracy")
        data = "training" if split == "train" else "test"
        evidence = f"{counts[top]:,} of {total:,} {data} predictions ({percent(share, 1)}) are class {top}."
        if accuracy is not None and share == 1.0:
            evidence += (
                f" {data.capitalize()} accuracy {accuracy:.2f}% is exactly the share of {top}s "
                f"among the {data} labels: the score of always answering {top}."
            )
        elif accuracy is not None:
            evidence += f" {data.capitalize()} accuracy: {accuracy:.2f}%."
        if top == 0:
            explanation = (
                "The network answers the same for every image: with tied (±1) or NaN output "
                "scores, argmax returns the first class, 0."
            )
        else:
            explanation = f"The network ignores its input and answers {top} for every image."
        return Finding(
            "collapsed",
            f"Predictions collapsed to class {top}",
            evidence,
            explanation,
            ERROR,
            "Real-valued outputs + softmax cross-entropy",
            fix_collapse,
            "the train-batches line on the Accuracy panel, flat at the share of the answered class"
            if run.records
            else "",
        )
    return None


def _check_chance(config: RunConfig, run: Run, probe: Probe | None) -> Finding | None:
    test = run.last_eval("test")
    if not test or test.get("accuracy") is None:
        return None
    chance = 100.0 / config.model.num_classes
    accuracy = float(test["accuracy"])
    if accuracy >= CHANCE_FACTOR * chance:
        return None
    epoch = float(test.get("epoch") or 0.0)
    evidence = f"Test accuracy {accuracy:.2f}% after {epoch:.2f} epochs; guessing scores {chance:.0f}%."
    explanation = "The network has learnt next to nothing; the checks below say why."
    return Finding(
        "chance",
        "Accuracy is near chance",
        evidence,
        explanation,
        ERROR,
        "Real outputs, cross-entropy, BatchNorm, Adam 1e-3",
        fix_chance,
    )


def _check_output_binarized(config: RunConfig, run: Run, probe: Probe | None) -> Finding | None:
    if not config.model.layers[-1].binarize_activations:
        return None
    classes = config.model.num_classes
    evidence = f"The output layer's activations are binarized: its {classes} class scores are all ±1."
    if probe is not None:
        evidence += (
            f" At initialization {percent(probe.output_tie_share)} of the images have two or more "
            "classes tied for the top score."
        )
    explanation = "argmax over tied ±1 scores returns the first tied class, and the loss sees no margin to improve."
    return Finding(
        "output_binarized",
        "Output activations are binarized",
        evidence,
        explanation,
        ERROR,
        "Make the output layer real-valued",
        fix_output_real,
    )


def _check_batch_norm(config: RunConfig, run: Run, probe: Probe | None) -> Finding | None:
    missing = layers_without_batch_norm(config)
    if not missing:
        return None
    evidence = f"{layers_text(missing)}: sign() of pre-activations without BatchNorm."
    if probe is not None:
        scales = ", ".join(f"{n} {probe.pre_std[n]:.2f}" for n in missing if n in probe.pre_std)
        evidence += f" Pre-activation std at initialization: {scales} (BatchNorm makes it 1)."
    explanation = (
        "BatchNorm centres and scales what the sign sees, so signs carry information and "
        "pre-activations stay inside the STE window |x| ≤ 1 (the paper uses it before every sign)."
    )
    return Finding(
        "no_batchnorm",
        "No BatchNorm before binarized activations",
        evidence,
        explanation,
        WARNING,
        f"Turn BatchNorm on for {layers_text(missing)}",
        fix_batch_norm,
    )


def _check_saturation(config: RunConfig, run: Run, probe: Probe | None) -> Finding | None:
    shares: dict[str, float] = {}
    source = ""
    recent = [r for r in run.records[-5:] if r.get("saturation")]
    if recent:
        for name in recent[-1]["saturation"]:
            values = [r["saturation"][name] for r in recent if name in r["saturation"]]
            values = [v for v in values if v is not None and math.isfinite(v)]
            if values:
                shares[name] = sum(values) / len(values)
        source = f"over the last records up to step {recent[-1]['step']:,}"
    elif probe is not None:
        shares = dict(probe.saturation)
        source = "at initialization"
    high = saturated(config, shares)
    if not high:
        return None
    listed = ", ".join(f"{n} {percent(s)}" for n, s in high.items())
    evidence = f"Share of pre-activations outside |x| ≤ 1 {source}: {listed}."
    explanation = (
        "The straight-through gradient is cancelled where |x| > 1 (paper eq. 4): those units "
        "pass no gradient back, so the layers below stop learning."
    )
    if any(l.binarize_activations and not l.batch_norm for l in config.model.layers):
        label, fix = "Turn BatchNorm on for the binarized layers", fix_batch_norm
    else:
        label, fix = "Use the identity STE (no gradient cancellation)", fix_identity_ste
    return Finding("saturated", "Pre-activations outside the STE window", evidence, explanation, WARNING, label, fix)


def _check_learning_rate(config: RunConfig, run: Run, probe: Probe | None) -> Finding | None:
    train = config.train
    flips = flip_rates(run)
    if len(run.records) >= 3 and flips:
        mean_flip = sum(flips) / len(flips)
        if mean_flip >= FLIP_RATE_FLOOR:
            return None
        evidence = (
            f"Mean sign-flip rate of the binary weights: {mean_flip:.1e} per record over "
            f"{len(run.records)} records, at lr {train.lr:.0e} ({train.optimizer})."
        )
    elif probe is not None:
        total_steps = run.total_steps or run.step
        moves = {
            n: probe.step_size[n] * total_steps / probe.weight_scale[n]
            for n in probe.step_size
            if probe.weight_scale.get(n) and math.isfinite(probe.step_size[n])
        }
        if not moves or max(moves.values()) >= RELATIVE_MOVE_FLOOR or not total_steps:
            return None
        name = max(moves, key=moves.get)
        if train.optimizer == "sgd":
            how = "lr × the mean |gradient| at initialization"
            if probe.gradient_loss != train.loss:
                how += f", measured with {probe.gradient_loss} since {train.loss} gives NaN"
        else:
            how = f"{train.optimizer} steps are about lr"
        evidence = (
            f"{optimizer_name(train.optimizer)} "
            f"at lr {train.lr:.0e} moves a weight by about {probe.step_size[name]:.1e} per step "
            f"({how}). Over all {total_steps:,} steps that adds up to {percent(moves[name], 2)} of a "
            f"typical |weight| ({probe.weight_scale[name]:.3f}, layer {name}, the one that moves most)."
        )
    else:
        return None
    explanation = "Weights barely move, so no latent weight changes sign and the network stays as initialized."
    return Finding(
        "lr_too_small",
        "Learning rate too small to change any weight",
        evidence,
        explanation,
        ERROR,
        f"Adam at lr {FIXED_LR:.0e}",
        fix_learning_rate,
        "the Weight sign flips panel, flat at 0" if flips else "",
    )


def _check_clipping(
    config: RunConfig, run: Run, probe: Probe | None, latent: Mapping[str, torch.Tensor] | None = None
) -> Finding | None:
    binarized = [l for l in config.model.layers if l.binarize_weights]
    if config.train.clip_latent or not binarized or config.train.optimizer == "bop":
        return None
    evidence = "Latent weights are not clipped to [-1, 1] after each step."
    severity = INFO
    if latent:
        outside = sum(int((w.abs() > 1).sum()) for w in latent.values())
        count = sum(w.numel() for w in latent.values())
        biggest = max(float(w.abs().max()) for w in latent.values())
        evidence += f" Now {percent(outside / max(count, 1), 2)} of them are beyond ±1 (largest |w| {biggest:.2f})."
        severity = WARNING if outside else INFO
    explanation = (
        "A latent weight far beyond ±1 needs as many steps back before its sign can flip: the "
        "paper clips them (Algorithm 1) so binary weights stay able to change."
    )
    return Finding(
        "not_clipped",
        "Latent weights not clipped",
        evidence,
        explanation,
        severity,
        "Clip latent weights to [-1, 1]",
        fix_clip,
    )


def diagnose(
    run: Run,
    probe: Probe | None = None,
    latent_weights: Mapping[str, torch.Tensor] | None = None,
    reference: Reference | None = None,
) -> list[Finding]:
    """Every problem the run's numbers show, most severe first.

    ``run``: a training job's snapshot or a saved run; its settings as trained are checked.
    ``probe``: :func:`bnn.analysis.probe.probe` of those settings (adds initialization evidence).
    ``latent_weights``: the trained model's ``latent_weights()`` for the clipping check.
    ``reference``: what to compare the test accuracy with at the same epoch
    (:func:`bnn.analysis.reference.reference_for`).
    """
    config, evidence = run.config, run
    findings = [
        _check_nan(config, evidence, probe),
        _check_collapse(config, evidence, probe),
        _check_output_binarized(config, evidence, probe),
        _check_batch_norm(config, evidence, probe),
        _check_saturation(config, evidence, probe),
        _check_learning_rate(config, evidence, probe),
        _check_clipping(config, evidence, probe, latent_weights),
    ]
    found = [f for f in findings if f is not None]
    if not any(f.id in ("collapsed", "nan_loss") for f in found):
        behind = reference.gap_finding(run) if reference is not None else None
        if behind is not None:
            found.insert(0, behind)
    if not any(f.id == "collapsed" for f in found):
        chance = _check_chance(config, evidence, probe)
        if chance is not None:
            found.insert(0, chance)
    return sorted(found, key=lambda f: SEVERITY_ORDER[f.severity])


def apply_fixes(config: RunConfig, findings: Sequence[Finding]) -> RunConfig:
    """``config`` with every finding's fix applied, in order."""
    for finding in findings:
        config = finding.fix(config)
    return config


@dataclass(frozen=True)
class RunDiagnosis:
    """A run's diagnosis: its findings, most severe first, and the reference it was compared with."""

    findings: list[Finding]
    reference: Reference | None


def diagnose_run(run: Run, data: MnistData | None = None, probe_of: Callable[..., Probe] = probe) -> RunDiagnosis:
    """The one diagnosis of a run (the Train page's and ``RunHandle.diagnose``'s): its settings as
    trained probed on ``data``'s training images (no probe without data), its latent weights
    checked when they are not clipped, its test accuracy compared with :func:`reference_for`'s
    reference. ``probe_of(config, images, labels)`` is :func:`bnn.analysis.probe.probe` or a cache of it."""
    config = run.config
    run_probe = probe_of(config, data.train_images, data.train_labels) if data is not None else None
    model = run.model() if not config.train.clip_latent else None  # only the clipping check needs it
    reference = reference_for(config, run.preset)
    latent = model.latent_weights() if model is not None else None
    return RunDiagnosis(diagnose(run, run_probe, latent, reference), reference)
