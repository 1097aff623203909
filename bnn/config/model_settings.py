"""The network's settings (part of :class:`bnn.config.schema.RunConfig`): the input "layer"
(:class:`InputConfig`: how pixels are scaled, binarized, dropped), each layer (:class:`LayerConfig`:
dense or conv, its width and its switches) and the model (:class:`ModelConfig`), every scalar field
with its :class:`~bnn.config.spec.Setting`. Plain Python; the checks between fields are
:func:`bnn.config.schema.validate`'s."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .spec import setting

INPUT_SCALES = ("pm1", "01")  # pixels in [-1, 1] (paper) or [0, 1] (the seed's Keras code)
REAL_ACTIVATIONS = ("hardtanh", "relu", "identity")
LAYER_KINDS = ("dense", "conv")
LATENT_INITS = ("glorot", "uniform1")
MAX_UNITS = 8192  # widest layer the app accepts; wider is refused before training starts


def _when_some_activation_is_real(config: Any) -> bool:  # config: a RunConfig
    return any(not layer.binarize_activations for layer in config.model.layers[:-1])


def uses_batch_norm(config: Any) -> bool:  # config: a RunConfig
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
            applies=uses_batch_norm,
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
            applies=uses_batch_norm,
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
