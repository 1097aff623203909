"""The training settings (part of :class:`bnn.config.schema.RunConfig`): :class:`TrainConfig`, the
optimizer, schedule, loss, epochs, seed and the rest, every field with its
:class:`~bnn.config.spec.Setting`. Plain Python."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model_settings import uses_batch_norm
from .spec import setting

OPTIMIZERS = ("sgd", "adam", "adamax", "bop")
SCHEDULES = ("constant", "exponential", "cosine")
LOSSES = ("cross_entropy", "squared_hinge", "keras_ce")
PRECISIONS = ("fp32", "bf16")  # the backward products of the binarized layers (bnn.training.fast_step)
MAX_SHIFT = 4  # largest random shift of a training image, in pixels
MAX_SEED = 2**32 - 1  # numpy's limit, so one seed can seed every generator


def _when_sgd(config: Any) -> bool:  # config: a RunConfig
    return config.train.optimizer == "sgd"


def _when_bop(config: Any) -> bool:  # config: a RunConfig
    return config.train.optimizer == "bop"


def _when_scheduled(config: Any) -> bool:  # config: a RunConfig
    return config.train.schedule != "constant"


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
            applies=uses_batch_norm,
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
