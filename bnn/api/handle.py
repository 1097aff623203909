"""RunHandle: one run from Python, training or saved: what it is, its control (edit, pause,
stop, wait), its figures, its diagnosis, its predictions and its files. bnn.train and
bnn.load_run return one (bnn.api.functions)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config.architecture import layer_names
from ..config.descriptions import describe
from ..config.schema import (
    RunConfig,
)
from ..jobs.run import Run, Status
from ..jobs.run_folders import default_runs_dir, save_run
from ..jobs.run_names import slugify
from ..jobs.training_job import TrainingJob
from .edit_requests import edit_requests, layer_index
from .results import Diagnosis, Packed, as_images
from .tables import Table

FIGURE_HEIGHT = 500  # the Train page's chart
EARLY_RECORD_S = 0.15  # a live figure's young run records at least this often (as the Train page's)
EDIT_WAIT_S = 2.0  # edit() waits this long at most for a running run to take the edit


class RunHandle:
    """One run, training or saved: what the app does with it, as methods.

    Its data is .run (a bnn.jobs.run.Run); .name, .path, .status, .test_accuracy, .records, .evals,
    .edits and .config read it. Methods: wait, edit, pause, resume, stop (while it trains);
    figure, weights_figure, activations_figure; diagnose, model_summary; predict,
    probabilities, pack, model, save. It shows as the run's card (a table).

    Example:
        run = bnn.train("seed", epochs=1, train_subset=5000)
        run.status, run.test_accuracy              # ('finished', 9.8)
        run.diagnose()
    """

    def __init__(self, source: TrainingJob | Run) -> None:
        self._job = source if isinstance(source, TrainingJob) else None
        self._saved = source if isinstance(source, Run) else None
        self._live = None

    @property
    def run(self) -> Run:
        """The run as it is now (a fresh snapshot while it trains)."""
        return self._job.snapshot() if self._job is not None else self._saved

    # --- what it is ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        """Its name (its folder's name in the runs folder, made unique)."""
        return self.run.name

    @property
    def path(self) -> Path | None:
        """Its run folder (None until its first save)."""
        return self.run.path

    @property
    def status(self) -> Status:
        """created, queued, loading, running, paused, stopping, evaluating; then finished,
        stopped, diverged, failed or interrupted (compares equal to those words)."""
        return self.run.status

    @property
    def test_accuracy(self) -> float | None:
        """Percent right in its last test evaluation (None before the first)."""
        return self.run.test_accuracy

    @property
    def records(self) -> list[dict]:
        """Its metric records (dicts, see bnn.training.metrics.StepRecord), one every 20 steps."""
        return self.run.records

    @property
    def evals(self) -> list[dict]:
        """Its evaluations (dicts, see bnn.training.metrics.EvalRecord): the test set after every epoch,
        the training set at the end; each with step, split, accuracy, loss, prediction_histogram."""
        return self.run.evals

    @property
    def edits(self) -> list[dict]:
        """The live edits it took: step, setting, layer, old, new."""
        return self.run.edits

    @property
    def config(self) -> RunConfig:
        """Its settings as trained (live edits applied)."""
        return self.run.config

    def model(self) -> torch.nn.Module:
        """Its network now, a CPU copy in eval mode (ValueError before it has one)."""
        model = self.run.model()
        if model is None:
            raise ValueError(f"{self.name} has no weights yet (status {self.status})")
        return model

    # --- control ------------------------------------------------------------------------
    def _training_job(self) -> TrainingJob:
        if self._job is None or self._job.status.ended:
            raise ValueError(f"{self.name} is not training (status {self.status})")
        return self._job

    def edit(
        self,
        *,
        lr: float | None = None,
        optimizer: str | None = None,
        layer: str | int | None = None,
        binarize_weights: bool | None = None,
        binarize_activations: bool | None = None,
    ) -> RunHandle:
        """Change the run while it trains, at its next optimizer step (the Train page's live
        edits, marked on figure() as dotted lines).

        Args:
            lr: the learning rate from now on.
            optimizer: "sgd", "adam", "adamax" or "bop".
            layer: a layer's name ("dense1", "output", ...) or index, for the two switches below.
            binarize_weights: that layer's weights binary (True) or real (False).
            binarize_activations: that layer's activations binary (True) or real (False).

        Returns:
            The run, its card listing the edit: applied (a running run takes it within a step;
            this waits up to 2 s for it), or pending (a paused run takes it when resumed).

        Raises:
            ValueError for a bad value, or once the run has ended. A run still queued or
            loading MNIST is waited for.

        Example:
            run = bnn.train("fast", background=True)
            run.wait(step=25).edit(lr=1e-3, optimizer="sgd")
            run.edit(layer="dense2", binarize_activations=False)
        """
        job = self._training_job()
        job.wait_until(lambda run: run.status in (Status.RUNNING, Status.PAUSED) or run.ended)  # its trainer exists
        requests = edit_requests(
            self.config,
            lr=lr,
            optimizer=optimizer,
            layer=layer,
            binarize_weights=binarize_weights,
            binarize_activations=binarize_activations,
        )
        for setting, value, index in requests:
            job.edit(setting, value, index)
        try:  # a running run takes it at its next step: the card then lists it as applied
            job.wait_until(lambda run: not job.pending_edits() or run.ended or job.parked, EDIT_WAIT_S)
        except TimeoutError:
            pass  # still pending: the card says so
        return self

    def pause(self) -> RunHandle:
        """Pause between two optimizer steps; returns the run once it is paused (resume() goes on)."""
        job = self._training_job()
        job.pause()
        job.wait_until(lambda run: job.parked or run.ended)
        return self

    def resume(self) -> RunHandle:
        """Go on training after pause(); returns the run."""
        self._training_job().resume()
        return self

    def stop(self) -> RunHandle:
        """Stop after the current step and evaluate what was trained (kept and saved); returns
        the run once it has ended."""
        if self._job is not None and not self._job.status.ended:
            self._job.stop()
        return self.wait()

    def wait(self, timeout: float | None = None, *, step: int | None = None) -> RunHandle:
        """Wait for the run to end, or to reach a step.

        Args:
            timeout: seconds to wait at most (TimeoutError after them).
            step: return once the run has made this many optimizer steps.

        Returns:
            The run. An interrupt (Ctrl-C, Jupyter's stop button) stops the run and keeps what
            was trained.

        Example:
            run.wait(step=25).edit(lr=1e-3)
            run.wait().figure()
        """
        if self._job is None:
            return self
        if step is not None:
            self._job.wait_until(lambda run: run.step >= step or run.ended, timeout)
            return self
        try:
            if self._live is not None and not self._live.following:
                self._live.follow(timeout)
            else:
                self._job.wait_until(lambda run: run.ended, timeout)
        except KeyboardInterrupt:
            self._job.stop()
            self._job.wait_until(lambda run: run.ended)
        # the ended run's thread lets its model go next (milliseconds); a script that exits while it
        # still runs C++ code there dies in the C++ runtime ("terminate called without an active exception")
        self._job.join()
        if self._live is not None:
            self._live.refresh()
        return self

    # --- figures --------------------------------------------------------------------------
    def figure(self, height: int = FIGURE_HEIGHT):
        """The Train page's chart of the run: loss, accuracy, learning rate and weight sign flips,
        live edits as dotted lines.

        Args:
            height: in pixels (it fills the width it is given).

        Returns:
            A plotly Figure (shown in Jupyter; .show() or .write_html(path) elsewhere).

        Example:
            bnn.load_run("fast").figure()
        """
        from .. import plots

        return plots.SelectorSafeFigure(plots.run_figure(self.run, height))

    def weights_figure(self, layer: str | int = 0, *, units: int = 64, binary: bool = True):
        """The incoming weights of a layer's first units, one image per unit.

        Args:
            layer: the layer's name ("dense1", ...) or index.
            units: how many units to show.
            binary: sign(W) as the forward pass uses it (True), or the latent real weights.

        Returns:
            A plotly Figure.

        Example:
            run.weights_figure("dense1", units=32)
        """
        from .. import plots

        index = layer_index(self.config, layer)
        model = self.model()
        name = layer_names(self.config.model)[index]
        weights = model.blocks[index].linear.weight.detach()
        shape = (28, 28) if weights.ndim == 2 and weights.shape[1] == 784 else None
        kind = "sign(W)" if binary else "latent W"
        return plots.weight_grid(weights, units, binary, title=f"{name}: {kind} of {units} units", image_shape=shape)

    def activations_figure(self, image: Any):
        """One image through the network: the digit, then every layer's activations (±1 where
        binarized), side by side.

        Args:
            image: one 28x28 digit, as predict() takes it.

        Returns:
            A plotly Figure.

        Example:
            images, labels = bnn.mnist()
            run.activations_figure(images[0])
        """
        from .. import plots

        x = as_images(image)[:1]
        return plots.activations_row(x[0, 0], self.model().trace(x))

    # --- what it says ---------------------------------------------------------------------
    def diagnose(self) -> Diagnosis:
        """Why is my BNN not learning? The Train page's diagnosis of this run.

        Returns:
            A Diagnosis: its findings with evidence and a fix each, shown as a table;
            .apply() gives the run's settings with every fix applied.

        Example:
            seed = bnn.train("seed", epochs=1)
            fixed = bnn.train(seed.diagnose().apply(), fixes=seed)
        """
        from ..analysis.diagnosis import diagnose_run
        from ..training.data import DataError, load_mnist

        try:
            data = load_mnist()
        except DataError:
            data = None
        return Diagnosis(self.run, diagnose_run(self.run, data).findings)

    def model_summary(self) -> Table:
        """The Inspect page's table: per layer its shapes, 1-bit and 32-bit parameters, memory and
        multiply-adds (a table)."""
        from ..network.summary import model_summary, summary_rows

        model = self.run.model()
        return Table(summary_rows(model_summary(model if model is not None else self.config.model)), self.name)

    # --- what it does -------------------------------------------------------------------
    def _scores(self, images: Any) -> torch.Tensor:
        with torch.no_grad():
            return self.model()(as_images(images))

    def predict(self, images: Any) -> np.ndarray:
        """The digit the network sees in each image.

        Args:
            images: 28x28 digits: one image (28, 28) or a batch (N, 28, 28), (N, 1, 28, 28) or
                (N, 784); a numpy array, a torch tensor or nested lists; whole numbers 0..255
                (uint8 or ints) or floats in [0, 1].

        Returns:
            A numpy int64 array of N digits. Ties (a binarized output) go to the lowest class,
            as in Keras.

        Example:
            images, labels = bnn.mnist()
            run.predict(images[:5])                  # array([7, 2, 1, 0, 4])
        """
        return self._scores(images).argmax(dim=1).numpy().astype(np.int64)

    def probabilities(self, images: Any) -> np.ndarray:
        """Softmax of the class scores: a (N, 10) float32 array, for images as predict() takes them."""
        return torch.softmax(self._scores(images).float(), dim=1).numpy()

    def pack(self) -> Packed:
        """The network for the XNOR-popcount engine, its bits packed 64 to a machine word.

        Returns:
            A Packed model: .predict(images), and .benchmark() timing it against the float
            model (ValueError for a network the engine cannot run).

        Example:
            packed = run.pack()
            packed.benchmark(count=2000)
        """
        from ..deploy.formats import warm_kernels
        from ..xnor import XnorExportError, export_packed

        model = self.model()
        warm_kernels()  # the first time in a process: one line saying what compiles and how long it took
        try:
            return Packed(self.name, model, export_packed(model))
        except XnorExportError as exc:
            raise ValueError(f"{self.name} cannot be packed: {exc}") from None

    def export(self, to: str, out: str | os.PathLike | None = None) -> list[Path]:
        """Write the run's binarized network to files another program or device runs.

        Args:
            to: "c" (a C99 source and header for a microcontroller), "onnx" (a standard ONNX
                graph) or "packed" (the .bnnx file that bnn.load_packed() reads).
            out: the file to write (default: the run's name in the current folder).

        Returns:
            The files written. ValueError for a model or a path the format cannot take (the same
            as python -m bnn export RUN --to FORMAT).

        Example:
            run.export("c", "fast.c")  # [PosixPath('fast.c'), PosixPath('fast.h')]
        """
        from ..deploy.formats import SUFFIXES, check_format, check_out, write_export
        from ..xnor import XnorExportError

        target = check_out(out if out is not None else slugify(self.name) + SUFFIXES[check_format(to)], to)
        try:
            return write_export(self.pack().model, to, target)
        except XnorExportError as exc:
            raise ValueError(f"{self.name} cannot be exported to {to}: {exc}") from None

    def save(self, runs_dir: str | os.PathLike | None = None) -> RunHandle:
        """Save the ended run (again) in its folder, or into runs_dir; returns the run. A training
        run saves itself at every epoch's end and when it ends."""
        run = self.run
        if run.training:
            raise ValueError(f"{run.name} is still training: it saves itself at every epoch's end and when it ends")
        directory = Path(runs_dir) if runs_dir is not None else run.path.parent if run.path else default_runs_dir()
        self._saved, self._job = save_run(run, directory), None
        return self

    # --- display ------------------------------------------------------------------------
    def _row(self, with_path: bool = True) -> dict[str, Any]:
        run = self.run
        row = {
            "name": run.name,
            "status": str(run.status),
            "preset": run.preset,
            "test accuracy (%)": None if run.test_accuracy is None else round(run.test_accuracy, 2),
            "epoch": f"{run.epoch:.2f} / {run.epochs}",
            "edits": len(run.edits),
            "fixes": run.fixes,
        }
        if with_path:
            row["settings"] = describe(run.config)
            row["folder"] = str(run.path) if run.path else None
        return row

    def table(self) -> Table:
        """The run's card: name, status, preset, test accuracy, epoch, edits (applied, and pending
        ones), settings, folder."""
        run = self.run
        rows = [{"": key, "value": value} for key, value in self._row().items()]
        if run.message and run.message != str(run.status):
            rows.append({"": "message", "value": run.message.splitlines()[0]})
        from ..training.live_edits import describe_edit

        rows += [{"": f"edit at step {e['step']:,}", "value": describe_edit(e)} for e in run.edits]
        pending = self._job.pending_edits() if self._job is not None and not run.ended else []
        rows += [{"": "edit pending", "value": f"{text} (at its next step)"} for text in pending]
        return Table(rows, f"Run {run.name}")

    def __repr__(self) -> str:
        run = self.run
        test = f" · test {run.test_accuracy:.2f}%" if run.test_accuracy is not None else ""
        edits = f" · {len(run.edits)} edit(s)" if run.edits else ""
        return f"<Run {run.name}: {run.status} · epoch {run.epoch:.2f}/{run.epochs}{test}{edits}>"

    def __str__(self) -> str:
        return str(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()
