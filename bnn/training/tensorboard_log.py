"""TensorBoard event files in a run's folder, written as the run trains.

``tensorboard --logdir <runs folder>`` then shows every run side by side (its run name in
TensorBoard is its folder's name). What a run writes, at the step each belongs to:

- scalars, the lines of the Train page's chart: ``loss/train batches`` and
  ``accuracy/train batches`` (every record, i.e. every 20 steps), ``loss/test set`` and
  ``accuracy/test set`` (every evaluation; ``.../train set`` for the training set),
  ``learning rate``, and ``flip rate/<layer>`` (the share of a layer's binary weights whose
  sign changed since the last record);
- histograms ``latent weights/<layer>``: each layer's real-valued latent weights at every
  epoch's end (Algorithm 1 of Courbariaux et al. 2016, arXiv:1602.02830: the weights that
  ``sign`` binarizes);
- text ``live edits``: each live edit in words ("lr 1e-02 → 5e-03") at the step it took effect;
- hyperparameters (TensorBoard's HPARAMS tab) when the run ends: every setting of
  :data:`bnn.config.schema.SETTINGS` by name, the layers and the preset, with the metric
  ``final/test accuracy``.

The files are TensorBoard's own format (TFRecord-framed ``Event`` protocol buffers), built with
tensorboardX's protocol buffers (it needs only ``protobuf``; ``torch.utils.tensorboard`` would
need the whole ``tensorboard`` package) and written by this module in the training thread: no
writer thread, no queue. A run folder is replaced whole at every save (:func:`bnn.jobs.run_folders.save_run`),
which carries the event files over, so the open file follows the folder. Writing starts at the
run's first save (the end of its first epoch, or a minute of training) with everything recorded
so far. A run that cannot write (tensorboardX missing, a full disk) trains on without events.
"""

from __future__ import annotations

import math
import os
import socket
import struct
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

EVENTS_PREFIX = "events.out.tfevents."  # TensorBoard finds files whose name contains "tfevents"
HISTOGRAM_BINS = 64  # buckets of a latent-weight histogram ([-1, 1] in steps of 1/32 once clipped)
FINAL_METRIC = "final/test accuracy"  # the hyperparameter tab's metric


def is_event_file(name: str) -> bool:
    """Whether a run folder's file ``name`` is one of its TensorBoard event files."""
    return name.startswith(EVENTS_PREFIX)


def _masked_crc(data: bytes) -> int:
    from tensorboardX.crc32c import crc32c

    crc = crc32c(data) & 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC-32C, the data, the data's masked CRC-32C."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", _masked_crc(header)) + data + struct.pack("<I", _masked_crc(data))


def read_events(path: str | os.PathLike) -> list:
    """The ``Event`` protocol buffers of an event file, in order (for tests and tools); a torn
    last record (the file is being written) is left out, a corrupt one raises ValueError."""
    from tensorboardX.proto.event_pb2 import Event

    data, events, at = Path(path).read_bytes(), [], 0
    while at + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, at)
        end = at + 12 + length + 4
        if end > len(data):
            break
        header, body = data[at : at + 8], data[at + 12 : at + 12 + length]
        (header_crc,) = struct.unpack_from("<I", data, at + 8)
        (body_crc,) = struct.unpack_from("<I", data, end - 4)
        if header_crc != _masked_crc(header) or body_crc != _masked_crc(body):
            raise ValueError(f"{path}: corrupt record at byte {at}")
        events.append(Event.FromString(body))
        at = end
    return events


