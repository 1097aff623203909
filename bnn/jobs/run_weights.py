"""A run folder's PyTorch files, read as untrusted input: the weights (:func:`load_weights`, checked
against the run's architecture; :func:`read_weights_bytes` for a download) and the checkpoint of an
unfinished run (:func:`load_checkpoint`). Only ``torch.load(..., weights_only=True)`` of regular files
inside the run; nothing is drawn from torch's random generator (:func:`model_to_load`)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch

from ..config.schema import RunConfig
from ..network.models import BinaryNet, build_model
from .run import Run
from .run_format import CHECKPOINT_FILE, WEIGHTS_FILE, RunFormatError
from .safe_io import is_regular_file, read_bytes


def torch_file(path: Path, what: str) -> dict:
    try:
        state = torch.load(io.BytesIO(read_bytes(path)), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunFormatError(f"{path} is missing") from None
    except Exception as exc:  # not a regular file, pickle errors, truncated zip, unsafe globals ...
        raise RunFormatError(f"{path} is not a BNN Playground {what} ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict):
        raise RunFormatError(f"{path} is not a BNN Playground {what}")
    return state


def load_weights(model: BinaryNet, path: str | os.PathLike) -> BinaryNet:
    """Load a ``state_dict`` saved by :func:`save_run` into ``model``; reject anything else."""
    state = torch_file(Path(path), "weights file")
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RunFormatError(f"{path} does not hold a state_dict of tensors")
    expected = model.state_dict()
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in expected):
        raise RunFormatError(f"{path} holds weights of a different architecture than its config.json")
    model.load_state_dict(state)
    return model.eval()


def model_to_load(config: RunConfig) -> BinaryNet:
    """A model of ``config`` with uninitialized weights, for :func:`load_weights` to fill.

    Built on the meta device, so that reading a run draws nothing from torch's global random
    generator: a run training in another thread draws its dropout masks from it, and saves its
    state in checkpoints (:meth:`bnn.training.loop.Trainer.state_dict`), so any draw here would make
    that run, and a run resumed from it, differ from the same run trained undisturbed.
    """
    with torch.device("meta"):
        model = build_model(config.model)
    return model.to_empty(device="cpu")


def weights_reader(path: Path, config: RunConfig):
    """Reads the weights of the run folder ``path`` on each call (None when it has none)."""

    def read() -> BinaryNet | None:
        file = path / WEIGHTS_FILE
        return load_weights(model_to_load(config), file) if is_regular_file(file) else None

    return read


def read_weights_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a run's weights file, for a download: only a regular file inside the run."""
    try:
        return read_bytes(Path(path) / WEIGHTS_FILE)
    except OSError as exc:
        raise RunFormatError(f"{WEIGHTS_FILE}: {exc}") from None


def load_checkpoint(run: Run | str | os.PathLike) -> dict:
    """The checkpoint of an unfinished run (a :class:`Run` or its folder); :class:`RunFormatError`
    if it has none."""
    path = run.path if isinstance(run, Run) else run
    if path is None:
        raise RunFormatError(f"{run.name} is not saved, so it has no checkpoint")
    file = Path(path) / CHECKPOINT_FILE
    if not is_regular_file(file):
        raise RunFormatError(f"{path} has no {CHECKPOINT_FILE}: the run has finished, or was saved without one")
    return torch_file(file, "checkpoint")
