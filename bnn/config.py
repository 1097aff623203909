"""Run settings as frozen dataclasses that round-trip through JSON and URL query params.

A run is fully described by a :class:`RunConfig` (model + training + seed), in the spirit of
nanoGPT's ``GPTConfig``: every field has a commented default, nothing is hidden in code.
Like TensorFlow Playground's ``state.ts``, the same settings also serialize to a flat table of
short URL query params, so a copied link reproduces a run.

Layers are described from input to output. The input "layer" (:class:`InputConfig`) scales the
pixels and may binarize and drop them; every following :class:`LayerConfig` is a dense or conv
layer with its own switches. The last layer is the output layer; binarizing its activations is
allowed because it is exactly the bug of the question this project was born from.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

OPTIMIZERS = ("sgd", "adam", "adamax", "bop")
SCHEDULES = ("constant", "exponential", "cosine")
LOSSES = ("cross_entropy", "squared_hinge", "keras_ce")
INPUT_SCALES = ("pm1", "01")  # pixels in [-1, 1] (paper) or [0, 1] (the seed's Keras code)
REAL_ACTIVATIONS = ("hardtanh", "relu", "identity")
LAYER_KINDS = ("dense", "conv")

MAX_UNITS = 8192  # widest layer the app accepts; wider is refused before training starts
MAX_LAYERS = 12


class ConfigError(ValueError):
    """A setting is out of range; the message says which one and what is allowed."""


@dataclass(frozen=True)
class InputConfig:
    scale: str = "pm1"  # "pm1": x*2-1 in [-1, 1] as in the paper; "01": raw [0, 1]
    binarize: bool = False  # sign() of the scaled pixels (first layer then sees ±1 only)
    dropout: float = 0.0  # dropout on the pixels (paper: 0.2)


@dataclass(frozen=True)
class LayerConfig:
    units: int  # dense: output width; conv: output channels; output layer: number of classes
    kind: str = "dense"  # "dense" or "conv" (3x3 or kernel_size, padding to keep size)
    kernel_size: int = 3  # conv only
    pool: bool = False  # conv only: 2x2 max-pool after the convolution (before BatchNorm)
    binarize_weights: bool = True  # forward uses sign(W) of the latent real weights W
    binarize_activations: bool = True  # this layer's output goes through sign (STE backward)
    batch_norm: bool = True  # BatchNorm between the linear map and the activation
    dropout: float = 0.0  # dropout on this layer's output (the next layer's input)


@dataclass(frozen=True)
class ModelConfig:
    input: InputConfig = field(default_factory=InputConfig)
    # hidden layers then the output layer; default is the `fast` preset's shape
    layers: tuple[LayerConfig, ...] = (
        LayerConfig(1024),
        LayerConfig(1024),
        LayerConfig(10, binarize_activations=False),
    )
    stochastic: bool = False  # stochastic binarization of activations while training
    ste_cancel: bool = True  # STE backward grad*1{|x|<=1}; False: identity STE (no cancellation)
    real_activation: str = "hardtanh"  # hidden layers whose activations are not binarized
    bias: bool = True  # bias on every linear map (BatchNorm makes it redundant but harmless)
    bn_eps: float = 1e-4  # paper: epsilon 1e-4
    bn_momentum: float = 0.1  # paper: alpha 0.1 (PyTorch momentum has the same meaning)
    latent_init: str = "glorot"  # "glorot" uniform, or "uniform1": U(-1, 1) as the Theano code
    image_shape: tuple[int, int, int] = (1, 28, 28)  # channels, height, width of the input

    @property
    def is_cnn(self) -> bool:
        return any(layer.kind == "conv" for layer in self.layers)

    @property
    def num_classes(self) -> int:
        return self.layers[-1].units


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = "adam"  # sgd (with momentum), adam, adamax, bop
    lr: float = 1e-2  # initial learning rate
    lr_end: float = 1e-4  # final lr for "exponential" and "cosine" schedules
    schedule: str = "exponential"  # constant, exponential (lr -> lr_end), cosine (lr -> lr_end)
    momentum: float = 0.9  # SGD only
    loss: str = "cross_entropy"  # cross_entropy, squared_hinge (±1 targets), keras_ce (seed)
    batch_size: int = 100
    epochs: int = 3
    seed: int = 0  # torch and data-order seed; same seed, same run on CPU
    clip_latent: bool = True  # clip latent weights to [-1, 1] after every optimizer step
    glorot_lr_scale: bool = False  # paper: per-layer lr times 1/sqrt(1.5/(fan_in+fan_out))
    bop_threshold: float = 1e-6  # Bop: flip when |m| > threshold and sign(m) == sign(w)
    bop_gamma: float = 1e-3  # Bop: adaptivity rate of the gradient's moving average m
    train_subset: int = 0  # use only the first N training images (0: all 60,000)


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # --- JSON ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
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

    # --- URL query params ---------------------------------------------------------------
    def to_query_params(self) -> dict[str, str]:
        return to_query_params(self)

    @classmethod
    def from_query_params(cls, params: Mapping[str, str]) -> RunConfig:
        return from_query_params(params)

    def replace_train(self, **changes: Any) -> RunConfig:
        return replace(self, train=replace(self.train, **changes))

    def replace_model(self, **changes: Any) -> RunConfig:
        return replace(self, model=replace(self.model, **changes))


# Query params: one short key per scalar field (the table below), layers as compact tokens.
# A layer token is "<d|c><units>[k<kernel>][p]-<flags>-<dropout>", flags from w (binarize
# weights), a (binarize activations), b (BatchNorm); e.g. "d1024-wab-0" or "c32k3p-wab-0.1".
_QUERY_KEYS: dict[str, tuple[str, str]] = {
    # key: (section, field)
    "in": ("input", "scale"),
    "inb": ("input", "binarize"),
    "indo": ("input", "dropout"),
    "stoch": ("model", "stochastic"),
    "ste": ("model", "ste_cancel"),
    "act": ("model", "real_activation"),
    "bias": ("model", "bias"),
    "bneps": ("model", "bn_eps"),
    "bnmom": ("model", "bn_momentum"),
    "init": ("model", "latent_init"),
    "opt": ("train", "optimizer"),
    "lr": ("train", "lr"),
    "lrend": ("train", "lr_end"),
    "sched": ("train", "schedule"),
    "mom": ("train", "momentum"),
    "loss": ("train", "loss"),
    "bs": ("train", "batch_size"),
    "ep": ("train", "epochs"),
    "seed": ("train", "seed"),
    "clip": ("train", "clip_latent"),
    "glr": ("train", "glorot_lr_scale"),
    "bopt": ("train", "bop_threshold"),
    "bopg": ("train", "bop_gamma"),
    "sub": ("train", "train_subset"),
}


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _parse_value(text: str, like: Any, key: str) -> Any:
    try:
        if isinstance(like, bool):
            if text not in ("0", "1", "true", "false"):
                raise ValueError(text)
            return text in ("1", "true")
        if isinstance(like, int):
            return int(text)
        if isinstance(like, float):
            return float(text)
        return text
    except ValueError:
        raise ConfigError(f"query param {key}={text!r} is not a valid {type(like).__name__}") from None


def layer_token(layer: LayerConfig) -> str:
    head = ("c" if layer.kind == "conv" else "d") + str(layer.units)
    if layer.kind == "conv":
        head += f"k{layer.kernel_size}" + ("p" if layer.pool else "")
    flags = "".join(
        flag
        for flag, on in (
            ("w", layer.binarize_weights),
            ("a", layer.binarize_activations),
            ("b", layer.batch_norm),
        )
        if on
    )
    return f"{head}-{flags}-{_format_value(float(layer.dropout))}"


def parse_layer_token(token: str) -> LayerConfig:
    try:
        head, flags, dropout = token.split("-")
        kind = {"d": "dense", "c": "conv"}[head[0]]
        rest = head[1:]
        pool = rest.endswith("p")
        rest = rest.rstrip("p")
        units_text, _, kernel_text = rest.partition("k")
        if set(flags) - set("wab"):
            raise ValueError(flags)
        return LayerConfig(
            units=int(units_text),
            kind=kind,
            kernel_size=int(kernel_text) if kernel_text else 3,
            pool=pool,
            binarize_weights="w" in flags,
            binarize_activations="a" in flags,
            batch_norm="b" in flags,
            dropout=float(dropout),
        )
    except (ValueError, KeyError, IndexError):
        raise ConfigError(f"layer {token!r} is not of the form d1024-wab-0 or c32k3p-wab-0") from None


def to_query_params(config: RunConfig) -> dict[str, str]:
    sections = {"input": config.model.input, "model": config.model, "train": config.train}
    params = {key: _format_value(getattr(sections[sec], name)) for key, (sec, name) in _QUERY_KEYS.items()}
    params["layers"] = "_".join(layer_token(layer) for layer in config.model.layers)
    return params


def from_query_params(params: Mapping[str, str], base: RunConfig | None = None) -> RunConfig:
    """Read the params written by :func:`to_query_params`; missing keys keep ``base``'s values."""
    base = base or RunConfig()
    changes: dict[str, dict[str, Any]] = {"input": {}, "model": {}, "train": {}}
    defaults = {"input": base.model.input, "model": base.model, "train": base.train}
    for key, (section, name) in _QUERY_KEYS.items():
        if key in params:
            changes[section][name] = _parse_value(str(params[key]), getattr(defaults[section], name), key)
    if "layers" in params and params["layers"]:
        changes["model"]["layers"] = tuple(parse_layer_token(t) for t in str(params["layers"]).split("_"))
    model = replace(base.model, input=replace(base.model.input, **changes["input"]), **changes["model"])
    return RunConfig(model=model, train=replace(base.train, **changes["train"]))


