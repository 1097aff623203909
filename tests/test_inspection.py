"""bnn.analysis.inspection: confusion matrix, predictions, activation / weight statistics, votes."""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import bnn  # noqa: F401
except ImportError:  # pytest run without the repo root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytest
import torch

from bnn.analysis.inspection import (
    activation_stats,
    confusion_matrix,
    evaluate_predictions,
    misclassified,
    unit_class_profiles,
    unit_order,
    weight_stats,
)
from bnn.config.model_settings import LayerConfig, ModelConfig
from bnn.network.models import build_model

MLP = ModelConfig(layers=(LayerConfig(32), LayerConfig(24), LayerConfig(10, binarize_activations=False)))
CNN = ModelConfig(
    layers=(
        LayerConfig(4, kind="conv", pool=True),
        LayerConfig(6, kind="conv", pool=True),
        LayerConfig(10, binarize_activations=False),
    )
)


def _model(config: ModelConfig, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(config)
    # a few training-mode passes so the BatchNorm running stats are not the defaults
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(64, 1, 28, 28))
    return model


def _images(n: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_confusion_matrix():
    preds = torch.tensor([0, 1, 1, 2, 2, 2])
    labels = torch.tensor([0, 1, 2, 2, 2, 0])
    m = confusion_matrix(preds, labels, num_classes=3)
    assert m.dtype == torch.int64
    assert m.tolist() == [[1, 0, 1], [0, 1, 0], [0, 1, 2]]  # row true, column predicted
    assert confusion_matrix(preds, labels).shape == (10, 10)
    assert int(confusion_matrix(preds, labels).sum()) == 6
    with pytest.raises(ValueError):
        confusion_matrix(preds, labels[:3])


def test_evaluate_predictions_matches_predict_and_restores_mode():
    model = _model(MLP)
    model.train()
    images, labels = _images(250)
    preds, scores = evaluate_predictions(model, images, labels, batch_size=64)
    assert model.training  # mode restored
    assert preds.shape == (250,) and preds.dtype == torch.int64
    assert scores.shape == (250, 10)
    assert torch.equal(preds, model.predict(images))
    model.eval()
    with torch.no_grad():
        assert torch.allclose(scores, model(images), atol=1e-5)
    assert not scores.requires_grad


def test_misclassified():
    preds = torch.tensor([1, 2, 3, 4, 5])
    labels = torch.tensor([1, 0, 3, 0, 0])
    assert misclassified(preds, labels).tolist() == [1, 3, 4]
    assert misclassified(preds, labels, limit=2).tolist() == [1, 3]
    assert misclassified(preds, labels, limit=0).tolist() == []


@pytest.mark.parametrize("config", [MLP, CNN])
def test_activation_stats_match_a_full_trace(config):
    model = _model(config)
    images, _ = _images(90)
    stats = activation_stats(model, images, batch_size=32, sample_size=500)
    model.eval()
    traces = model.trace(images)
    assert [s["name"] for s in stats] == [t.name for t in traces]
    for s, t in zip(stats, traces):
        assert s["binarized"] == t.binarized
        assert s["n_values"] == t.pre.numel()
        assert s["saturated_share"] == pytest.approx(float((t.pre.abs() > 1).float().mean()))
        assert s["pre_sample"].numel() == min(500, t.pre.numel())
        assert s["pre_sample"].dim() == 1
        if t.binarized:
            assert s["share_plus_one"] == pytest.approx(float((t.post == 1).float().mean()))
            units = t.post.shape[1]
            assert s["unit_share_plus_one"].shape == (units,)
            assert float(s["unit_share_plus_one"].mean()) == pytest.approx(s["share_plus_one"], abs=1e-6)
        else:
            assert s["share_plus_one"] is None and s["unit_share_plus_one"] is None
    # the sample is made of actual pre-activation values
    first = set(traces[0].pre.reshape(-1).tolist())
    assert set(stats[0]["pre_sample"].tolist()) <= first


def test_weight_stats_with_known_weights():
    model = build_model(ModelConfig(layers=(LayerConfig(2), LayerConfig(10, binarize_weights=False))))
    with torch.no_grad():
        w = model.blocks[0].linear.weight  # (2, 784): 1568 values
        w.zero_()  # sign(0) = +1, near flipping
        w[0, :392] = 1.0  # clipped
        w[0, 392:784] = -0.5
        w[1, :392] = -0.9995  # clipped too (>= 0.999)
    stats = weight_stats(model, sample_size=100)
    assert [s["name"] for s in stats] == ["dense1", "output"]
    s = stats[0]
    assert s["binarized"] and not stats[1]["binarized"]
    assert s["n"] == 1568
    assert s["clipped_share"] == pytest.approx(784 / 1568)
    assert s["near_flip_share"] == pytest.approx(392 / 1568)
    # +1: the 392 ones and the 392 zeros
    assert s["share_plus_one"] == pytest.approx(784 / 1568)
    assert s["latent_sample"].numel() == 100
    assert stats[1]["latent_sample"].numel() == 20  # all of them when fewer than sample_size


def test_weight_stats_share_plus_one_matches_binary_weights():
    model = _model(MLP)
    for s in weight_stats(model):
        binary = model.binary_weights()[s["name"]]
        assert s["share_plus_one"] == pytest.approx(float((binary == 1).float().mean()))


def test_unit_class_profiles_average_each_units_output_per_class():
    torch.manual_seed(0)
    model = build_model(MLP).eval()
    images, labels = torch.rand(40, 1, 28, 28), torch.arange(40) % 10
    profiles = unit_class_profiles(model, images, labels, batch_size=16)
    assert [tuple(p.shape) for p in profiles] == [(32, 10), (24, 10)]  # every hidden layer, not the output
    first = model.trace(images)[0].post  # ±1
    assert torch.allclose(profiles[0][:, 3], first[labels == 3].mean(0), atol=1e-6)


def test_unit_order_groups_units_by_the_class_they_favour():
    profile = torch.tensor(
        [
            [0.0, 0.0, 0.0],  # favours nothing
            [-1.0, 1.0, -1.0],  # favours 1, strongly
            [1.0, -1.0, -1.0],  # favours 0
            [-0.5, 0.2, -0.5],  # favours 1, less
        ]
    )
    order, favoured = unit_order(profile)
    assert favoured.tolist() == [-1, 1, 0, 1]
    assert order.tolist() == [2, 1, 3, 0]  # class 0, then class 1 most selective first, then none
