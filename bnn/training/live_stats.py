"""The live statistics in a training run's records (:class:`bnn.training.metrics.StepRecord`): the share
of each layer's binary weights whose sign flipped since the last record, each layer's STE saturation
(the share of pre-activations outside [-1, 1], captured by forward hooks on the steps that record),
and the gradient norm."""

from __future__ import annotations

import torch

from ..network.models import BinaryNet


class LiveStats:
    """The live statistics of ``model`` as it trains (``enabled=False``: no flip rates are kept)."""

    def __init__(self, model: BinaryNet, enabled: bool = True) -> None:
        self.model = model
        self.enabled = enabled
        self.capture = False  # set for the forward passes whose saturation a record reports
        self.saturation: dict[str, float] = {}  # layer -> share of |pre-activation| > 1, last captured
        self._last_signs = self._signs() if enabled else {}
        for block in model.blocks:
            block.activation.register_forward_hook(self._saturation_hook(block.name))

    def _saturation_hook(self, name: str):
        def hook(_module, inputs, _output):
            if self.capture:
                self.saturation[name] = float((inputs[0].detach().abs() > 1).float().mean())

        return hook

    def _signs(self) -> dict[str, torch.Tensor]:
        return {b.name: b.linear.weight.detach() >= 0 for b in self.model.blocks if b.linear.binarize_weights}

    def reset_signs(self) -> None:
        """Count flips from the weights as they are now (after an edit, or a restored checkpoint)."""
        self._last_signs = self._signs() if self.enabled else {}

    def flip_rates(self) -> dict[str, float]:
        """Layer -> share of its binary weights whose sign changed since the last call."""
        signs = self._signs()
        rates = {name: float((signs[name] != self._last_signs[name]).float().mean()) for name in signs}
        self._last_signs = signs
        return rates

    def grad_norm(self) -> float:
        """The L2 norm of all the model's gradients (0 before any)."""
        norms = [torch.linalg.vector_norm(p.grad.detach()) for p in self.model.parameters() if p.grad is not None]
        return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0
