"""benchmarks/: every script still imports (they reuse the tests' browser helpers and the app's
modules, which move; a benchmark that no longer starts is found here, not when it is needed)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

SCRIPTS = sorted(
    p.stem for p in (Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py") if p.stem != "__init__"
)


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_benchmark_imports(name):
    module = importlib.import_module(f"benchmarks.{name}")
    assert callable(getattr(module, "main", None)), f"benchmarks/{name}.py has no main()"


def test_the_floor_steps_do_the_weights_work_only_when_asked():
    from benchmarks.floor import ProductsStep

    products, with_weights = ProductsStep(weights=False), ProductsStep(weights=True)
    before = [w.detach().clone() for w in products.latent + with_weights.latent]
    products()
    with_weights()
    assert all(torch.equal(w, b) for w, b in zip(products.latent, before[:3]))  # products only
    moved = [not torch.equal(w, b) for w, b in zip(with_weights.latent, before[3:])]
    assert all(moved)  # a fused Adam step (lr 1e-3) on weights clipped to [-1, 1] first
    assert all(float(w.detach().abs().max()) <= 1 + 2e-3 for w in with_weights.latent)
