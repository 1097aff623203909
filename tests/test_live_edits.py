"""bnn.training.live_edits: the live-edit rules in plain Python, an edit applied and in words."""

from __future__ import annotations

from conftest import fresh_python

from bnn.config.presets import PRESETS
from bnn.training.live_edits import LIVE_LAYER_SETTINGS, describe_edit, edited_config


def test_live_edits_import_without_torch():
    code = "import sys, bnn.training.live_edits; print('torch' in sys.modules)"
    assert fresh_python(code) == "False", "importing bnn.training.live_edits imported torch"


def test_a_lower_learning_rate_lowers_the_schedules_end_too():
    config = PRESETS["fast"]
    edited = edited_config(config, "lr", None, config.train.lr_end / 2)
    assert edited.train.lr == edited.train.lr_end == config.train.lr_end / 2


def test_a_layer_edit_changes_that_layer_only():
    config = PRESETS["fast"]
    edited = edited_config(config, LIVE_LAYER_SETTINGS[1], 0, False)
    assert not edited.model.layers[0].binarize_activations
    assert edited.model.layers[1:] == config.model.layers[1:]


def test_edits_in_words():
    assert describe_edit({"setting": "lr", "old": 1e-2, "new": 5e-3}) == "lr 1e-02 → 5e-03"
    edit = {"setting": "binarize_activations", "old": True, "new": False, "layer": "dense2"}
    assert describe_edit(edit) == "dense2 activations binary → real"
