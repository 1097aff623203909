"""The playground from Python: the public API that ``import bnn`` exports.

The app's parts one call away, with the app's behaviour and its run folders: :func:`train` a
preset or a config (in the calling thread or in the background, ``live=True`` for a figure that
updates in Jupyter), change a run while it trains (:meth:`RunHandle.edit`, the Train page's live
edits), :meth:`RunHandle.diagnose` it, :meth:`RunHandle.predict` with it, :meth:`RunHandle.pack`
it for the XNOR engine, :meth:`RunHandle.export` it (C, ONNX, the packed file that
:func:`load_packed` reads), :func:`compare` runs, and :func:`load_run` / :func:`runs` the saved ones.

A :class:`RunHandle` is behaviour only; the data is one :class:`bnn.run.Run` (``handle.run``),
read afresh from the training job at every access while it trains, else the saved run. Settings
given as keywords are the app's settings (:data:`bnn.settings.SETTINGS`, by field name, e.g.
``lr=1e-3, optimizer="sgd", train_subset=5000``), checked by the same rules as the Train page; a
bad name or value raises :class:`ValueError` naming it. Runs are saved where the app saves them
(``$BNN_RUNS_DIR``, else a per-user cache) unless ``runs_dir`` says otherwise; MNIST is read from
``$BNN_DATA_DIR`` (else downloaded once into a per-user cache).

Binarized Neural Networks: Courbariaux, Hubara, Soudry, El-Yaniv, Bengio 2016, arXiv:1602.02830.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .architecture import layer_names
from .descriptions import describe
from .jobs import RunSlots, TrainingJob
from .presets import PRESET_DESCRIPTIONS, PRESETS
from .run import Run, Status
from .runs import RunFormatError, default_runs_dir, save_run, scan_runs, slugify
from .runs import load_run as read_run
from .settings import LAYER_SETTINGS, SETTINGS_BY_NAME, ConfigError, RunConfig, validate, with_settings
from .tables import Table
from .views import Comparison, Diagnosis, Packed, RunList, as_images

LIVE_SETTINGS = ("lr", "optimizer")  # RunHandle.edit's settings of the whole run; per layer: LIVE_LAYER_SETTINGS
LIVE_LAYER_SETTINGS = ("binarize_weights", "binarize_activations")
FIGURE_HEIGHT = 500  # the Train page's chart
_slots: RunSlots | None = None  # the training slots of this process, as the app's (one run per two cores)
_names_given: set[str] = set()
_names_lock = threading.Lock()


def presets() -> dict[str, str]:
    """The presets by name, each with what it is.

    >>> import bnn
    >>> sorted(bnn.presets())[:3]
    ['best', 'fast', 'float']
    """
    return dict(PRESET_DESCRIPTIONS)


def mnist(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """MNIST's ``"test"`` or ``"train"`` images as uint8 (N, 28, 28) and their labels (int64),
    read from ``$BNN_DATA_DIR`` (else downloaded once into a per-user cache).

    >>> images, labels = bnn.mnist()                 # doctest: +SKIP
    >>> run.predict(images[:5]), labels[:5]          # doctest: +SKIP
    """
    from .data import load_mnist

    if split not in ("test", "train"):
        raise ValueError(f"split={split!r}: 'test' or 'train'")
    data = load_mnist()
    images, labels = (data.test_images, data.test_labels) if split == "test" else (data.train_images, data.train_labels)
    return images[:, 0].mul(255).round().to(torch.uint8).numpy(), labels.numpy()


def _config_of(preset_or_config: Any) -> tuple[RunConfig, str | None]:
    if isinstance(preset_or_config, str):
        if preset_or_config not in PRESETS:
            raise ValueError(f"unknown preset {preset_or_config!r}; the presets are {', '.join(PRESETS)}")
        return PRESETS[preset_or_config], preset_or_config
    if isinstance(preset_or_config, RunHandle):
        run = preset_or_config.run
        return run.config, run.preset
    if isinstance(preset_or_config, RunConfig):
        return preset_or_config, None
    if isinstance(preset_or_config, Mapping):
        return RunConfig.from_dict(preset_or_config), None
    raise ValueError(
        f"train() takes a preset name ({', '.join(PRESETS)}), a config or a run, got {type(preset_or_config).__name__}"
    )


def configure(preset_or_config: Any = "fast", **settings: Any) -> RunConfig:
    """The settings of ``preset_or_config`` (a preset's name, a config, its dict, or a run) with
    ``settings`` (the app's setting names) changed; a bad name or value raises ValueError naming it.

    >>> import bnn
    >>> bnn.configure("fast", lr=1e-3).train.lr
    0.001
    """
    config, _ = _config_of(preset_or_config)
    unknown = [name for name in settings if name not in SETTINGS_BY_NAME]
    if unknown:
        raise ConfigError(
            f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"the settings are {', '.join(SETTINGS_BY_NAME)}"
        )
    values = {}
    for name, value in settings.items():
        setting = SETTINGS_BY_NAME[name]
        problem = setting.problem(value)
        if problem:
            raise ConfigError(f"{name}={value!r}: {problem}")
        values[name] = float(value) if setting.kind is float else value
    config = with_settings(config, values)
    problems = validate(config)
    if problems:
        raise ConfigError("; ".join(problems))
    return config


def _unique_name(base: str, runs_dir: Path) -> str:
    """``base``, else ``base-2``, ``base-3`` ...: a name no saved run and no run of this process has."""
    with _names_lock:
        name, number = base, 1
        while name in _names_given or (runs_dir / slugify(name)).exists():
            number += 1
            name = f"{base}-{number}"
        _names_given.add(name)
        return name


def train(
    preset_or_config: Any = "fast",
    *,
    epochs: int | None = None,
    background: bool = False,
    runs_dir: str | os.PathLike | None = None,
    live: bool = False,
    name: str | None = None,
    fixes: Any = None,
    **settings: Any,
) -> RunHandle:
    """Train a preset (``"fast"``, ``"seed"`` ... see :func:`presets`) or a config on MNIST and
    save it like the app; returns its :class:`RunHandle`.

    ``settings``: the app's settings by name (``lr=1e-3``, ``optimizer="sgd"``,
    ``train_subset=5000``, ``batch_size=100``, ``seed=1`` ...), checked like the Train page's
    (ValueError naming a bad name or value). ``background=True`` returns at once while the run
    trains in a thread (``.wait()`` for its end); ``live=True`` shows its chart in Jupyter,
    updated as it trains. As in the app, at most one run per two cores trains at once; a further
    run waits for its turn (status ``queued``). ``fixes``: the run whose diagnosis gave these settings (shown by
    Compare). ``name``: default the preset's (``<fixes>-fixed`` for the settings of a diagnosis),
    made unique in ``runs_dir``.

    >>> import bnn
    >>> run = bnn.train("fast", epochs=1, train_subset=2000)       # doctest: +SKIP
    >>> run.test_accuracy                                          # doctest: +SKIP
    89.5
    >>> run = bnn.train("fast", background=True, live=True)        # doctest: +SKIP
    >>> run.edit(lr=1e-3)                                          # doctest: +SKIP
    """
    if epochs is not None:
        settings["epochs"] = epochs
    config = configure(preset_or_config, **settings)
    _, preset = _config_of(preset_or_config)
    fixes = fixes.name if isinstance(fixes, RunHandle) else fixes
    directory = Path(runs_dir).expanduser() if runs_dir is not None else default_runs_dir()
    global _slots
    if _slots is None:
        _slots = RunSlots()
    job = TrainingJob(
        config,
        name=_unique_name(name or preset or (f"{fixes}-fixed" if fixes else "custom"), directory),
        preset=preset,
        fixes=fixes,
        runs_dir=directory,
        slots=_slots,
    )
    handle = RunHandle(job)
    if live:
        from .live import LiveFigure

        handle._live = LiveFigure(handle)
        handle._live.show()
    job.start()
    if handle._live is not None and background:
        handle._live.follow_in_background()
    return handle if background else handle.wait()


def load_run(name_or_path: str | os.PathLike, runs_dir: str | os.PathLike | None = None) -> RunHandle:
    """A saved run: its folder, or its name in ``runs_dir`` (default: the app's runs folder).

    >>> import bnn
    >>> run = bnn.load_run("fast")           # doctest: +SKIP
    >>> run.predict(images)                  # doctest: +SKIP
    """
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        directory = Path(runs_dir).expanduser() if runs_dir is not None else default_runs_dir()
        path = directory / slugify(str(name_or_path))
        if not path.is_dir():
            raise ValueError(f"no run {str(name_or_path)!r} in {directory}")
    return RunHandle(read_run(path))


def runs(runs_dir: str | os.PathLike | None = None) -> RunList:
    """The saved runs, newest first (a list of :class:`RunHandle` that displays as a table).

    >>> import bnn
    >>> bnn.runs()                           # doctest: +SKIP
    """
    directory = Path(runs_dir).expanduser() if runs_dir is not None else default_runs_dir()
    saved, unreadable = scan_runs(directory)
    saved = sorted(saved, key=lambda run: run.created, reverse=True)
    return RunList((RunHandle(run) for run in saved), unreadable, directory)


class RunHandle:
    """One run, training or saved: what the app does with it, as methods.

    Its data is :attr:`run` (a :class:`bnn.run.Run`); ``name``, ``path``, ``status``,
    ``test_accuracy``, ``records``, ``evals``, ``edits`` and ``config`` read it.

    >>> import bnn
    >>> run = bnn.train("seed", epochs=1, train_subset=5000)        # doctest: +SKIP
    >>> run.status, run.test_accuracy                              # doctest: +SKIP
    ('finished', 9.8)
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
        return self.run.name

    @property
    def path(self) -> Path | None:
        """Its run folder (None until its first save)."""
        return self.run.path

    @property
    def status(self) -> Status:
        return self.run.status

    @property
    def test_accuracy(self) -> float | None:
        """Percent right in its last test evaluation (None before the first)."""
        return self.run.test_accuracy

    @property
    def records(self) -> list[dict]:
        """Its metric records, one every 20 steps (:class:`bnn.metrics.StepRecord`)."""
        return self.run.records

    @property
    def evals(self) -> list[dict]:
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
        edits, marked on :meth:`figure`): the learning rate, the optimizer, and with ``layer``
        (a name such as ``"dense1"`` or ``"output"``, or an index) that layer's binarization.
        A run still queued or loading MNIST is waited for; ValueError once it has ended.

        >>> run = bnn.train("fast", background=True)                          # doctest: +SKIP
        >>> run.edit(lr=1e-3, optimizer="sgd")                                # doctest: +SKIP
        >>> run.edit(layer="dense2", binarize_activations=False)              # doctest: +SKIP
        """
        job = self._training_job()
        job.wait_until(lambda run: run.status in (Status.RUNNING, Status.PAUSED) or run.ended)  # its trainer exists
        requests: list[tuple[str, Any, int | None]] = []
        for setting, value in (("lr", lr), ("optimizer", optimizer)):
            if value is not None:
                requests.append((setting, value, None))
        layer_values = [(s, v) for s, v in zip(LIVE_LAYER_SETTINGS, (binarize_weights, binarize_activations))]
        layer_values = [(s, v) for s, v in layer_values if v is not None]
        if layer_values:
            if layer is None:
                raise ValueError(f"{layer_values[0][0]} needs a layer, e.g. layer='dense1'")
            index = self._layer_index(layer)
            for setting, value in layer_values:
                problem = LAYER_SETTINGS[setting].problem(value)
                if problem:
                    raise ValueError(f"{setting}={value!r}: {problem}")
                requests.append((setting, value, index))
        elif layer is not None:
            raise ValueError("layer= goes with binarize_weights= or binarize_activations=")
        if not requests:
            raise ValueError("nothing to change: give lr=, optimizer=, or layer= with binarize_weights=/activations=")
        for setting, value, index in requests:
            if setting in SETTINGS_BY_NAME:
                problem = SETTINGS_BY_NAME[setting].problem(value)
                if problem:
                    raise ValueError(f"{setting}={value!r}: {problem}")
            job.edit(setting, float(value) if setting == "lr" else value, index)
        return self

    def _layer_index(self, layer: str | int) -> int:
        names = layer_names(self.config.model)
        if isinstance(layer, int) and not isinstance(layer, bool) and 0 <= layer < len(names):
            return layer
        if layer in names:
            return names.index(layer)
        raise ValueError(f"layer={layer!r}: no such layer; the layers are {', '.join(names)}")

    def pause(self) -> RunHandle:
        """Pause between two optimizer steps; returns once it is paused."""
        job = self._training_job()
        job.pause()
        job.wait_until(lambda run: job.parked or run.ended)
        return self

    def resume(self) -> RunHandle:
        self._training_job().resume()
        return self

    def stop(self) -> RunHandle:
        """Stop after the current step and evaluate what was trained (kept and saved); returns
        once it has ended."""
        if self._job is not None and not self._job.status.ended:
            self._job.stop()
        return self.wait()

    def wait(self, timeout: float | None = None, *, step: int | None = None) -> RunHandle:
        """Return once the run has ended, or with ``step`` once it has made that many optimizer
        steps (TimeoutError after ``timeout`` seconds); an interrupt (Ctrl-C, Jupyter's stop
        button) stops the run and keeps what was trained.

        >>> run.wait(step=25).edit(lr=1e-3)          # doctest: +SKIP
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
        if self._live is not None:
            self._live.refresh()
        return self

    # --- figures --------------------------------------------------------------------------
    def figure(self, height: int = FIGURE_HEIGHT):
        """The Train page's chart: loss, accuracy, learning rate and weight sign flips, live
        edits as dotted lines (a ``plotly.graph_objects.Figure``).

        >>> bnn.load_run("fast").figure()              # doctest: +SKIP
        """
        from . import plots

        run = self.run
        if run.ended:
            return plots.live_training_figure(
                run.records, run.evals, height=height, total_steps=run.step or None, edits=run.edits
            )
        train = run.config.train
        lrs = [train.lr, train.lr if train.schedule == "constant" else train.lr_end]
        lrs += [edit["new"] for edit in run.edits if edit["setting"] == "lr"]
        return plots.live_training_figure(
            run.records,
            run.evals,
            height=height,
            total_steps=run.total_steps or None,
            lr_range=(min(lrs), max(lrs)),
            edits=run.edits,
        )

    def weights_figure(self, layer: str | int = 0, *, units: int = 64, binary: bool = True):
        """The incoming weights of a layer's first ``units`` units as images: sign(W) (``binary``)
        or the latent real weights.

        >>> run.weights_figure("dense1")              # doctest: +SKIP
        """
        from . import plots

        index = self._layer_index(layer)
        model = self.model()
        name = layer_names(self.config.model)[index]
        weights = model.blocks[index].linear.weight.detach()
        shape = (28, 28) if weights.ndim == 2 and weights.shape[1] == 784 else None
        kind = "sign(W)" if binary else "latent W"
        return plots.weight_grid(weights, units, binary, title=f"{name}: {kind} of {units} units", image_shape=shape)

    def activations_figure(self, image: Any):
        """One image through the network: the digit, then every layer's activations (±1 where
        binarized), as one figure per layer in a vertical stack.

        >>> run.activations_figure(images[0])          # doctest: +SKIP
        """
        from plotly.subplots import make_subplots

        from . import plots

        x = as_images(image)[:1]
        traces = self.model().trace(x)
        titles = ["input digit"] + [
            f"{t.name}: {'binary ±1' if t.binarized else 'real'} ({t.post[0].numel()} values)" for t in traces
        ]
        fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.03)
        parts = [plots.digit_image(x[0, 0])] + [plots.activation_grid(t.post[0]) for t in traces]
        for col, part in enumerate(parts, 1):
            for trace in part.data:
                fig.add_trace(trace.update(showscale=False), row=1, col=col)
            fig.update_xaxes(visible=False, row=1, col=col)
            anchor = f"x{col if col > 1 else ''}"
            fig.update_yaxes(visible=False, autorange="reversed", scaleanchor=anchor, row=1, col=col)
        fig.update_layout(**plots.LAYOUT)
        fig.update_layout(height=260, margin=dict(l=8, r=8, t=40, b=8))
        return fig

    # --- what it says ---------------------------------------------------------------------
    def diagnose(self) -> Diagnosis:
        """Why is my BNN not learning? The Train page's diagnosis of this run: findings with
        evidence and a fix each; ``.apply()`` gives the settings with every fix applied.

        >>> seed = bnn.train("seed", epochs=1)                        # doctest: +SKIP
        >>> fixed = bnn.train(seed.diagnose().apply(), fixes=seed)    # doctest: +SKIP
        """
        from .data import DataError, load_mnist
        from .diagnosis import diagnose
        from .probe import probe
        from .reference import reference_for

        run = self.run
        try:
            data = load_mnist()
            run_probe = probe(run.config, data.train_images, data.train_labels)
        except DataError:
            run_probe = None
        model = run.model() if not run.config.train.clip_latent else None
        reference = reference_for(run.config, run.preset)
        latent = model.latent_weights() if model is not None else None
        return Diagnosis(run, diagnose(run, run_probe, latent, reference))

    def model_summary(self) -> Table:
        """Per layer: shapes, 1-bit and 32-bit parameters, memory, MACs (the Inspect page's table)."""
        from .summary import model_summary, summary_rows

        model = self.run.model()
        return Table(summary_rows(model_summary(model if model is not None else self.config.model)), self.name)

    # --- what it does -------------------------------------------------------------------
    def _scores(self, images: Any) -> torch.Tensor:
        with torch.no_grad():
            return self.model()(as_images(images))

    def predict(self, images: Any) -> np.ndarray:
        """The digit of each image (numpy int64): 28x28 images as uint8 0..255 or floats in
        [0, 1], a batch (N, 28, 28) / (N, 1, 28, 28) / (N, 784) or one image; ties (a binarized
        output) go to the lowest class, as in Keras.

        >>> run.predict(images[:5])                   # doctest: +SKIP
        array([7, 2, 1, 0, 4])
        """
        return self._scores(images).argmax(dim=1).numpy().astype(np.int64)

    def probabilities(self, images: Any) -> np.ndarray:
        """Softmax of the class scores, (N, 10) float32, for images as :meth:`predict` takes them."""
        return torch.softmax(self._scores(images).float(), dim=1).numpy()

    def pack(self) -> Packed:
        """The network for the XNOR-popcount engine (bits packed in 64-bit words); its
        ``.benchmark()`` times it against the float model (ValueError for a model it cannot run).

        >>> packed = run.pack(); packed.benchmark()      # doctest: +SKIP
        """
        from .deploy import warm_kernels
        from .xnor import XnorExportError, export_packed

        model = self.model()
        warm_kernels()  # the first time in a process: one line saying what compiles and how long it took
        try:
            return Packed(self.name, model, export_packed(model))
        except XnorExportError as exc:
            raise ValueError(f"{self.name} cannot be packed: {exc}") from None

    def export(self, to: str, out: str | os.PathLike | None = None) -> list[Path]:
        """Write the run's binarized network as ``to`` = ``"c"`` (a C99 source and header for a
        microcontroller), ``"onnx"`` (a standard ONNX graph) or ``"packed"`` (the ``.bnnx`` file that
        :func:`load_packed` reads) to ``out`` (default: the run's name in the current folder); returns the
        files written. ValueError for a model or a path the format cannot take (``python -m bnn export``).

        >>> run.export("c", "fast.c")                  # doctest: +SKIP
        [PosixPath('fast.c'), PosixPath('fast.h')]
        """
        from .deploy import SUFFIXES, check_format, check_out, write_export
        from .xnor import XnorExportError

        target = check_out(out if out is not None else slugify(self.name) + SUFFIXES[check_format(to)], to)
        try:
            return write_export(self.pack().model, to, target)
        except XnorExportError as exc:
            raise ValueError(f"{self.name} cannot be exported to {to}: {exc}") from None

    def save(self, runs_dir: str | os.PathLike | None = None) -> RunHandle:
        """Save the ended run (again) in its folder, or into ``runs_dir``; a training run saves
        itself at every epoch's end and when it ends."""
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
        run = self.run
        rows = [{"": key, "value": value} for key, value in self._row().items()]
        if run.message and run.message != str(run.status):
            rows.append({"": "message", "value": run.message.splitlines()[0]})
        from .train import describe_edit

        rows += [{"": f"edit at step {e['step']:,}", "value": describe_edit(e)} for e in run.edits]
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


