"""bnn.config.descriptions: a run's settings in one line and as label -> value, as people read them."""

from __future__ import annotations

from bnn.config.descriptions import describe, settings_in_words
from bnn.config.presets import PRESETS


def test_describe_in_one_line():
    assert describe(PRESETS["fast"]) == (
        "784-1024-1024-10 MLP · binary weights 3/3, binary activations 2/3, "
        "BatchNorm 3/3 · adam lr 1e-02 -> 1e-05 (cosine) · batch 200 · 3 epochs "
        "· seed 0"
    )
    seed = describe(PRESETS["seed"])
    assert "binary weights 0/4, binary activations 4/4, BatchNorm 0/4" in seed and "sgd lr 1e-06 ·" in seed
    best = describe(PRESETS["best"].replace_train(train_subset=5000, epochs=1))
    assert best.startswith("784-c32-c64-512-10 CNN") and "1 epoch of 5,000 images" in best


def test_settings_in_words_has_only_the_settings_that_apply():
    adam = PRESETS["fast"]
    words = settings_in_words(adam)
    assert words["Layers"].startswith("784-1024-1024-10 MLP")
    assert words["Optimizer"] == "adam" and words["Learning rate"] == "0.01"
    assert words["Clip latent weights to [-1, 1]"] == "on"
    assert words["Pixel range"] == "pixels in [-1, 1]"  # the choice's label, not its value
    assert "Momentum" not in words  # SGD only
    assert settings_in_words(adam.replace_train(optimizer="sgd", momentum=0.5))["Momentum"] == "0.5"
