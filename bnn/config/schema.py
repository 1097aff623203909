"""The settings schema: a run's settings as frozen dataclasses that round-trip through JSON.

A run is fully described by a :class:`RunConfig` (model + training + seed), in the spirit of
nanoGPT's ``GPTConfig``: every field has a commented default, nothing is hidden in code. Each
scalar field carries a :class:`~bnn.config.spec.Setting` (URL key, label, help, allowed
values); the table of them, :data:`SETTINGS`, is what the link codec (:mod:`bnn.config.links`, after
TensorFlow Playground's ``state.ts``), the Train page's controls, :func:`validate` and the
settings in words (:mod:`bnn.config.descriptions`, the Compare page's columns) derive from.

The network's settings are :mod:`bnn.config.model_settings`'s, the training's
:mod:`bnn.config.train_settings`'s. Layers are described from input to output. The input "layer"
(:class:`~bnn.config.model_settings.InputConfig`) scales the pixels and may binarize and drop them;
every following :class:`~bnn.config.model_settings.LayerConfig` is a dense or conv layer with its
own switches. The last layer is the output layer; binarizing its activations is
allowed because it is exactly the bug of the question this project was born from.

Plain Python, no PyTorch: sizes come from the architecture plan (:mod:`bnn.config.architecture`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .architecture import plan
from .model_settings import InputConfig, LayerConfig, ModelConfig
from .spec import Setting
from .train_settings import TrainConfig

MAX_LAYERS = 12
MAX_PARAMETERS = 200_000_000  # more does not fit this machine's memory with Adam's state


class ConfigError(ValueError):
    """A setting is out of range; the message says which one and what is allowed."""


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        if not {"model", "train"} <= set(data):
            raise ConfigError("not a BNN Playground config: it needs a model and a train section")
        try:
            model = dict(data.get("model", {}))
            model_input = InputConfig(**model.pop("input", {}))
            layers = tuple(LayerConfig(**layer) for layer in model.pop("layers", ()))
            if "image_shape" in model:
                model["image_shape"] = tuple(model["image_shape"])
            model_cfg = ModelConfig(input=model_input, layers=layers or ModelConfig().layers, **model)
            train_cfg = TrainConfig(**data.get("train", {}))
        except (TypeError, ValueError, AttributeError) as exc:  # unknown/missing field, wrong shape
            raise ConfigError(f"not a BNN Playground config: {exc}") from None
        return cls(model=model_cfg, train=train_cfg)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError("config JSON must be an object")
        return cls.from_dict(data)

    def replace_train(self, **changes: Any) -> RunConfig:
        return replace(self, train=replace(self.train, **changes))

    def replace_model(self, **changes: Any) -> RunConfig:
        return replace(self, model=replace(self.model, **changes))


def _settings_of(cls: type, section: str) -> tuple[Setting, ...]:
    kinds = {"bool": bool, "int": int, "float": float, "str": str}  # annotations are strings here
    return tuple(
        replace(item.metadata["setting"], section=section, name=item.name, kind=kinds[item.type])
        for item in fields(cls)
        if "setting" in item.metadata
    )


# every scalar setting of a run, in field order
SETTINGS: tuple[Setting, ...] = (
    _settings_of(InputConfig, "input") + _settings_of(ModelConfig, "model") + _settings_of(TrainConfig, "train")
)
SETTINGS_BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
LAYER_SETTINGS: dict[str, Setting] = {s.name: s for s in _settings_of(LayerConfig, "layer")}


def setting_value(config: RunConfig, setting: Setting) -> Any:
    owner = {"input": config.model.input, "model": config.model, "train": config.train}[setting.section]
    return getattr(owner, setting.name)


def with_settings(config: RunConfig, values: Mapping[str, Any]) -> RunConfig:
    """``config`` with the settings named in ``values`` (field name -> value) replaced."""
    changes: dict[str, dict[str, Any]] = {"input": {}, "model": {}, "train": {}}
    for name, value in values.items():
        changes[SETTINGS_BY_NAME[name].section][name] = value
    model = replace(config.model, input=replace(config.model.input, **changes["input"]), **changes["model"])
    return RunConfig(model=model, train=replace(config.train, **changes["train"]))


def layer_problems(layers: tuple[LayerConfig, ...]) -> list[str]:
    """Every reason these layers cannot be built, each naming its layer (``layer 2: ...``)."""
    problems: list[str] = []
    seen_dense = False
    for index, layer in enumerate(layers):
        name = "output layer" if index == len(layers) - 1 else f"layer {index + 1}"
        for layer_setting in LAYER_SETTINGS.values():
            problem = layer_setting.problem(getattr(layer, layer_setting.name))
            if problem:
                problems.append(f"{name}: {problem}")
        if layer.kind == "conv":
            if seen_dense:
                problems.append(f"{name}: conv layers must come before dense layers")
            if layer.kernel_size % 2 == 0:
                problems.append(f"{name}: kernel size must be odd, got {layer.kernel_size}")
        else:
            seen_dense = True
    if layers and layers[-1].kind != "dense":
        problems.append("the output layer must be dense")
    if layers and isinstance(layers[-1].units, int) and layers[-1].units < 2:
        problems.append("the output layer needs at least 2 classes")
    return problems


def validate(config: RunConfig) -> list[str]:
    """Every reason this config cannot be trained, as messages for a user; empty when fine.
    The same field rules as :func:`bnn.config.links.read_query_params`, plus the rules between fields."""
    model, train = config.model, config.train
    problems = [problem for s in SETTINGS if (problem := s.problem(setting_value(config, s)))]
    if not model.layers:
        problems.append("the model needs at least an output layer")
    if len(model.layers) > MAX_LAYERS:
        problems.append(f"at most {MAX_LAYERS} layers, got {len(model.layers)}")
    else:
        problems += layer_problems(model.layers)
    if train.optimizer == "bop" and not any(layer.binarize_weights for layer in model.layers):
        problems.append("Bop flips binary weights: binarize the weights of at least one layer")
    if not problems:
        params = sum(layer.n_params for layer in plan(model))
        if params > MAX_PARAMETERS:
            problems.append(
                f"the model has {params / 1e6:.0f} M parameters: too big for this machine's memory "
                f"(at most {MAX_PARAMETERS / 1e6:.0f} M)"
            )
    return problems