def validate(config: RunConfig) -> list[str]:
    """Every reason this config cannot be trained, as messages for a user; empty when fine."""
    problems: list[str] = []
    model, train = config.model, config.train
    if model.input.scale not in INPUT_SCALES:
        problems.append(f"input scale must be one of {INPUT_SCALES}, got {model.input.scale!r}")
    if model.real_activation not in REAL_ACTIVATIONS:
        problems.append(f"activation must be one of {REAL_ACTIVATIONS}, got {model.real_activation!r}")
    if not model.layers:
        problems.append("the model needs at least an output layer")
    if len(model.layers) > MAX_LAYERS:
        problems.append(f"at most {MAX_LAYERS} layers, got {len(model.layers)}")
    seen_dense = False
    for index, layer in enumerate(model.layers):
        name = "output layer" if index == len(model.layers) - 1 else f"layer {index + 1}"
        if layer.kind not in LAYER_KINDS:
            problems.append(f"{name}: kind must be dense or conv, got {layer.kind!r}")
        if not isinstance(layer.units, int) or layer.units < 1:
            problems.append(f"{name}: width must be a positive whole number, got {layer.units}")
        elif layer.units > MAX_UNITS:
            problems.append(f"{name}: width {layer.units} is too large (at most {MAX_UNITS})")
        if not 0.0 <= layer.dropout < 1.0:
            problems.append(f"{name}: dropout must be in [0, 1), got {layer.dropout}")
        if layer.kind == "conv":
            if seen_dense:
                problems.append(f"{name}: conv layers must come before dense layers")
            if layer.kernel_size < 1 or layer.kernel_size % 2 == 0:
                problems.append(f"{name}: kernel size must be odd and positive, got {layer.kernel_size}")
        else:
            seen_dense = True
    if model.layers and model.layers[-1].kind != "dense":
        problems.append("the output layer must be dense")
    if model.layers and model.layers[-1].units < 2:
        problems.append("the output layer needs at least 2 classes")
    if not 0.0 <= model.input.dropout < 1.0:
        problems.append(f"input dropout must be in [0, 1), got {model.input.dropout}")
    if not model.bn_eps > 0:
        problems.append(f"BatchNorm epsilon must be > 0, got {model.bn_eps}")
    if train.optimizer not in OPTIMIZERS:
        problems.append(f"optimizer must be one of {OPTIMIZERS}, got {train.optimizer!r}")
    if train.schedule not in SCHEDULES:
        problems.append(f"schedule must be one of {SCHEDULES}, got {train.schedule!r}")
    if train.loss not in LOSSES:
        problems.append(f"loss must be one of {LOSSES}, got {train.loss!r}")
    if not train.lr > 0:
        problems.append(f"learning rate must be > 0, got {train.lr}")
    elif train.lr > 10:
        problems.append(f"learning rate {train.lr} is absurdly large (at most 10)")
    if train.schedule != "constant" and not train.lr_end > 0:
        problems.append(f"final learning rate must be > 0, got {train.lr_end}")
    if train.epochs < 1:
        problems.append(f"epochs must be at least 1, got {train.epochs}")
    if not 1 <= train.batch_size <= 60000:
        problems.append(f"batch size must be between 1 and 60000, got {train.batch_size}")
    if train.train_subset < 0:
        problems.append(f"training subset must be >= 0, got {train.train_subset}")
    if train.optimizer == "bop" and not any(layer.binarize_weights for layer in model.layers):
        problems.append("Bop flips binary weights: binarize the weights of at least one layer")
    if not problems:
        params = parameter_count(model)
        if params > 200_000_000:
            problems.append(
                f"the model has {params / 1e6:.0f} M parameters: too big for this machine's memory (at most 200 M)"
            )
    return problems