class EventLog:
    """The TensorBoard event file of one run: :meth:`update` writes what the trainer recorded
    since the last call (once the run has a folder), :meth:`close` the hyperparameters."""

    def __init__(self) -> None:
        self._file = None
        self._failed = False
        self._written = {"records": 0, "evals": 0, "edits": 0}
        self._epochs = 0  # epochs whose latent-weight histograms are written

    def continue_from(self, trainer, folder: str | os.PathLike | None) -> None:
        """A resumed run: what ``trainer`` restored is in ``folder``'s event files already
        (if it has any), so only what follows is written."""
        if folder is not None and any(is_event_file(entry.name) for entry in os.scandir(folder)):
            self._written.update(records=len(trainer.records), evals=len(trainer.evals), edits=len(trainer.edits))
            self._epochs = trainer.epoch

    def update(self, trainer, folder: str | os.PathLike | None) -> None:
        """Write ``trainer``'s new records, evaluations and edits, and the histograms of an epoch
        just ended, into ``folder`` (nothing while it is None: the run is not saved yet)."""
        if folder is None or self._failed:
            return
        new_records = len(trainer.records) > self._written["records"]
        new_evals = len(trainer.evals) > self._written["evals"]
        if not (
            new_records or new_evals or len(trainer.edits) > self._written["edits"] or trainer.epoch > self._epochs
        ):
            return
        try:
            self._write_new(trainer, Path(folder))
        except Exception:  # no tensorboardX, the disk...: the run trains on without events
            self._failed = True

    def close(self, trainer, folder: str | os.PathLike | None, *, preset: str | None = None, status: str = "") -> None:
        """Write the rest, the run's settings as hyperparameters with its final test accuracy, and
        close the file."""
        self.update(trainer, folder)
        if self._file is None:
            return
        try:
            from ..config.descriptions import describe_layers
            from ..config.schema import SETTINGS, setting_value
            from .metrics import last_eval

            config = trainer.config
            hparams: dict[str, Any] = {s.name: setting_value(config, s) for s in SETTINGS}
            hparams.update(layers=describe_layers(config), preset=preset or "custom")
            test = last_eval(trainer.evals, "test")
            wall = time.time()
            if test is not None:
                self._write_summary(_scalars({FINAL_METRIC: test["accuracy"]}), trainer.step, wall)
            for summary in _hparams_summaries(hparams, status):
                self._write_summary(summary, trainer.step, wall)
            self._file.close()
        except Exception:  # the run has ended and is saved: its events are an extra
            pass
        self._file = None
        self._failed = True  # closed: nothing more

    # --- writing ---------------------------------------------------------------------------
    def _open(self, folder: Path, started_at: float) -> None:
        from tensorboardX.proto.event_pb2 import Event

        name = f"{EVENTS_PREFIX}{int(started_at)}.{socket.gethostname()}.{os.getpid()}.{id(self)}"
        self._file = open(folder / name, "ab")  # noqa: SIM115 - kept open for the run, closed by close()
        self._file.write(frame(Event(wall_time=started_at, file_version="brain.Event:2").SerializeToString()))

    def _write_summary(self, summary, step: int, wall_time: float) -> None:
        from tensorboardX.proto.event_pb2 import Event

        self._file.write(frame(Event(wall_time=wall_time, step=step, summary=summary).SerializeToString()))

    def _write_new(self, trainer, folder: Path) -> None:
        if self._file is None:
            self._open(folder, trainer.started_at)
        written = self._written
        for record in trainer.records[written["records"] :]:
            values = {
                "loss/train batches": record["loss"],
                "accuracy/train batches": record["batch_accuracy"],
                "learning rate": record["lr"],
            }
            values.update({f"flip rate/{layer}": rate for layer, rate in record["flip_rate"].items()})
            self._write_summary(_scalars(values), record["step"], trainer.started_at + record["time"])
        for evaluation in trainer.evals[written["evals"] :]:
            where = f"{evaluation['split']} set"
            values = {f"loss/{where}": evaluation["loss"], f"accuracy/{where}": evaluation["accuracy"]}
            self._write_summary(_scalars(values), evaluation["step"], time.time())
        from .live_edits import describe_edit

        for edit in trainer.edits[written["edits"] :]:
            self._write_summary(_text("live edits", describe_edit(edit)), edit["step"], time.time())
        if trainer.epoch > self._epochs:
            self._write_summary(_latent_histograms(trainer.model), trainer.step, time.time())
            self._epochs = trainer.epoch
        written.update(records=len(trainer.records), evals=len(trainer.evals), edits=len(trainer.edits))
        self._file.flush()  # TensorBoard reads what is on disk


def _scalars(values: Mapping[str, float]):
    from tensorboardX.proto.summary_pb2 import Summary

    return Summary(value=[Summary.Value(tag=tag, simple_value=float(value)) for tag, value in values.items()])


def _text(tag: str, text: str):
    from tensorboardX.summary import text as text_summary

    return text_summary(tag, text)


def _latent_histograms(model) -> Any:
    """One histogram per layer of its latent (real) weights, counted by torch where they are
    (``torch.histc``, one pass for min and max: ~20 ms for `fast`'s 1.9 M weights on a busy CPU)."""
    import torch
    from tensorboardX.proto.summary_pb2 import HistogramProto, Summary

    values = []
    with torch.no_grad():
        for block in model.blocks:
            weights = block.linear.weight.detach().float().flatten()
            if not weights.numel():
                continue
            low, high = (value.item() for value in torch.aminmax(weights))
            if not (math.isfinite(low) and math.isfinite(high)):  # NaN/inf weights (a diverged run): none
                continue
            high = max(high, low + 1e-12)  # all equal: one bucket's width
            counts = torch.histc(weights, bins=HISTOGRAM_BINS, min=low, max=high)
            limits = torch.linspace(low, high, HISTOGRAM_BINS + 1, dtype=torch.float64)[1:]
            histogram = HistogramProto(
                min=low,
                max=high,
                num=float(weights.numel()),
                sum=weights.sum().item(),  # float32 sums: TensorBoard shows them, nothing computes with them
                sum_squares=torch.dot(weights, weights).item(),
                bucket_limit=limits.tolist(),
                bucket=counts.double().cpu().tolist(),
            )
            values.append(Summary.Value(tag=f"latent weights/{block.name}", histo=histogram))
    return Summary(value=values)


def _hparams_summaries(hparams: Mapping[str, Any], status: str) -> Sequence:
    """TensorBoard's hparams session start (the values) and end (the status); the experiment
    (which hparams and metrics exist) TensorBoard infers from every run's session start."""
    from tensorboardX.proto.api_pb2 import Status
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData, SessionEndInfo
    from tensorboardX.summary import hparams as hparams_summaries

    _, start, _ = hparams_summaries(dict(hparams), {FINAL_METRIC: 0.0})
    outcome = {"finished": "STATUS_SUCCESS", "diverged": "STATUS_FAILURE", "failed": "STATUS_FAILURE"}
    end_info = SessionEndInfo(status=Status.Value(outcome.get(status, "STATUS_UNKNOWN")))
    end = _plugin_summary("_hparams_/session_end_info", HParamsPluginData(session_end_info=end_info, version=0))
    return [start, end]


def _plugin_summary(tag: str, content):
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata

    plugin = SummaryMetadata.PluginData(plugin_name="hparams", content=content.SerializeToString())
    return Summary(value=[Summary.Value(tag=tag, metadata=SummaryMetadata(plugin_data=plugin))])
