"""The training loop of a binarized network, one optimizer step at a time.

Algorithm 1 of Courbariaux et al. (2016, arXiv:1602.02830): forward with binary weights (and
binary activations where enabled), backward through the straight-through estimator, update the
real-valued latent weights, then clip them to [-1, 1] (:func:`bnn.network.layers.clip_latent_weights`).

:class:`Trainer` owns one run: model, optimizer, schedule, data order, and the metrics it
streams (:class:`bnn.training.metrics.StepRecord` every ``record_every`` steps and at every epoch's end,
:class:`bnn.training.metrics.EvalRecord` per evaluation). Its :meth:`Trainer.steps` generator yields after
every optimizer step so a caller (the CLI, or :class:`bnn.jobs.training_job.TrainingJob` in a background
thread) can pause or stop between steps.

A step does no bookkeeping beyond training: its loss and correct count stay on the device until
a record is due, and the live statistics (flip rate, STE saturation, gradient norm) are computed
only for the steps that make a record (``live_stats=False``: never). The test set is evaluated
after every epoch; the training set at the end (``train_eval="end"``, what the Train page and
the diagnosis read), after every epoch, or never.

Live edits (:meth:`Trainer.request_edit`): the learning rate, the optimizer and each layer's
binarize-weights / binarize-activations switches can be changed while the run trains; a request
is queued and applied before the next optimizer step, and every applied edit is kept in
``Trainer.edits`` (and the summary) with the step it took effect at (one process only).

Started by torchrun as one of several processes (:mod:`bnn.training.distributed`), the trainer trains
its part of every global batch with DistributedDataParallel and synchronized BatchNorm, and
evaluates its part of each set; the numbers it reports are those of the whole batch or set.
:meth:`Trainer.state_dict` and :meth:`Trainer.restore` carry a run across a checkpoint (taken
at an epoch's end) so that it continues exactly as if it had not stopped.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator

import torch

from ..config.schema import ConfigError, RunConfig, validate
from ..network.layers import clip_latent_weights
from ..network.losses import loss_function
from ..network.models import build_model
from ..network.optim import make_optimizer, scheduled_lr, set_lr
from ..network.summary import evaluation_batch_size
from .apply_edits import apply_edits
from .data import MnistData, iterate_batches, random_shifts, steps_per_epoch
from .devices import keep_freed_memory, resolve_device
from .distributed import all_reduce_sum, current_world, gather_objects, sync_batch_norm
from .evaluation import eval_result, evaluation_totals, recalibrate_batch_norm
from .fast_step import LeanForward
from .live_edits import LIVE_LAYER_SETTINGS, LIVE_TRAIN_SETTINGS, edited_config, requests_in_words
from .live_stats import LiveStats
from .metrics import EvalRecord, StepRecord, last_eval

TRAIN_EVALS = ("end", "epoch", "never")  # when the whole training set is evaluated
CHECKPOINT_FORMAT = "bnn-playground-checkpoint-1"
SHIFT_SEED_STRIDE = 1 << 31  # step t of seed s draws its shifts with seed s * stride + t (t < stride)
YOUNG_RUN_S = 10.0  # seconds of training during which early_record_s applies


class Trainer:
    """One training run: ``for _ in trainer.steps(): ...`` trains it to the end.

    ``record_every``: steps per :class:`~bnn.training.metrics.StepRecord` (and one at each epoch's end);
    ``live_stats``: compute flip rate, saturation and gradient norm for the records;
    ``train_eval``: evaluate the whole training set at the ``"end"``, every ``"epoch"``, or
    ``"never"``; ``watch_nonfinite``: check every step's loss at once (one host sync per step)
    rather than at the next record, for callers that stop a diverged run on the spot;
    ``early_record_s``: during the first :data:`YOUNG_RUN_S` seconds also record whenever this
    many seconds passed since the last record, so that a live chart starts at once and moves while
    the run is young (0: records at fixed steps only, as for comparisons).
    In a process group (torchrun) the trainer trains this rank's part of each batch.
    """

    def __init__(
        self,
        config: RunConfig,
        data: MnistData,
        device: torch.device | str | None = None,
        record_every: int = 20,
        *,
        live_stats: bool = True,
        train_eval: str = "end",
        watch_nonfinite: bool = False,
        early_record_s: float = 0.0,
    ) -> None:
        problems = validate(config)
        if train_eval not in TRAIN_EVALS:
            problems.append(f"train_eval must be one of {', '.join(TRAIN_EVALS)}, got {train_eval!r}")
        if problems:
            raise ConfigError("; ".join(problems))
        self.config = config
        self.world = current_world()
        self.device = resolve_device(device)
        if self.device.type == "cpu":
            keep_freed_memory()
        subset = config.train.train_subset
        self.data = (data.subset(train=subset) if subset else data).to(self.device)
        torch.manual_seed(config.train.seed)
        self.generator = torch.Generator().manual_seed(config.train.seed)
        self._epoch_order_state: torch.Tensor | None = None  # the generator as this epoch began
        self.model = build_model(config.model, self.device)
        if self.world.distributed:
            sync_batch_norm(self.model)
            torch.manual_seed(config.train.seed + self.world.rank)  # each rank its own dropout masks
        self.optimizer = make_optimizer(self.model, config.train)
        self.loss_fn = loss_function(config.train.loss)
        self.record_every = max(1, record_every)
        # a live chart's first points: while the run is young, also record whenever early_record_s
        # seconds passed since the last record (one process only: ranks would disagree on the time)
        self.early_record_s = 0.0 if self.world.distributed else early_record_s
        self.live_stats = live_stats
        self.train_eval = train_eval
        self.watch_nonfinite = watch_nonfinite
        self.train_count = len(self.data.train_labels)
        self.steps_per_epoch = steps_per_epoch(self.train_count, config.train.batch_size)
        self.total_steps = self.steps_per_epoch * config.train.epochs
        self._start_counting()
        self._stats = LiveStats(self.model, live_stats)  # flip rates, saturation, gradient norm
        self._forward = self._training_forward()

    def _start_counting(self) -> None:
        """Steps, records, clocks and edits of a run that has not trained yet."""
        self.step = 0
        self.epoch = 0  # completed epochs
        self.records: list[StepRecord] = []
        self.evals: list[EvalRecord] = []
        self.first_nonfinite_step: int | None = None
        self.started = time.perf_counter()
        self.started_at = time.time()  # wall clock, for matching records with outside events
        self.train_seconds = 0.0  # time spent in training steps, evaluations excluded
        self._pending: list[tuple[torch.Tensor, torch.Tensor, int]] = []  # (loss * n, correct, n) per step
        self.edits: list[dict] = []  # live edits applied: step, setting, layer, old, new
        self._edit_requests: list[tuple[str, int | None, object]] = []
        self._edit_lock = threading.Lock()
        self.eval_seconds_per_image = 0.0  # measured by the last evaluation (0: none yet)
        self._interval_started = time.perf_counter()

    def _training_forward(self) -> torch.nn.Module:
        """The forward pass a training step calls: the lean products (:mod:`bnn.training.fast_step`),
        in a process group wrapped in DistributedDataParallel."""
        forward = LeanForward(self.model, self.config.train.precision)
        if not self.world.distributed:
            return forward
        self._check_batches_split()
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device] if self.device.type == "cuda" else None
        return DistributedDataParallel(forward, device_ids=device_ids, forward_sync_buffers=False)

    def _check_batches_split(self) -> None:
        batch = self.config.train.batch_size
        smallest = min(batch, self.train_count - (self.steps_per_epoch - 1) * batch)
        if smallest < self.world.size:
            raise ConfigError(
                f"a batch of {smallest} images cannot be split over {self.world.size} processes; "
                "use a larger batch size or training subset, or fewer processes"
            )

    def weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.model.parameters())

    @property
    def epoch_progress(self) -> float:
        return self.step / self.steps_per_epoch

    @property
    def finished(self) -> bool:
        return self.step >= self.total_steps

    def _record_due(self, step: int) -> bool:
        if step % self.record_every == 0 or step % self.steps_per_epoch == 0 or step == self.total_steps:
            return True
        if not self.early_record_s:
            return False
        if not self.records:
            return True  # a young run's first step is a record: the chart starts at once
        now = time.perf_counter()
        return now - self.started < YOUNG_RUN_S and now - self._interval_started >= self.early_record_s

    # --- training ------------------------------------------------------------------------
    def train_step(self, images: torch.Tensor, labels: torch.Tensor, batch_count: int | None = None) -> None:
        """One optimizer step on ``images``: this rank's part of a batch of ``batch_count`` images
        (default: all of it)."""
        batch_count = batch_count or len(labels)
        if self._edit_requests:
            self._apply_edits()
        record_now = self._record_due(self.step + 1)
        stats_now = record_now and self.live_stats
        lr = scheduled_lr(self.config.train, self.step, self.total_steps)
        set_lr(self.optimizer, lr)
        self.model.train()
        self._stats.capture = stats_now
        scores = self._forward(images)
        self._stats.capture = False
        loss = self.loss_fn(scores, labels)
        self.optimizer.zero_grad(set_to_none=True)
        if self.world.distributed:  # DDP averages over ranks: weigh each by its share of the batch
            (loss * (len(labels) * self.world.size / batch_count)).backward()
        else:
            loss.backward()
        grad_norm = self._stats.grad_norm() if stats_now else float("nan")
        self.optimizer.step()
        if self.config.train.clip_latent:
            clip_latent_weights(self.model)
        self.step += 1
        with torch.no_grad():
            correct = (scores.argmax(dim=1) == labels).sum()
            self._pending.append((loss.detach() * len(labels), correct, batch_count))
        if self.watch_nonfinite and self.first_nonfinite_step is None and not math.isfinite(float(loss.detach())):
            self.first_nonfinite_step = self.step
        if record_now:
            self._record(lr, grad_norm)

    def _record(self, lr: float, grad_norm: float) -> None:
        pending, self._pending = self._pending, []
        losses_and_corrects = [torch.stack([loss, correct.to(loss.dtype)]) for loss, correct, _ in pending]
        sums = all_reduce_sum(torch.stack(losses_and_corrects, dim=1))
        loss_sums, corrects = sums.tolist()  # the one host sync of the interval
        counts = [n for _, _, n in pending]
        losses = [total / n for total, n in zip(loss_sums, counts)]
        first_bad = next((i for i, value in enumerate(losses) if not math.isfinite(value)), None)
        if first_bad is not None and self.first_nonfinite_step is None:
            self.first_nonfinite_step = self.step - len(pending) + 1 + first_bad
        weights_finite = self.weights_finite()
        if not weights_finite and self.first_nonfinite_step is None:
            # the losses so far were finite: this step's update made the weights NaN/inf, so the
            # next step's loss is the first that is not
            self.first_nonfinite_step = self.step + 1
        loss = sum(losses) / len(losses)
        elapsed = max(time.perf_counter() - self._interval_started, 1e-9)
        self.records.append(
            {
                "step": self.step,
                "epoch": self.epoch_progress,
                "time": time.perf_counter() - self.started,
                "loss": loss if math.isfinite(loss) else float("nan"),
                "batch_accuracy": 100.0 * sum(corrects) / sum(counts),
                "lr": lr,
                "samples_per_s": sum(counts) / elapsed,
                "grad_norm": grad_norm if math.isfinite(grad_norm) else float("nan"),
                "flip_rate": self._stats.flip_rates() if self.live_stats else {},
                "saturation": dict(self._stats.saturation),
                "nonfinite": not (math.isfinite(loss) and weights_finite),
            }
        )
        self._interval_started = time.perf_counter()

    # --- live edits ------------------------------------------------------------------------
    def request_edit(self, setting: str, value, layer: int | None = None) -> None:
        """Change ``setting`` (one of :data:`LIVE_TRAIN_SETTINGS`, or with ``layer`` the index of
        a layer, one of :data:`LIVE_LAYER_SETTINGS`) to ``value`` before the next optimizer step.
        Thread-safe; raises :class:`ConfigError` for an edit the run cannot take."""
        if (setting in LIVE_LAYER_SETTINGS) != (layer is not None) or setting not in (
            LIVE_TRAIN_SETTINGS + LIVE_LAYER_SETTINGS
        ):
            raise ConfigError(f"{setting!r} cannot be changed while a run trains")
        if layer is not None and not 0 <= layer < len(self.config.model.layers):
            raise ConfigError(f"there is no layer {layer}")
        if self.world.distributed:
            raise ConfigError("live edits need a single training process")
        with self._edit_lock:
            config = self.config
            for queued in self._edit_requests:
                config = edited_config(config, *queued)
            problems = validate(edited_config(config, setting, layer, value))
            if problems:
                raise ConfigError("; ".join(problems))
            self._edit_requests.append((setting, layer, value))

    def pending_edits(self) -> list[str]:
        """The edits requested and not yet applied (they are, before the next step), in words."""
        with self._edit_lock:
            requests = list(self._edit_requests)
        return requests_in_words(requests, [block.name for block in self.model.blocks])

    def _apply_edits(self) -> None:
        with self._edit_lock:
            requests, self._edit_requests = self._edit_requests, []
        self.config, self.optimizer, applied = apply_edits(self.model, self.optimizer, self.config, requests, self.step)
        self.edits += applied
        self._stats.reset_signs()

    def evaluate(self, split: str = "test") -> EvalRecord:
        """Evaluate on the test or the full training set and append the record (in a process
        group every rank evaluates its part and the counts are summed: call on every rank)."""
        if split == "train":
            images, labels = self.data.train_images, self.data.train_labels
        else:
            images, labels = self.data.test_images, self.data.test_labels
        if self.world.distributed:
            rank, size = self.world.rank, self.world.size
            start, end = len(labels) * rank // size, len(labels) * (rank + 1) // size
            images, labels = images[start:end], labels[start:end]
        started = time.perf_counter()
        batch_size = evaluation_batch_size(self.config.model)
        totals = evaluation_totals(self.model, images, labels, self.config.train.loss, batch_size)
        result = eval_result(split, all_reduce_sum(totals).tolist())
        self.eval_seconds_per_image = (time.perf_counter() - started) / max(len(labels), 1)
        record = result.record(self.step, self.epoch_progress)
        self.evals.append(record)
        return record

    def steps(self, on_epoch_end: Callable[[Trainer], None] | None = None) -> Iterator[int]:
        """Train to the end, yielding the step number after every optimizer step.

        A test evaluation follows every epoch (and a training-set one as ``train_eval`` says),
        then ``on_epoch_end(self)``. Stopping early (leaving the loop) keeps everything trained
        so far.
        """
        batch_size = self.config.train.batch_size
        while not self.finished:
            epoch_start = time.perf_counter()
            if self._epoch_order_state is None:  # else: restored in the middle of this epoch
                self._epoch_order_state = self.generator.get_state()
            self.generator.set_state(self._epoch_order_state)
            batches = iterate_batches(self.train_count, batch_size, self.generator, device=self.device)
            done_in_epoch = self.step - self.epoch * self.steps_per_epoch
            for indices in itertools.islice(batches, done_in_epoch, None):
                images, labels = self._batch(indices)
                self.train_step(images, labels, len(indices))
                yield self.step
            if self.finished and self.config.train.bn_recalibrate:
                recalibrate_batch_norm(self.model, self.data.train_images, batch_size)
            self.train_seconds += time.perf_counter() - epoch_start
            self.epoch += 1
            self._epoch_order_state = None
            self.evaluate("test")
            if self.train_eval == "epoch":
                self.evaluate("train")
            if on_epoch_end is not None:
                on_epoch_end(self)
        if self.train_eval != "never" and not any(e["split"] == "train" and e["step"] == self.step for e in self.evals):
            self.evaluate("train")

    def _batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's images and labels of the batch ``indices``, images randomly shifted when the
        run augments (the shifts of a step depend on the seed and the step only, so a resumed run
        draws the same ones)."""
        images, labels = self.data.train_images[indices], self.data.train_labels[indices]
        if self.config.train.shift:
            generator = torch.Generator().manual_seed(self.config.train.seed * SHIFT_SEED_STRIDE + self.step)
            images = random_shifts(images, self.config.train.shift, generator)
        if self.world.distributed:
            rank, size = self.world.rank, self.world.size
            images, labels = images.tensor_split(size)[rank], labels.tensor_split(size)[rank]
        return images, labels

    def final_evaluations(self) -> None:
        """After stopping early: evaluate what was trained (test, and training set unless never)."""
        self.evaluate("test")
        if self.train_eval != "never":
            self.evaluate("train")

    # --- checkpoints ---------------------------------------------------------------------
    @property
    def at_checkpoint(self) -> bool:
        """Whether :meth:`state_dict` can be taken now: right after a record (nothing is
        accumulated since), which every epoch's end is."""
        in_epoch = self.step - self.epoch * self.steps_per_epoch  # an epoch's last step: its end is next
        return bool(self.records) and self.records[-1]["step"] == self.step and in_epoch < self.steps_per_epoch

    def state_dict(self) -> dict:
        """Everything but the weights that continuing this run needs: optimizer, data order and
        random states, counters. Take it where :attr:`at_checkpoint` (e.g. in ``on_epoch_end``);
        in a process group it gathers every rank's random state, so call it on every rank."""
        if self.step and not self.at_checkpoint:
            raise RuntimeError("a checkpoint is taken right after a record")
        cuda_rng = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "epoch": self.epoch,
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "epoch_order": self._epoch_order_state,  # the generator as the current epoch began
            "rng": gather_objects(torch.get_rng_state()),
            "cuda_rng": gather_objects(cuda_rng.cpu()) if cuda_rng is not None else None,
            "first_nonfinite_step": self.first_nonfinite_step,
            "train_seconds": self.train_seconds,
            "elapsed": time.perf_counter() - self.started,
            "world_size": self.world.size,
        }

    def restore(
        self,
        weights: dict,
        state: dict,
        records: list[StepRecord],
        evals: list[EvalRecord],
        edits: list[dict] = (),
    ) -> None:
        """Continue the run saved as ``weights`` (the model's state_dict), ``state``
        (:meth:`state_dict`), its metric records and the live edits it took (already in the
        settings it was built with); call before training."""
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ConfigError("not a checkpoint of this trainer")
        in_epoch = state["step"] - state["epoch"] * self.steps_per_epoch
        if not 0 <= in_epoch < self.steps_per_epoch or state["step"] > self.total_steps:
            raise ConfigError(f"the checkpoint (step {state['step']}) does not fit this run's settings")
        self.model.load_state_dict(weights)
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.epoch = state["step"], state["epoch"]
        self.generator.set_state(state["generator"])
        self._epoch_order_state = state.get("epoch_order") if in_epoch else None
        rank = self.world.rank
        torch.set_rng_state(state["rng"][rank % len(state["rng"])])
        if state.get("cuda_rng") and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"][rank % len(state["cuda_rng"])], self.device)
        self.records, self.evals, self.edits = list(records), list(evals), [dict(edit) for edit in edits]
        self.first_nonfinite_step = state["first_nonfinite_step"]
        self.train_seconds = state["train_seconds"]
        self.started = time.perf_counter() - state["elapsed"]
        self._stats.reset_signs()

    def summary(self) -> dict:
        """Final numbers of the run (percentages; None where not measured or not finite)."""
        test, train = last_eval(self.evals, "test"), last_eval(self.evals, "train")
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
            "edits": [dict(edit) for edit in self.edits],
        }


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
