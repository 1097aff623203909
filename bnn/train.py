"""The training loop of a binarized network, one optimizer step at a time.

Algorithm 1 of Courbariaux et al. (2016, arXiv:1602.02830): forward with binary weights (and
binary activations where enabled), backward through the straight-through estimator, update the
real-valued latent weights, then clip them to [-1, 1] (:func:`bnn.layers.clip_latent_weights`).

:class:`Trainer` owns one run: model, optimizer, schedule, data order, and the metrics it
streams. Its :meth:`Trainer.steps` generator yields after every optimizer step so a caller (the
CLI, or :class:`bnn.jobs.TrainingJob` in a background thread) can pause or stop between steps.

Metric records (one dict per ``record_every`` steps)::

    step, epoch (fractional), time (s since start), loss, batch_accuracy (%), lr, samples_per_s,
    grad_norm, flip_rate {layer: share of binary weights whose sign changed since the last
    record}, saturation {layer: share of pre-activations with |x| > 1, outside the STE window},
    nonfinite (bool: the loss or a weight is NaN/inf)

Evaluation records (every epoch, on demand, and at the end)::

    step, epoch, split ("test"/"train"), accuracy (%), loss, prediction_histogram [10 counts]
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from .config import ConfigError, RunConfig, validate
from .data import MnistData, iterate_batches, steps_per_epoch
from .layers import clip_latent_weights
from .losses import loss_function
from .models import BinaryNet, build_model
from .optim import make_optimizer, scheduled_lr, set_lr


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


PARALLEL_MACS_PER_STEP = 100_000_000  # forward multiply-adds of one batch worth a thread per core


def cpu_threads_for(config: RunConfig, cores: int | None = None) -> int:
    """Torch intra-op threads for training ``config`` on the CPU: one per core when a batch's
    forward pass is at least :data:`PARALLEL_MACS_PER_STEP` multiply-adds, else one.

    Every op splits its work across the threads and ends at an OpenMP barrier, so a thread that
    loses its core for a moment holds up the others. Big steps are worth it (2 cores vs 1,
    headless: `fast`, 372M MACs a batch, 1.35x; the `best` CNN 1.6x); small ones gain nothing
    measurable (`seed-fixed`, 24M) and stall whenever another process wakes up, e.g. the browser
    drawing the Train page: there `seed-fixed` ran at 0.48 of its headless speed on 2 threads and
    0.75 on 1 (benchmarks/ui_overhead.py). ``cores`` defaults to ``$OMP_NUM_THREADS`` or the
    cores this process may use.
    """
    from .summary import model_summary

    if model_summary(config.model).total_macs * config.train.batch_size < PARALLEL_MACS_PER_STEP:
        return 1
    if cores is None:
        cores = int(os.environ.get("OMP_NUM_THREADS") or len(os.sched_getaffinity(0)))
    return max(1, cores)


def use_cpu_threads_for(config: RunConfig, device: torch.device | str) -> None:
    """Set this thread's torch threads for training ``config`` (:func:`cpu_threads_for`); no-op on a GPU."""
    if torch.device(device).type == "cpu":
        torch.set_num_threads(cpu_threads_for(config))


@dataclass
class EvalResult:
    split: str
    accuracy: float  # percent
    loss: float  # NaN when the model outputs NaN
    prediction_histogram: list[int]
    count: int

    def record(self, step: int, epoch: float) -> dict:
        return {"step": step, "epoch": epoch, **self.__dict__}


