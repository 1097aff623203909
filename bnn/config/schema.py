"""The settings schema: a run's settings as frozen dataclasses that round-trip through JSON.

A run is fully described by a :class:`RunConfig` (model + training + seed), in the spirit of
nanoGPT's ``GPTConfig``: every field has a commented default, nothing is hidden in code. Each
scalar field carries a :class:`~bnn.config.spec.Setting` (URL key, label, help, allowed
values); the table of them, :data:`SETTINGS`, is what the link codec (:mod:`bnn.config.links`, after
TensorFlow Playground's ``state.ts``), the Train page's controls, :func:`validate` and the
settings in words (:mod:`bnn.config.descriptions`, the Compare page's columns) derive from.

Layers are described from input to output. The input "layer" (:class:`InputConfig`) scales the
pixels and may binarize and drop them; every following :class:`LayerConfig` is a dense or conv
layer with its own switches. The last layer is the output layer; binarizing its activations is
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
from .spec import Setting, setting

OPTIMIZERS = ("sgd", "adam", "adamax", "bop")
SCHEDULES = ("constant", "exponential", "cosine")
LOSSES = ("cross_entropy", "squared_hinge", "keras_ce")
INPUT_SCALES = ("pm1", "01")  # pixels in [-1, 1] (paper) or [0, 1] (the seed's Keras code)
REAL_ACTIVATIONS = ("hardtanh", "relu", "identity")
LAYER_KINDS = ("dense", "conv")
LATENT_INITS = ("glorot", "uniform1")
PRECISIONS = ("fp32", "bf16")  # the backward products of the binarized layers (bnn.training.fast_step)

MAX_UNITS = 8192  # widest layer the app accepts; wider is refused before training starts
MAX_LAYERS = 12
MAX_SHIFT = 4  # largest random shift of a training image, in pixels
MAX_SEED = 2**32 - 1  # numpy's limit, so one seed can seed every generator
MAX_PARAMETERS = 200_000_000  # more does not fit this machine's memory with Adam's state


class ConfigError(ValueError):
    """A setting is out of range; the message says which one and what is allowed."""


def _when_sgd(config: RunConfig) -> bool:
    return config.train.optimizer == "sgd"


def _when_bop(config: RunConfig) -> bool:
    return config.train.optimizer == "bop"


def _when_scheduled(config: RunConfig) -> bool:
    return config.train.schedule != "constant"


def _when_some_activation_is_real(config: RunConfig) -> bool:
    return any(not layer.binarize_activations for layer in config.model.layers[:-1])


def _when_batch_norm(config: RunConfig) -> bool:
    return any(layer.batch_norm for layer in config.model.layers)


@dataclass(frozen=True)
class InputConfig:
    # "pm1": x*2-1 in [-1, 1] as in the paper; "01": raw [0, 1]
    scale: str = field(
        default="pm1",
        metadata=setting(
            "in",
            "Pixel range",
            choices=INPUT_SCALES,
            choice_labels={"pm1": "pixels in [-1, 1]", "01": "pixels in [0, 1]"},
            help="Scale of the input pixels: [-1, 1] as in the paper, or raw [0, 1] as in the seed's Keras code",
        ),
    )
    # sign() of the scaled pixels (first layer then sees ±1 only)
    binarize: bool = field(
        default=False,
        metadata=setting(
            "inb", "Binarize the input pixels", help="sign() of the scaled pixels: the first layer sees ±1 only"
        ),
    )
    # dropout on the pixels (paper: 0.2)
    dropout: float = field(
        default=0.0,
        metadata=setting(
            "indo",
            "Input dropout",
            low=0.0,
            high=1.0,
            high_open=True,
            step=0.05,
            help="Share of pixels zeroed at random while training (the paper's MLP: 0.2)",
        ),
    )


@dataclass(frozen=True)
class LayerConfig:
    # dense: output width; conv: output channels; output layer: number of classes
    units: int = field(
        metadata=setting("units", "width", low=1, high=MAX_UNITS, step=1, help="units (dense) or channels (conv)")
    )
    # "dense" or "conv" (3x3 or kernel_size, padding to keep size)
    kind: str = field(default="dense", metadata=setting("kind", "kind", choices=LAYER_KINDS))
    kernel_size: int = field(default=3, metadata=setting("k", "kernel size", low=1, high=27))  # conv only, odd
    pool: bool = field(default=False, metadata=setting("p", "2x2 max-pool"))  # conv only, before BatchNorm
    # forward uses sign(W) of the latent real weights W
    binarize_weights: bool = field(
        default=True,
        metadata=setting(
            "w",
            "binarize weights",
            help="The forward pass uses sign(W) of the real-valued latent weights W (paper eq. 1)",
        ),
    )
    # this layer's output goes through sign (STE backward)
    binarize_activations: bool = field(
        default=True,
        metadata=setting(
            "a",
            "binarize activations",
            help="This layer's output goes through sign(); the backward pass uses the straight-through estimator",
        ),
    )
    # BatchNorm between the linear map and the activation
    batch_norm: bool = field(
        default=True,
        metadata=setting(
            "b", "BatchNorm", help="Batch normalization between the linear map and the activation (paper section 1.3)"
        ),
    )
    # dropout on this layer's output (the next layer's input)
    dropout: float = field(
        default=0.0,
        metadata=setting(
            "drop",
            "dropout",
            low=0.0,
            high=1.0,
            high_open=True,
            step=0.05,
            help="Share of this layer's outputs zeroed at random while training",
        ),
    )


@dataclass(frozen=True)
class ModelConfig:
    input: InputConfig = field(default_factory=InputConfig)
    # hidden layers then the output layer; default is the `fast` preset's shape
    layers: tuple[LayerConfig, ...] = (
        LayerConfig(1024),
        LayerConfig(1024),
        LayerConfig(10, binarize_activations=False),
    )
    # stochastic binarization of activations while training
    stochastic: bool = field(
        default=False,
        metadata=setting(
            "stoch",
            "Stochastic binarization",
            help="While training, +1 with probability hard_sigmoid(x) instead of sign(x) (paper eq. 2)",
        ),
    )
    # STE backward grad*1{|x|<=1}; False: identity STE (no cancellation)
    ste_cancel: bool = field(
        default=True,
        metadata=setting(
            "ste",
            "STE gradient cancellation",
            help="Backward of sign passes the gradient only where |x| <= 1 (paper eq. 4); off: identity STE",
        ),
    )
    # hidden layers whose activations are not binarized
    real_activation: str = field(
        default="hardtanh",
        metadata=setting(
            "act",
            "Real-valued hidden activation",
            choices=REAL_ACTIVATIONS,
            applies=_when_some_activation_is_real,
            help="Activation of hidden layers whose activations are not binarized",
        ),
    )
    # bias on every linear map (BatchNorm makes it redundant but harmless)
    bias: bool = field(default=True, metadata=setting("bias", "Bias", help="A bias on every linear map"))
    bn_eps: float = field(
        default=1e-4,
        metadata=setting(  # paper: epsilon 1e-4
            "bneps",
            "BatchNorm epsilon",
            low=0.0,
            high=1.0,
            low_open=True,
            log=True,
            applies=_when_batch_norm,
            help="Added to the batch variance before its square root (paper: 1e-4)",
        ),
    )
    bn_momentum: float = field(
        default=0.1,
        metadata=setting(  # paper: alpha 0.1 (PyTorch's momentum)
            "bnmom",
            "BatchNorm momentum",
            low=0.0,
            high=1.0,
            applies=_when_batch_norm,
            help="Weight of the newest batch in BatchNorm's running statistics (paper: 0.1)",
        ),
    )
    # "glorot" uniform, or "uniform1": U(-1, 1) as the Theano code
    latent_init: str = field(
        default="glorot",
        metadata=setting(
            "init",
            "Latent weight init",
            choices=LATENT_INITS,
            help="Glorot uniform, or U(-1, 1) as the paper's Theano code",
        ),
    )
    image_shape: tuple[int, int, int] = (1, 28, 28)  # channels, height, width of the input

    @property
    def is_cnn(self) -> bool:
        return any(layer.kind == "conv" for layer in self.layers)

    @property
    def num_classes(self) -> int:
        return self.layers[-1].units


@dataclass(frozen=True)
class TrainConfig:
    # sgd (with momentum), adam, adamax, bop
    optimizer: str = field(
        default="adam",
        metadata=setting(
            "opt",
            "Optimizer",
            choices=OPTIMIZERS,
            help="Updates the latent weights; Bop flips binary weights directly (Helwegen et al. 2019)",
        ),
    )
    lr: float = field(
        default=1e-2,
        metadata=setting(  # initial learning rate
            "lr",
            "Learning rate",
            low=0.0,
            high=10.0,
            low_open=True,
            log=True,
            help="Step size of the optimizer at the start of training",
        ),
    )
    lr_end: float = field(
        default=1e-4,
        metadata=setting(  # final lr of "exponential" and "cosine"
            "lrend",
            "Final learning rate",
            low=0.0,
            high=10.0,
            low_open=True,
            log=True,
            applies=_when_scheduled,
            help="The schedule decays the learning rate to this value by the last step",
        ),
    )
    # constant, exponential (lr -> lr_end), cosine (lr -> lr_end)
    schedule: str = field(
        default="exponential",
        metadata=setting(
            "sched",
            "Schedule",
            choices=SCHEDULES,
            help="How the learning rate moves from its start to its final value (the paper decays it exponentially)",
        ),
    )
    momentum: float = field(
        default=0.9,
        metadata=setting(  # SGD only
            "mom",
            "Momentum",
            low=0.0,
            high=1.0,
            high_open=True,
            step=0.05,
            applies=_when_sgd,
            help="Share of the last update SGD adds to each step (heavy-ball momentum; 0: plain SGD)",
        ),
    )
    # cross_entropy, squared_hinge (±1 targets), keras_ce (seed)
    loss: str = field(
        default="cross_entropy",
        metadata=setting(
            "loss",
            "Loss",
            choices=LOSSES,
            help=(
                "What training minimizes: softmax cross-entropy; squared_hinge, the paper's loss; "
                "keras_ce, Keras' cross-entropy on the raw outputs, as in the seed"
            ),
        ),
    )
    batch_size: int = field(
        default=100, metadata=setting("bs", "Batch size", low=1, high=60_000, step=50, help="Images per optimizer step")
    )
    epochs: int = field(
        default=3, metadata=setting("ep", "Epochs", low=1, high=1000, step=1, help="Passes over the training images")
    )
    seed: int = field(
        default=0,
        metadata=setting(  # torch and data-order seed; same seed, same run on CPU
            "seed",
            "Seed",
            low=0,
            high=MAX_SEED,
            step=1,
            help="Seeds the initial weights and the data order: the same seed gives the same run on a CPU",
        ),
    )
    # clip latent weights to [-1, 1] after every optimizer step
    clip_latent: bool = field(
        default=True,
        metadata=setting(
            "clip",
            "Clip latent weights to [-1, 1]",
            help="After every optimizer step (paper Algorithm 1): keeps the latent weights where their sign can flip",
        ),
    )
    # paper: per-layer lr times 1/sqrt(1.5/(fan_in+fan_out))
    glorot_lr_scale: bool = field(
        default=False,
        metadata=setting(
            "glr",
            "Glorot learning-rate scaling",
            help="Per-layer learning rate times Glorot's 1/sqrt(1.5/(fan_in+fan_out)), as the paper's Theano code",
        ),
    )
    # Bop: flip when |m| > threshold and sign(m) == sign(w)
    bop_threshold: float = field(
        default=1e-6,
        metadata=setting(
            "bopt",
            "Bop threshold",
            log=True,
            low=0.0,
            high=1.0,
            applies=_when_bop,
            help="Bop flips a weight when its gradient average exceeds this",
        ),
    )
    # Bop: adaptivity rate of the gradient's moving average m
    bop_gamma: float = field(
        default=1e-3,
        metadata=setting(
            "bopg",
            "Bop gamma",
            log=True,
            low=0.0,
            high=1.0,
            low_open=True,
            applies=_when_bop,
            help="Adaptivity rate of Bop's gradient moving average",
        ),
    )
    # after the last step, BatchNorm's running statistics recomputed over the training images
    bn_recalibrate: bool = field(
        default=False,
        metadata=setting(
            "bnre",
            "BatchNorm recalibration",
            applies=_when_batch_norm,
            help=(
                "After the last step, BatchNorm's running mean and variance are recomputed over the unshifted "
                "training images with the final weights: the running averages lag behind weights that flip, "
                "and shifted images have other statistics than the test images"
            ),
        ),
    )
    # shift each training image by up to N pixels, a fresh random shift per image and step (0: off)
    shift: int = field(
        default=0,
        metadata=setting(
            "shift",
            "Random shifts (pixels)",
            low=0,
            high=MAX_SHIFT,
            step=1,
            help="Data augmentation: each training image moves by up to this many pixels in x and y at every step",
        ),
    )
    # use only the first N training images (0: all 60,000)
    train_subset: int = field(
        default=0,
        metadata=setting(
            "sub",
            "Training images (0 = all 60,000)",
            low=0,
            high=60_000,
            step=1000,
            help="Train on the first N images only, for quick experiments",
        ),
    )
    # the binarized layers' backward matrix products: "fp32" exact float32; "bf16" bfloat16 operands
    # with float32 sums (2-3x faster on CPUs with AVX-512 BF16); the forward products are exact in both
    precision: str = field(
        default="bf16",
        metadata=setting(
            "prec",
            "Gradient precision",
            choices=PRECISIONS,
            choice_labels={"fp32": "float32 (exact)", "bf16": "bfloat16 backward products"},
            help=(
                "Arithmetic of the binarized layers' backward matrix products: float32, or the gradient rounded "
                "to bfloat16 with float32 sums (faster on CPUs with bfloat16 instructions). The forward products "
                "of ±1 values and of 8-bit pixels are exact either way"
            ),
        ),
    )


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
