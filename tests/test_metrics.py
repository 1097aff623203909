"""bnn.training.metrics: the latest evaluation of a split."""

from __future__ import annotations

from bnn.training.metrics import last_eval


def test_last_eval_is_the_latest_of_its_split():
    evals = [
        {"step": 10, "epoch": 1.0, "split": "test", "accuracy": 90.0},
        {"step": 10, "epoch": 1.0, "split": "train", "accuracy": 91.0},
        {"step": 20, "epoch": 2.0, "split": "test", "accuracy": 95.0},
    ]
    assert last_eval(evals, "test")["accuracy"] == 95.0
    assert last_eval(evals, "train")["accuracy"] == 91.0
    assert last_eval(evals[:1], "train") is None and last_eval([], "test") is None