def load_packed(path: str | os.PathLike):
    """A packed model file (``.bnnx``: :meth:`RunHandle.export` ``("packed")``, ``python -m bnn export RUN
    --to packed``, or the app's download) as a :class:`bnn.xnor.PackedModel`: ``predict(images)`` and
    ``scores(images)`` take pixels in [0, 1], (N, 784) or (N, 1, 28, 28). The file is checked before it is
    used (no pickle; sizes, types, checksum): :class:`bnn.xnor.PackedFileError` (a ValueError) says why
    one is refused. The format: bnn/xnor/fileformat.py; the C file and the page's engine read the same bytes.

    >>> packed = bnn.load_packed("fast.bnnx")        # doctest: +SKIP
    >>> packed.predict(images / 255.0)[:5]          # doctest: +SKIP
    array([7, 2, 1, 0, 4])
    """
    from .deploy import warm_kernels
    from .xnor import load_packed as read_packed

    warm_kernels()
    return read_packed(path)


def compare(*runs: RunHandle | str) -> Comparison:
    """Runs side by side: ``.figure()`` overlays their test accuracy (or ``"loss"``), the table
    shows their results and the settings that differ. Runs may be given by name.

    >>> bnn.compare(seed, fixed).figure()               # doctest: +SKIP
    """
    if not runs:
        raise ValueError("compare() needs at least one run")
    return Comparison([run if isinstance(run, RunHandle) else load_run(run) for run in runs])


__all__ = [
    "Comparison",
    "Diagnosis",
    "Packed",
    "RunFormatError",
    "RunHandle",
    "RunList",
    "compare",
    "configure",
    "load_packed",
    "load_run",
    "mnist",
    "presets",
    "runs",
    "train",
]
