"""Studies: what does each binarization cost? A base configuration and its variants, trained as
ordinary runs and summarised side by side.

A :class:`Study` is a base :class:`~bnn.config.schema.RunConfig` plus a kind:

* **ablation**: the base; for each layer its weight binarization off, and its activation
  binarization toggled (the output layer's too: binarizing it is the seed's 9.87% bug); every
  layer full precision; everything binarized where it works (the input pixels and every layer's
  weights and hidden activations; the output stays real, see above);
* **sweep**: a grid over settings named as the app names them (field name, URL key or label),
  each value typed as text and checked by the same rules as a Train-page link
  (:func:`bnn.config.links.read_query_params`, then :func:`bnn.config.schema.validate`);

optionally repeated over seeds (n >= 2: a mean and a spread per variant). Short by default: one
epoch, optionally on a training subset. Each :class:`Variant` has a name, its ``changes`` from the
base in words (``"output: binary activations on"``; the base is ``base`` with none) and its cost
from the architecture plan (:func:`bnn.config.architecture.plan`): ``bits`` of parameter storage (1 per
binary weight, 32 per real weight, bias and BatchNorm parameter, as :mod:`bnn.network.summary` counts
them) and ``binary_mac_share``, the share of multiply-accumulates that are XNOR-popcounts.

A study folder holds ``study.json`` (the definition, see :meth:`Study.to_json`) and one run folder
per variant and seed (:mod:`bnn.jobs.run_folders`), so a study reopens, is collected from whatever finished
(:func:`bnn.jobs.study_results.collect`, also what other machines wrote there), and resumes after a crash
(:func:`bnn.jobs.study_folders.pending_runs`: finished runs are kept, interrupted ones continue from their
checkpoint, missing or stopped ones start again). :class:`bnn.jobs.study_job.StudyJob` trains the pending runs
as :class:`bnn.jobs.training_job.TrainingJob` s through shared training slots;
:func:`bnn.jobs.study_folders.train_commands` writes them as ``python -m bnn train`` command lines for other
machines.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import dataclass, field, replace

from ..config.architecture import layer_names, plan
from ..config.links import LAYERS_KEY, read_query_params, to_query_params
from ..config.schema import (
    LAYER_SETTINGS,
    SETTINGS,
    SETTINGS_BY_KEY,
    ConfigError,
    RunConfig,
    Setting,
    setting_value,
)
from .run import Status
from .run_format import STUDY_FILE
from .start_rules import start_problems

FORMAT = "bnn-playground-study"
FORMAT_VERSION = 1
KINDS = ("ablation", "sweep")
MAX_RUNS = 64  # variants x seeds: at 1 epoch of `fast` on 2 cores, 64 runs are already about an hour
MAX_SEEDS = 10
LAYER_WORDS = {"binarize_weights": "binary weights", "binarize_activations": "binary activations"}
KEPT_STATUSES = (Status.FINISHED, Status.DIVERGED)  # ended with a result; the others train again


class StudyError(ValueError):
    """The study cannot be made or read; the message says why, in one sentence."""


@dataclass(frozen=True)
class Variant:
    """One configuration of a study: its name, what it changes from the base, and its settings."""

    name: str
    changes: tuple[str, ...]
    config: RunConfig

    @property
    def bits(self) -> int:
        """Bits of parameter storage: 1 per binary weight, 32 per real weight, bias and BatchNorm parameter."""
        return sum(
            layer.weights * (1 if layer.binarize_weights else 32) + 32 * (layer.biases + layer.batch_norm_params)
            for layer in plan(self.config.model)
        )

    @property
    def binary_mac_share(self) -> float:
        """Share of the multiply-accumulates that are XNOR-popcounts (binary weights and binary input)."""
        layers = plan(self.config.model)
        macs = sum(layer.macs for layer in layers)
        return sum(layer.binary_macs for layer in layers) / macs if macs else 0.0


@dataclass(frozen=True)
class Study:
    """A base configuration and how to vary it (see the module docstring)."""

    name: str
    base: RunConfig  # with the study's epochs and training subset
    kind: str = "ablation"
    grid: dict[str, tuple[str, ...]] = field(default_factory=dict)  # sweep: setting key -> values as typed
    seeds: int = 1  # runs per variant, seeds base.seed, base.seed + 1, ...
    preset: str | None = None  # the preset the base started from
    # who may stop and resume it on a shared server (as bnn.jobs.run.Run.owner); not part of what it studies
    owner: str | None = field(default=None, compare=False)

    def variants(self) -> tuple[Variant, ...]:
        """The variants, base first; a variant whose settings equal an earlier one's is left out."""
        made = ablation(self.base) if self.kind == "ablation" else sweep(self.base, self.grid)
        unique: dict[RunConfig, Variant] = {}
        for variant in made:
            unique.setdefault(variant.config, variant)
        return tuple(unique.values())

    def run_names(self, variant: Variant) -> list[tuple[str, RunConfig]]:
        """Run name and settings of each seed of ``variant``."""
        seed = self.base.train.seed
        if self.seeds == 1:
            return [(f"{self.name} · {variant.name}", variant.config)]
        return [
            (f"{self.name} · {variant.name} · seed {seed + i}", variant.config.replace_train(seed=seed + i))
            for i in range(self.seeds)
        ]

    def runs(self) -> list[tuple[Variant, str, RunConfig]]:
        return [(v, name, config) for v in self.variants() for name, config in self.run_names(v)]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "name": self.name,
                "kind": self.kind,
                "preset": self.preset,
                "seeds": self.seeds,
                "grid": {key: list(values) for key, values in self.grid.items()},
                "base": self.base.to_dict(),
                "owner": self.owner,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Study:
        """A study read back from ``study.json`` text, checked as untrusted input (:class:`StudyError`)."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise StudyError(f"{STUDY_FILE} is not readable JSON ({exc})") from None
        except RecursionError:  # e.g. 100,000 nested [
            raise StudyError(f"{STUDY_FILE} is nested too deeply to be a study") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise StudyError(f"{STUDY_FILE} does not say format {FORMAT!r}")
        if not isinstance(data.get("version"), int) or data["version"] > FORMAT_VERSION:
            raise StudyError(f"{STUDY_FILE} was written by a newer BNN Playground")
        grid = data.get("grid", {})
        if not isinstance(grid, dict) or not all(
            isinstance(v, list) and all(isinstance(t, str) for t in v) for v in grid.values()
        ):
            raise StudyError(f"{STUDY_FILE}: grid must map setting keys to lists of text")
        try:
            base = RunConfig.from_dict(data.get("base") or {})
        except (ConfigError, TypeError) as exc:
            raise StudyError(f"{STUDY_FILE}: base: {exc}") from None
        name, kind, seeds, preset_name = data.get("name"), data.get("kind"), data.get("seeds"), data.get("preset")
        if not isinstance(name, str) or not name.strip():
            raise StudyError(f"{STUDY_FILE}: name must be text")
        if preset_name is not None and not isinstance(preset_name, str):
            raise StudyError(f"{STUDY_FILE}: preset must be text or null")
        owner = data.get("owner")
        if owner is not None and not isinstance(owner, str):
            raise StudyError(f"{STUDY_FILE}: owner must be text or null")
        study = make_study(
            name,
            base,
            kind=kind,
            grid={k: list(v) for k, v in grid.items()},
            seeds=seeds,
            preset=preset_name,
        )
        return replace(study, owner=owner)


def _words(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def changes_between(base: RunConfig, config: RunConfig) -> tuple[str, ...]:
    """What ``config`` changes from ``base``, in words: ``"dense1: binary weights off"``,
    ``"input: binary pixels on"``, ``"Learning rate: 0.001"``."""
    changes = []
    for setting in SETTINGS:
        old, new = setting_value(base, setting), setting_value(config, setting)
        if old != new:
            if setting.name == "binarize" and setting.section == "input":
                changes.append(f"input: binary pixels {_words(new)}")
            else:
                changes.append(f"{setting.label}: {_words(new)}")
    old_layers, new_layers = base.model.layers, config.model.layers
    if len(old_layers) != len(new_layers) or any(
        (a.kind, a.units, a.kernel_size, a.pool) != (b.kind, b.units, b.kernel_size, b.pool)
        for a, b in zip(old_layers, new_layers)
    ):
        return (*changes, f"layers: {to_query_params(config)[LAYERS_KEY]}")
    for name, old, new in zip(layer_names(config.model), old_layers, new_layers):
        for setting in LAYER_SETTINGS.values():
            if getattr(old, setting.name) != getattr(new, setting.name):
                words = LAYER_WORDS.get(setting.name, setting.label)
                changes.append(f"{name}: {words} {_words(getattr(new, setting.name))}")
    return tuple(changes)


def _variant(name: str, base: RunConfig, config: RunConfig) -> Variant:
    return Variant(name, changes_between(base, config), config)


def _with_layers(config: RunConfig, **changes) -> RunConfig:
    """``config`` with ``changes`` (field -> value, or field -> per-layer list) on every layer."""
    layers = tuple(
        replace(layer, **{k: v[i] if isinstance(v, list) else v for k, v in changes.items()})
        for i, layer in enumerate(config.model.layers)
    )
    return config.replace_model(layers=layers)


def ablation(base: RunConfig) -> list[Variant]:
    """The ablation of ``base`` (see the module docstring), base first."""
    names = layer_names(base.model)
    layers = base.model.layers
    variants = [Variant("base", (), base)]
    for index, (name, layer) in enumerate(zip(names, layers)):
        if layer.binarize_weights:
            changed = replace(layer, binarize_weights=False)
            config = base.replace_model(layers=layers[:index] + (changed,) + layers[index + 1 :])
            variants.append(_variant(f"{name} real weights", base, config))
    for index, (name, layer) in enumerate(zip(names, layers)):
        changed = replace(layer, binarize_activations=not layer.binarize_activations)
        config = base.replace_model(layers=layers[:index] + (changed,) + layers[index + 1 :])
        words = "binary" if changed.binarize_activations else "real"
        variants.append(_variant(f"{name} {words} activations", base, config))
    real = _with_layers(base, binarize_weights=False, binarize_activations=False)
    real = real.replace_model(input=replace(real.model.input, binarize=False))
    variants.append(_variant("full precision", base, real))
    hidden = [True] * (len(layers) - 1) + [False]
    binary = _with_layers(base, binarize_weights=True, binarize_activations=hidden)
    binary = binary.replace_model(input=replace(binary.model.input, binarize=True))
    variants.append(_variant("all binarized", base, binary))
    return variants


def find_setting(name: str) -> Setting | None:
    """A setting by any name the app shows for it: field name (``batch_size``), URL key (``bs``)
    or label (``Batch size``), case and spaces aside; ``layers`` is the layer tokens."""
    wanted = name.strip().lower().replace(" ", "_").replace("-", "_")
    for setting in SETTINGS:
        if wanted in (setting.name, setting.key, setting.label.lower().replace(" ", "_")):
            return setting
    return None


def parse_grid(lines: list[str] | str) -> dict[str, tuple[str, ...]]:
    """``["lr = 0.01, 0.001", "optimizer = adam, sgd"]`` -> ``{"lr": ("0.01", "0.001"), "opt": (...)}``
    (URL keys). :class:`StudyError` names the first line that is not ``setting = value, value``
    or names an unknown setting."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    grid: dict[str, tuple[str, ...]] = {}
    for line in lines:
        if not line.strip():
            continue
        name, sep, values = line.partition("=")
        if not sep:
            raise StudyError(f"{line.strip()!r}: write a sweep line as setting = value, value, ...")
        if name.strip().lower() == LAYERS_KEY:
            key = LAYERS_KEY
        else:
            setting = find_setting(name)
            if setting is None:
                raise StudyError(
                    f"{name.strip()!r} is not a setting; settings are e.g. lr, optimizer, batch_size, seed, "
                    f"epochs, or {LAYERS_KEY} (any setting of the Train page, by its name, link key or label)"
                )
            key = setting.key
        texts = tuple(dict.fromkeys(v.strip() for v in values.split(",") if v.strip()))
        if not texts:
            raise StudyError(f"{name.strip()!r} has no values: write {name.strip()} = value, value, ...")
        grid[key] = texts
    return grid