@torch.no_grad()
def evaluate(
    model: BinaryNet,
    images: torch.Tensor,
    labels: torch.Tensor,
    loss_name: str,
    batch_size: int = 1000,
    split: str = "test",
) -> EvalResult:
    """Accuracy, mean loss and predicted-class histogram of ``model`` in eval mode."""
    was_training = model.training
    model.eval()
    num_classes = model.config.num_classes
    loss_fn = loss_function(loss_name)
    correct, loss_sum = 0, 0.0
    histogram = torch.zeros(num_classes, dtype=torch.int64, device=labels.device)
    try:
        for start in range(0, len(labels), batch_size):
            x, y = images[start : start + batch_size], labels[start : start + batch_size]
            scores = model(x)
            predictions = scores.argmax(dim=1)
            correct += int((predictions == y).sum())
            loss_sum += float(loss_fn(scores, y)) * len(y)
            histogram += torch.bincount(predictions, minlength=num_classes)
    finally:
        model.train(was_training)
    count = len(labels)
    return EvalResult(split, 100.0 * correct / max(count, 1), loss_sum / max(count, 1), histogram.tolist(), count)


@dataclass
class _Interval:
    """Running sums between two metric records."""

    loss: float = 0.0
    correct: int = 0
    samples: int = 0
    steps: int = 0
    started: float = field(default_factory=time.perf_counter)


