"""Training one run in several processes with ``torch.distributed`` and DistributedDataParallel.

Launched the standard way, ``torchrun --standalone --nproc_per_node=N -m bnn train ...`` (or
``--nnodes``/``--rdzv-endpoint`` across machines); :func:`init_from_env` reads torchrun's
environment and joins the process group (``nccl`` on GPUs, ``gloo`` on CPUs). The run then
behaves as the same run in one process (:class:`bnn.training.loop.Trainer` does the rest):

* **Data**: every rank holds MNIST in memory and draws the same shuffled order from the same
  seed; each global batch of ``batch_size`` images is split into ``N`` near-equal parts and
  rank ``r`` trains on part ``r`` only. The global batch and the learning-rate schedule are
  those of one process.
* **Gradients**: DDP averages the ranks' gradients; each rank scales its loss by
  ``N * local / global`` samples, so the average is the gradient of the global batch's mean
  loss even when the last batch does not split evenly.
* **BatchNorm: synchronized** (:class:`SyncedBatchNorm1d`/``2d``), because the paper's networks
  normalize every layer with the batch's statistics: per-rank BatchNorm would normalize with
  the statistics of ``batch_size / N`` images, a different (noisier) network than the one
  process trains, and the two runs would not agree. ``torch.nn.SyncBatchNorm`` does the same
  but accepts only GPU tensors, so this one sums the statistics with a differentiable
  ``all_reduce``, which works with ``gloo`` and ``nccl`` alike (two small all-reduces per layer
  and step, forward and backward).
* **Clipping**: every rank applies the same averaged gradient to the same weights and clips
  them, so the latent weights stay identical on every rank without any extra communication.
* **Dropout** masks are drawn per rank (seeded ``seed + rank`` after the model is built): the
  same distribution as one process, not the same draws.
* Only rank 0 prints, saves the run and writes the ``--json`` line.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import NoReturn

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    """This process's place in the run: ``rank`` of ``size`` processes (1 when not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def current_world() -> World:
    """The process group this process belongs to (a world of one when there is none)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return World()


def launched_with_several_processes() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def init_from_env(device: torch.device) -> tuple[World, torch.device]:
    """Join torchrun's process group if this process was started as one of several; returns the
    world and the device this rank trains on (``cuda`` becomes ``cuda:LOCAL_RANK``)."""
    if not launched_with_several_processes():
        return World(), device
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend_for(device))
    return current_world(), device


def shutdown(together: bool = False) -> None:
    """Leave the process group (nothing without one). ``together``: first wait at a barrier until
    every rank got here, after a run that ended well on all of them (rank 0 still saves while the
    others are done); a rank that failed leaves at once, and torchrun stops the others."""
    if dist.is_available() and dist.is_initialized():
        if together:
            dist.barrier()
        dist.destroy_process_group()


def exit_process(code: int) -> NoReturn:
    """End this process with ``code``: ``sys.exit`` alone, but a rank of several processes
    (:func:`launched_with_several_processes`) flushes its output and ends without Python's
    finalization (``os._exit``), after :func:`shutdown` and with everything saved.

    Why: gloo's worker threads outlive ``destroy_process_group`` while DistributedDataParallel
    still holds the group, and a worker that retires the last ``all_reduce`` drops its Python
    tensors, which takes the GIL. When that comes after the main thread began finalizing
    (a loaded machine: the worker waits for the GIL), CPython ends the worker thread by
    unwinding it through C++ code that may not throw, and the rank aborts with "terminate called
    without an active exception" (SIGABRT; 4 of 39 two-process torchrun runs with two busy
    processes beside them, 0 of 30 with this; seen with gdb in a core: ``~AsyncAllreduceWork`` ->
    ``decref`` -> ``take_gil`` -> ``PyThread_exit_thread`` while ``Py_FinalizeEx`` ran)."""
    if launched_with_several_processes():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all ranks in place (no-op in a world of one); returns it."""
    if current_world().distributed:
        dist.all_reduce(tensor)
    return tensor


def gather_objects(value: object) -> list:
    """``[value of rank 0, value of rank 1, ...]`` on every rank (``[value]`` in a world of one)."""
    world = current_world()
    if not world.distributed:
        return [value]
    values: list = [None] * world.size
    dist.all_gather_object(values, value)
    return values


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose gradient is the sum of the ranks' gradients (each rank's loss
    depends on every rank's input through the sum)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        total = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _AllReduceSum.apply(grad_output)


class _SyncedBatchNorm:
    """BatchNorm whose training-mode statistics are those of the global batch (all ranks)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and current_world().distributed):
            return super().forward(x)  # type: ignore[misc]
        channels = x.shape[1]
        dims = [0, *range(2, x.dim())]
        shape = [1, channels] + [1] * (x.dim() - 2)
        count = x.new_full((1,), x.numel() / channels)
        totals = _AllReduceSum.apply(torch.cat([x.sum(dims), count]))
        n = totals[-1]
        mean = totals[:-1] / n
        centered = x - mean.reshape(shape)
        var = _AllReduceSum.apply(centered.square().sum(dims)) / n  # biased, as BatchNorm normalizes with
        out = centered * torch.rsqrt(var + self.eps).reshape(shape)
        if self.affine:
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * (n / (n - 1).clamp(min=1))
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(unbiased.detach(), momentum)
        return out


class SyncedBatchNorm1d(_SyncedBatchNorm, nn.BatchNorm1d):
    pass


class SyncedBatchNorm2d(_SyncedBatchNorm, nn.BatchNorm2d):
    pass


def sync_batch_norm(model: nn.Module) -> nn.Module:
    """Replace every BatchNorm1d/2d of ``model`` by its synchronized twin (same parameters,
    buffers and state_dict keys); returns ``model``."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) in (nn.BatchNorm1d, nn.BatchNorm2d):
                synced_cls = SyncedBatchNorm1d if isinstance(child, nn.BatchNorm1d) else SyncedBatchNorm2d
                synced = synced_cls(
                    child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
                )
                synced.load_state_dict(child.state_dict())
                tensors = [*child.parameters(), *child.buffers()]
                setattr(parent, name, synced.to(tensors[0].device) if tensors else synced)
    return model