def parameter_count(model: ModelConfig) -> int:
    """Weights + biases of the linear maps (BatchNorm excluded), without building the model."""
    channels, height, width = model.image_shape
    fan_in = channels * height * width
    total = 0
    for layer in model.layers:
        if layer.kind == "conv":
            total += channels * layer.units * layer.kernel_size**2 + layer.units
            channels = layer.units
            if layer.pool:
                height, width = height // 2, width // 2
            fan_in = channels * height * width
        else:
            total += fan_in * layer.units + layer.units
            fan_in = layer.units
    return total


def describe(config: RunConfig) -> str:
    """The settings in one line (``c32``: a conv layer of 32 channels), e.g.
    ``784-1024-1024-10 MLP · binary weights 3/3, binary activations 2/3, BatchNorm 3/3 ·
    adam lr 1e-02 -> 1e-05 (cosine) · batch 200 · 3 epochs · seed 0``."""
    model, train = config.model, config.train
    channels, height, width = model.image_shape
    widths = "-".join(
        [str(channels * height * width)]
        + [f"{'c' if layer.kind == 'conv' else ''}{layer.units}" for layer in model.layers]
    )
    shape = f"{widths} {'CNN' if model.is_cnn else 'MLP'}"
    count = len(model.layers)
    switches = ", ".join(
        f"{label} {sum(getattr(layer, name) for layer in model.layers)}/{count}"
        for label, name in (
            ("binary weights", "binarize_weights"),
            ("binary activations", "binarize_activations"),
            ("BatchNorm", "batch_norm"),
        )
    )
    lr = f"lr {train.lr:.0e}" + ("" if train.schedule == "constant" else f" -> {train.lr_end:.0e} ({train.schedule})")
    images = f" of {train.train_subset:,} images" if train.train_subset else ""
    return " · ".join(
        (
            shape,
            switches,
            f"{train.optimizer} {lr}",
            f"batch {train.batch_size}",
            f"{train.epochs} epoch{'s' if train.epochs != 1 else ''}{images}",
            f"seed {train.seed}",
        )
    )


def field_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]
