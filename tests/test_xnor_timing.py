"""Measuring the packed engine against the float model (bnn.xnor.timing)."""

from __future__ import annotations

import numpy as np
import pytest
from test_xnor import grid_images, randomize

from bnn.analysis.drawing import deployment_copy
from bnn.config.model_settings import LayerConfig, ModelConfig
from bnn.network.models import build_model
from bnn.xnor import export_packed
from bnn.xnor.timing import float_predict, time_test_set, xnor_words_per_second


def small_model():
    model = build_model(
        ModelConfig(layers=(LayerConfig(96), LayerConfig(70), LayerConfig(10, binarize_activations=False)))
    )
    randomize(model, seed=31)
    return model


def test_time_test_set_returns_both_predictions_and_the_ratio():
    model = small_model()
    images = grid_images(1200, seed=32)
    timed = time_test_set(deployment_copy(model), export_packed(model), images, repeats=2)
    assert timed["n"] == 1200 and timed["float_s"] > 0 and timed["packed_s"] > 0
    assert timed["ratio"] == pytest.approx(timed["float_s"] / timed["packed_s"])
    np.testing.assert_array_equal(timed["float_pred"], float_predict(model, images))
    np.testing.assert_array_equal(timed["packed_pred"], timed["float_pred"])


def test_words_per_second_of_a_binarized_xnor_layer():
    packed = export_packed(small_model())
    assert xnor_words_per_second(packed.layers[1], images=8, threads=1, repeats=2) > 0
    with pytest.raises(ValueError, match="not a binarized XNOR layer"):
        xnor_words_per_second(packed.layers[0], images=8, threads=1)
