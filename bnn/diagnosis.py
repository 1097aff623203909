"""Why is my BNN not learning? Data-driven checks on a run, each with its evidence and a fix.

Every check reads the run's own numbers (metric and evaluation records, the final summary) and,
where the run cannot show it, a :class:`bnn.probe.Probe`: the configured network at
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

Besides the disasters, a run is compared with a :class:`bnn.reference.Reference` at the same
epoch: when it is behind, the reference's finding says by how much and which of its settings
most likely explain it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from . import architecture
from .run import Run
from .settings import LayerConfig, RunConfig

if TYPE_CHECKING:
    import torch

    from .probe import Probe
    from .reference import Reference

ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITY_ORDER = {ERROR: 0, WARNING: 1, INFO: 2}

COLLAPSE_SHARE = 0.9  # one class gets at least this share of the predictions
CHANCE_FACTOR = 2.0  # accuracy below CHANCE_FACTOR x chance counts as "near chance"
SATURATION_SHARE = 0.5  # more than half of a layer's pre-activations outside |x| <= 1
FLIP_RATE_FLOOR = 1e-5  # mean share of binary weights flipping per record below this is ~0
RELATIVE_MOVE_FLOOR = 0.1  # a whole run moves weights by < 10% of their typical size

FIXED_LR, FIXED_OPTIMIZER = 1e-3, "adam"


@dataclass(frozen=True)
class Finding:
    id: str
    title: str
    evidence: str  # the numbers that show the problem
    explanation: str  # one line: why it breaks learning
    severity: str  # ERROR, WARNING or INFO
    fix_label: str  # what the fix button does
    apply: Callable[[RunConfig], RunConfig] = field(repr=False, compare=False)
    on_chart: str = ""  # where the training chart shows it (the Train page's live chart)

    def fix(self, config: RunConfig) -> RunConfig:
        """The settings with this problem fixed (everything else unchanged)."""
        return self.apply(config)


def _with_layers(config: RunConfig, layers: Sequence[LayerConfig]) -> RunConfig:
    return config.replace_model(layers=tuple(layers))


def fix_output_real(config: RunConfig) -> RunConfig:
    layers = list(config.model.layers)
    layers[-1] = replace(layers[-1], binarize_activations=False)
    return _with_layers(config, layers)


def fix_loss(config: RunConfig) -> RunConfig:
    return config.replace_train(loss="cross_entropy")


def fix_collapse(config: RunConfig) -> RunConfig:
    """The accepted answer: real-valued output scores and softmax cross-entropy."""
    return fix_loss(fix_output_real(config))


def fix_batch_norm(config: RunConfig) -> RunConfig:
    layers = [replace(l, batch_norm=True) if l.binarize_activations else l for l in config.model.layers]
    return _with_layers(config, layers)


def fix_learning_rate(config: RunConfig) -> RunConfig:
    return config.replace_train(optimizer=FIXED_OPTIMIZER, lr=FIXED_LR, lr_end=min(config.train.lr_end, FIXED_LR))


def fix_clip(config: RunConfig) -> RunConfig:
    return config.replace_train(clip_latent=True)


def fix_identity_ste(config: RunConfig) -> RunConfig:
    return config.replace_model(ste_cancel=False)


def fix_lower_lr(config: RunConfig) -> RunConfig:
    lr = config.train.lr / 10
    return config.replace_train(lr=lr, lr_end=min(config.train.lr_end, lr))


def fix_ste_cancel(config: RunConfig) -> RunConfig:
    return config.replace_model(ste_cancel=True)


def fix_optimizer_like(reference: RunConfig) -> Callable[[RunConfig], RunConfig]:
    """A fix that takes the reference's optimizer, learning rate, schedule and momentum."""
    names = ("optimizer", "lr", "lr_end", "schedule", "momentum")

    def fix(config: RunConfig) -> RunConfig:
        return config.replace_train(**{name: getattr(reference.train, name) for name in names})

    return fix


def fix_chance(config: RunConfig) -> RunConfig:
    """No specific cause found: the settings known to learn (BatchNorm, Adam 1e-3, real output)."""
    return fix_learning_rate(fix_batch_norm(fix_collapse(config)))


def percent(share: float, digits: int = 0) -> str:
    """``share`` in percent with ``digits`` decimals, or in scientific notation when it would round to 0."""
    if 0 < share < 10 ** -(digits + 2):
        return f"{100 * share:.1e}%"
    return f"{100 * share:.{digits}f}%"


def layers_text(names: Sequence[str]) -> str:
    """``dense1``, ``dense1 and dense2``, ``dense1, dense2 and output`` ..."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def layer_names(config: RunConfig) -> list[str]:
    """The layers' names as the model gives them (dense1, conv2, ..., output)."""
    return list(architecture.layer_names(config.model))


def flip_rates(run: Run) -> list[float]:
    """Every finite share of binary weights that flipped sign between records, over all layers."""
    return [v for r in run.records for v in (r.get("flip_rate") or {}).values() if v is not None and math.isfinite(v)]


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
        return Finding(
            "nan_loss",
            "The loss is NaN",
            evidence,
            explanation,
            ERROR,
            "Use softmax cross-entropy",
            fix_loss,
            _nan_on_chart(run, step),
        )
    explanation = "A NaN weight makes every later output NaN: the step size was too large for this setup."
    return Finding(
        "nan_loss",
        "The loss is NaN",
        evidence,
        explanation,
        ERROR,
        f"Divide the learning rate by 10 (to {config.train.lr / 10:.0e})",
        fix_lower_lr,
        _nan_on_chart(run, step),
    )


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
    names = layer_names(config)
    missing = [n for n, l in zip(names, config.model.layers) if l.binarize_activations and not l.batch_norm]
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
    binarized = {n for n, l in zip(layer_names(config), config.model.layers) if l.binarize_activations}
    high = {n: s for n, s in shares.items() if n in binarized and s > SATURATION_SHARE}
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
            f"{train.optimizer.upper() if train.optimizer == 'sgd' else train.optimizer.capitalize()} "
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
    ``probe``: :func:`bnn.probe.probe` of those settings (adds initialization evidence).
    ``latent_weights``: the trained model's ``latent_weights()`` for the clipping check.
    ``reference``: what to compare the test accuracy with at the same epoch
    (:func:`bnn.reference.reference_for`).
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