class Trainer:
    """One training run: ``for _ in trainer.steps(): ...`` trains it to the end."""

    def __init__(
        self, config: RunConfig, data: MnistData, device: torch.device | str | None = None, record_every: int = 20
    ) -> None:
        problems = validate(config)
        if problems:
            raise ConfigError("; ".join(problems))
        self.config = config
        self.device = torch.device(device) if device is not None else default_device()
        subset = config.train.train_subset
        self.data = (data.subset(train=subset) if subset else data).to(self.device)
        torch.manual_seed(config.train.seed)
        self.generator = torch.Generator().manual_seed(config.train.seed)
        self.model = build_model(config.model, self.device)
        self.optimizer = make_optimizer(self.model, config.train)
        self.loss_fn = loss_function(config.train.loss)
        self.record_every = max(1, record_every)
        self.steps_per_epoch = steps_per_epoch(len(self.data.train_labels), config.train.batch_size)
        self.total_steps = self.steps_per_epoch * config.train.epochs
        self.step = 0
        self.epoch = 0  # completed epochs
        self.records: list[dict] = []
        self.evals: list[dict] = []
        self.first_nonfinite_step: int | None = None
        self.started = time.perf_counter()
        self.started_at = time.time()  # wall clock, for matching records with outside events
        self.train_seconds = 0.0  # time spent in training steps, evaluations excluded
        self._interval = _Interval()
        self._capture_saturation = False
        self._saturation: dict[str, float] = {}
        self._last_signs = self._signs()
        for block in self.model.blocks:
            block.activation.register_forward_hook(self._saturation_hook(block.name))

    # --- introspection used by the metric records ----------------------------------------
    def _saturation_hook(self, name: str):
        def hook(_module, inputs, _output):
            if self._capture_saturation:
                self._saturation[name] = float((inputs[0].detach().abs() > 1).float().mean())

        return hook

    def _signs(self) -> dict[str, torch.Tensor]:
        return {b.name: b.linear.weight.detach() >= 0 for b in self.model.blocks if b.linear.binarize_weights}

    def _flip_rates(self) -> dict[str, float]:
        signs = self._signs()
        rates = {name: float((signs[name] != self._last_signs[name]).float().mean()) for name in signs}
        self._last_signs = signs
        return rates

    def _grad_norm(self) -> float:
        total = 0.0
        for param in self.model.parameters():
            if param.grad is not None:
                total += float(param.grad.detach().square().sum())
        return math.sqrt(total)

    def weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.model.parameters())

    @property
    def epoch_progress(self) -> float:
        return self.step / self.steps_per_epoch

    @property
    def finished(self) -> bool:
        return self.step >= self.total_steps

    # --- training ------------------------------------------------------------------------
    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        record_now = (self.step + 1) % self.record_every == 0 or self.step + 1 == self.total_steps
        lr = scheduled_lr(self.config.train, self.step, self.total_steps)
        set_lr(self.optimizer, lr)
        self.model.train()
        self._capture_saturation = record_now
        scores = self.model(images)
        self._capture_saturation = False
        loss = self.loss_fn(scores, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = self._grad_norm() if record_now else None
        self.optimizer.step()
        if self.config.train.clip_latent:
            clip_latent_weights(self.model)
        self.step += 1

        loss_value = float(loss.detach())
        if not math.isfinite(loss_value) and self.first_nonfinite_step is None:
            self.first_nonfinite_step = self.step
        interval = self._interval
        interval.loss += loss_value
        interval.correct += int((scores.detach().argmax(dim=1) == labels).sum())
        interval.samples += len(labels)
        interval.steps += 1
        if record_now:
            self._record(lr, grad_norm)

    def _record(self, lr: float, grad_norm: float | None) -> None:
        interval = self._interval
        elapsed = max(time.perf_counter() - interval.started, 1e-9)
        weights_finite = self.weights_finite()
        if not weights_finite and self.first_nonfinite_step is None:
            self.first_nonfinite_step = self.step
        loss = interval.loss / interval.steps
        self.records.append(
            {
                "step": self.step,
                "epoch": self.epoch_progress,
                "time": time.perf_counter() - self.started,
                "loss": loss if math.isfinite(loss) else float("nan"),
                "batch_accuracy": 100.0 * interval.correct / interval.samples,
                "lr": lr,
                "samples_per_s": interval.samples / elapsed,
                "grad_norm": grad_norm if grad_norm is not None and math.isfinite(grad_norm) else float("nan"),
                "flip_rate": self._flip_rates(),
                "saturation": dict(self._saturation),
                "nonfinite": not (math.isfinite(loss) and weights_finite),
            }
        )
        self._interval = _Interval()

    def evaluate(self, split: str = "test") -> dict:
        """Evaluate on the test or the full training set and append the record."""
        if split == "train":
            images, labels = self.data.train_images, self.data.train_labels
        else:
            images, labels = self.data.test_images, self.data.test_labels
        result = evaluate(self.model, images, labels, self.config.train.loss, split=split)
        record = result.record(self.step, self.epoch_progress)
        self.evals.append(record)
        return record

    def steps(self) -> Iterator[int]:
        """Train to the end, yielding the step number after every optimizer step.

        A test evaluation follows every epoch, and a training-set evaluation the last one.
        Stopping early (leaving the loop) keeps everything trained so far.
        """
        while not self.finished:
            epoch_start = time.perf_counter()
            for indices in iterate_batches(len(self.data.train_labels), self.config.train.batch_size, self.generator):
                indices = indices.to(self.device)
                self.train_step(self.data.train_images[indices], self.data.train_labels[indices])
                yield self.step
            self.train_seconds += time.perf_counter() - epoch_start
            self.epoch += 1
            self.evaluate("test")
        if not any(e["split"] == "train" and e["step"] == self.step for e in self.evals):
            self.evaluate("train")

    def last_eval(self, split: str = "test") -> dict | None:
        return next((e for e in reversed(self.evals) if e["split"] == split), None)

    def summary(self) -> dict:
        """Final numbers of the run (percentages; None where not measured or not finite)."""
        test, train = self.last_eval("test"), self.last_eval("train")
        last_loss = self.records[-1]["loss"] if self.records else float("nan")
        return {
            "epochs": self.epoch_progress,
            "steps": self.step,
            "test_accuracy": test["accuracy"] if test else None,
            "train_accuracy": train["accuracy"] if train else None,
            "test_loss": _finite_or_none(test["loss"]) if test else None,
            "final_loss": _finite_or_none(last_loss),
            "prediction_histogram": test["prediction_histogram"] if test else None,
            "train_prediction_histogram": train["prediction_histogram"] if train else None,
            "first_nonfinite_step": self.first_nonfinite_step,
            "started_at": self.started_at,  # Unix time; a record's "time" counts from here
            "seconds": time.perf_counter() - self.started,
            "train_seconds": self.train_seconds,
        }


def _finite_or_none(value: float) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def train(config: RunConfig, data: MnistData, device: torch.device | str | None = None) -> Trainer:
    """Train ``config`` to the end on ``data`` and return the trainer (model, records, summary)."""
    trainer = Trainer(config, data, device)
    for _ in trainer.steps():
        pass
    return trainer
