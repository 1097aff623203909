"""The findings of a diagnosis and their fixes, shared by the checks of a run's own numbers
(bnn.analysis.diagnosis) and the comparison with a reference run (bnn.analysis.reference).

A :class:`Finding` carries the evidence as numbers, a one-line explanation, and ``fix(config)``
returning the edited settings; the fixes are the ``fix_*`` functions here. The thresholds the
checks share (severities, saturation) are here too, so no check is written twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..config import architecture
from ..config.model_settings import LayerConfig
from ..config.schema import RunConfig

if TYPE_CHECKING:
    from ..jobs.run import Run

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


def optimizer_name(optimizer: str) -> str:
    """``SGD``, ``Adam``, ``Bop`` ...: an optimizer's name as the findings write it."""
    return optimizer.upper() if optimizer == "sgd" else optimizer.capitalize()


def binarized_layers(config: RunConfig) -> list[str]:
    """The names of the layers whose activations are binarized (a sign follows them)."""
    return [n for n, l in zip(layer_names(config), config.model.layers) if l.binarize_activations]


def layers_without_batch_norm(config: RunConfig) -> list[str]:
    """The binarized layers with no BatchNorm before their sign."""
    return [n for n, l in zip(layer_names(config), config.model.layers) if l.binarize_activations and not l.batch_norm]


def saturated(config: RunConfig, shares: Mapping[str, float | None]) -> dict[str, float]:
    """The binarized layers whose share of pre-activations outside |x| <= 1 is above SATURATION_SHARE."""
    binarized = set(binarized_layers(config))
    return {n: v for n, v in shares.items() if n in binarized and v is not None and v > SATURATION_SHARE}
