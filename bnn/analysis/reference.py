"""What a run is compared with: a :class:`Reference` (a measured preset of the same architecture,
or any run) and the finding when the run is behind it at the same epoch.

Measured test accuracy by epoch (:data:`MEASURED_TEST_ACCURACY`, from ``python -m
benchmarks.accuracy``) says what the architecture reaches with settings known to work: those of
Courbariaux et al. 2016 (arXiv:1602.02830), BatchNorm before every sign, the STE cancelled where
``|x| > 1``, latent weights clipped to [-1, 1], Adam with a decaying learning rate. A run at least
:data:`GAP_POINTS` behind gets a :class:`bnn.analysis.diagnosis.Finding` that names its settings most
likely to explain the gap, with the numbers, and whose fix takes the reference's value for each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..config.descriptions import settings_in_words
from ..config.presets import PRESETS
from ..config.schema import RunConfig
from ..config.train_settings import TrainConfig
from ..jobs.run import Run
from .findings import (
    INFO,
    WARNING,
    Finding,
    fix_batch_norm,
    fix_clip,
    fix_optimizer_like,
    fix_output_real,
    fix_ste_cancel,
    flip_rates,
    layers_text,
    layers_without_batch_norm,
    optimizer_name,
    percent,
    saturated,
)

GAP_POINTS = 1.0  # a run this many test-accuracy points behind its reference gets a finding

# preset -> test accuracy (%) after epochs 1, 2, 3 (seed 0): python -m benchmarks.accuracy --preset NAME
MEASURED_TEST_ACCURACY = {
    "fast": (95.27, 97.44, 97.90),
    "float": (97.57, 98.31, 98.44),
}


@dataclass(frozen=True)
class Reference:
    """What a run is compared with: a name, its settings, test accuracy (%) by epoch."""

    name: str
    config: RunConfig
    accuracy_by_epoch: Mapping[float, float]

    def accuracy_at(self, epoch: float) -> tuple[float, float] | None:
        """(epoch, accuracy) of the reference's latest evaluation at or before ``epoch`` (a run
        compared at an earlier epoch would look worse than it is), or None."""
        earlier = [e for e in self.accuracy_by_epoch if e <= epoch + 1e-6]
        if not earlier:
            return None
        at = max(earlier)
        return at, self.accuracy_by_epoch[at]

    def gap_finding(self, run: Run) -> Finding | None:
        """The finding when ``run``'s last test accuracy is at least :data:`GAP_POINTS` behind this
        reference's at the same epoch, or None."""
        test = run.last_eval("test")
        if not test or test.get("accuracy") is None:
            return None
        epoch = float(test.get("epoch") or 0.0)
        at = self.accuracy_at(epoch)
        if at is None:
            return None
        ref_epoch, ref_accuracy = at
        gap = ref_accuracy - float(test["accuracy"])
        if gap < GAP_POINTS:
            return None
        suspects = _suspects(run.config, self.config, run)
        evidence = (
            f"Test accuracy {float(test['accuracy']):.2f}% after {epoch:.2f} epochs; {self.name} "
            f"reached {ref_accuracy:.2f}% after {ref_epoch:g} epoch{'s' if ref_epoch != 1 else ''}: "
            f"**{gap:.1f} points behind**."
        )
        if suspects:
            evidence += " Most likely: " + "; ".join(text for text, _ in suspects) + "."
            fixes = [fix for _, fix in suspects]

            def apply(config: RunConfig) -> RunConfig:
                for fix in fixes:
                    config = fix(config)
                return config

            label = f"Take {self.name.split(' ')[0]}'s values for these"
        else:
            evidence += " No setting that usually explains such a gap differs; more epochs may close it."
            apply, label = (lambda c: c.replace_train(epochs=c.train.epochs + 1)), "One more epoch"
        explanation = "Compared at the same epoch, so the gap is the settings', not the training time's."
        severity = WARNING if gap >= 5 else INFO
        return Finding(
            "behind_reference", f"{gap:.1f} points behind {self.name}", evidence, explanation, severity, label, apply
        )


def _same_architecture(a: RunConfig, b: RunConfig) -> bool:
    shape = [(layer.kind, layer.units, layer.kernel_size, layer.pool) for layer in a.model.layers]
    return shape == [(layer.kind, layer.units, layer.kernel_size, layer.pool) for layer in b.model.layers]


def reference_for(config: RunConfig, preset: str | None = None) -> Reference | None:
    """The measured preset ``config`` is best compared with: ``preset`` if measured and of the
    same architecture, else the measured preset of that architecture whose settings differ least."""
    candidates = [name for name in MEASURED_TEST_ACCURACY if _same_architecture(config, PRESETS[name])]
    if not candidates:
        return None
    words = settings_in_words(config)

    def differences(name: str) -> int:
        other = settings_in_words(PRESETS[name])
        return sum(words.get(k) != other.get(k) for k in set(words) | set(other))

    name = preset if preset in candidates else min(candidates, key=differences)
    accuracies = {float(epoch): acc for epoch, acc in enumerate(MEASURED_TEST_ACCURACY[name], 1)}
    return Reference(f"`{name}` (measured)", PRESETS[name], accuracies)


def _optimizer_text(train: TrainConfig) -> str:
    lr = f"lr {train.lr:.0e}" + ("" if train.schedule == "constant" else f" → {train.lr_end:.0e} ({train.schedule})")
    momentum = f", momentum {train.momentum:g}" if train.optimizer == "sgd" else ""
    return f"{optimizer_name(train.optimizer)} at {lr}{momentum}"


def _mean_flip_rate(run: Run) -> float | None:
    flips = flip_rates(run)
    return sum(flips) / len(flips) if flips else None


def _suspects(config: RunConfig, reference: RunConfig, run: Run) -> list[tuple[str, Callable]]:
    """The run's settings that most likely explain a gap to ``reference``, most likely first:
    (what, with the numbers; the fix)."""
    suspects = []
    train, ref = config.train, reference.train
    names = ("optimizer", "lr", "lr_end", "schedule", "momentum")
    if any(getattr(train, n) != getattr(ref, n) for n in names if n != "momentum" or train.optimizer == "sgd"):
        text = f"{_optimizer_text(train)} instead of {_optimizer_text(ref)}"
        flip = _mean_flip_rate(run)
        if flip is not None:
            text += f" (binary weights flipped {percent(flip, 3)} per record)"
        suspects.append((text, fix_optimizer_like(reference)))
    layers = config.model.layers
    if layers[-1].binarize_activations and not reference.model.layers[-1].binarize_activations:
        suspects.append(("binarized output activations (10 tied ±1 scores)", fix_output_real))
    missing = layers_without_batch_norm(config)
    if missing:
        suspects.append((f"no BatchNorm before the signs of {layers_text(missing)}", fix_batch_norm))
    if not config.model.ste_cancel and reference.model.ste_cancel:
        suspects.append(("identity STE: gradients also pass where |x| > 1", fix_ste_cancel))
    if not train.clip_latent and ref.clip_latent and train.optimizer != "bop":
        suspects.append(("latent weights not clipped to [-1, 1]", fix_clip))
    recent = [r for r in run.records[-5:] if r.get("saturation")]
    if recent:
        shares = saturated(config, recent[-1]["saturation"])
        if shares:
            listed = ", ".join(f"{n} {percent(v)}" for n, v in shares.items())
            suspects.append((f"pre-activations outside the STE window: {listed}", fix_batch_norm))
    return suspects