def sweep(base: RunConfig, grid: dict[str, tuple[str, ...]]) -> list[Variant]:
    """One variant per point of ``grid`` (URL key -> values as text), each value checked by the
    rules of a Train-page link; :class:`StudyError` names the first value refused."""
    if not grid:
        raise StudyError("the sweep has no settings: give at least one setting = value, value, ...")
    size = math.prod(len(values) for values in grid.values())
    if size > MAX_RUNS:
        raise StudyError(_too_many(size, 1))
    variants = []
    for point in itertools.product(*grid.values()):
        params = dict(zip(grid, point))
        config, problems = read_query_params(params, base)
        if problems:
            raise StudyError(f"sweep value refused: {problems[0]}")
        if problems := start_problems(config):
            raise StudyError(f"{', '.join(f'{k}={v}' for k, v in params.items())}: {problems[0]}")
        changes = changes_between(base, config)
        named = {SETTINGS_BY_KEY[k].name if k in SETTINGS_BY_KEY else k: v for k, v in params.items()}
        name = ", ".join(f"{k}={v}" for k, v in named.items()) if changes else "base"
        variants.append(Variant(name, changes, config))
    return variants


def _too_many(variants: int, seeds: int) -> str:
    runs = variants * seeds
    times = f"{variants} variants x {seeds} seeds = {runs} runs" if seeds > 1 else f"{variants} variants"
    return (
        f"{times}: a study trains at most {MAX_RUNS} runs, so that it finishes in hours rather than days "
        "on a CPU; use fewer values or seeds, or split the grid into several studies"
    )


def make_study(
    name: str,
    base: RunConfig,
    *,
    kind: str = "ablation",
    grid: dict[str, list[str] | tuple[str, ...]] | list[str] | str | None = None,
    seeds: int = 1,
    epochs: int | None = None,
    train_subset: int | None = None,
    preset: str | None = None,
) -> Study:
    """A checked study (:class:`StudyError` says what is wrong): ``grid`` as :func:`parse_grid`
    reads it, or already parsed; ``epochs`` and ``train_subset`` override the base's."""
    if kind not in KINDS:
        raise StudyError(f"a study is an {' or a '.join(KINDS)}, got {kind!r}")
    if not isinstance(seeds, int) or isinstance(seeds, bool) or not 1 <= seeds <= MAX_SEEDS:
        raise StudyError(f"seeds must be a whole number from 1 to {MAX_SEEDS}, got {seeds!r}")
    if not name or not name.strip():
        raise StudyError("a study needs a name")
    changes = {"epochs": epochs, "train_subset": train_subset}
    base = base.replace_train(**{k: v for k, v in changes.items() if v is not None})
    if problems := start_problems(base):
        raise StudyError(f"the base settings cannot train: {problems[0]}")
    if kind == "sweep":
        parsed = grid if isinstance(grid, dict) else parse_grid(grid or [])
        unknown = [key for key in parsed if key not in SETTINGS_BY_KEY and key != LAYERS_KEY]
        if unknown:
            raise StudyError(f"{unknown[0]!r} is not a setting key")
        grid = {key: tuple(values) for key, values in parsed.items()}
    else:
        grid = {}
    study = Study(name.strip(), base, kind, grid, seeds, preset)
    variants = study.variants()
    if len(variants) * seeds > MAX_RUNS:
        raise StudyError(_too_many(len(variants), seeds))
    return study


def study_name(base_name: str, kind: str) -> str:
    return f"{base_name}-{kind}-{time.strftime('%m%d-%H%M%S')}"
