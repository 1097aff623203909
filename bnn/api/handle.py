"""The playground from Python: the public API that ``import bnn`` exports.

The app's parts one call away, with the app's behaviour and its run folders: train() a preset
or a config (in the calling thread or in the background, live=True for a figure that updates in
Jupyter), change a run while it trains (RunHandle.edit, the Train page's live edits), diagnose
it, predict with it, pack it for the XNOR engine, export it (C, ONNX, or the packed file that
load_packed() reads), compare() runs, and load_run() / runs() the saved ones.

A RunHandle is behaviour only; its data is one bnn.jobs.run.Run (handle.run), read afresh from the
training job at every access while it trains, else the saved run. Settings given as keywords are
the app's settings by name (bnn.settings() lists them: lr=1e-3, optimizer="sgd",
train_subset=5000 ...), checked by the same rules as the Train page; a bad name or value raises
ValueError naming it. Runs are saved where the app saves them ($BNN_RUNS_DIR, else a per-user
cache) unless runs_dir says otherwise; MNIST is read from $BNN_DATA_DIR (else downloaded once
into a per-user cache).

Binarized Neural Networks: Courbariaux, Hubara, Soudry, El-Yaniv, Bengio 2016, arXiv:1602.02830.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config.architecture import layer_names
from ..config.descriptions import describe
from ..config.presets import PRESET_DESCRIPTIONS, PRESETS
from ..config.schema import (
    LAYER_SETTINGS,
    SETTINGS,
    SETTINGS_BY_NAME,
    ConfigError,
    RunConfig,
    setting_value,
    validate,
    with_settings,
)
from ..jobs.run import Run, Status
from ..jobs.run_folders import RunFormatError, default_runs_dir, save_run, scan_runs, slugify
from ..jobs.run_folders import load_run as read_run
from ..jobs.start_rules import start_problems
from ..jobs.training_job import RunSlots, TrainingJob
from .results import Comparison, Diagnosis, Packed, RunList, as_images
from .tables import Table

LIVE_SETTINGS = ("lr", "optimizer")  # RunHandle.edit's settings of the whole run; per layer: LIVE_LAYER_SETTINGS
LIVE_LAYER_SETTINGS = ("binarize_weights", "binarize_activations")
FIGURE_HEIGHT = 500  # the Train page's chart
EARLY_RECORD_S = 0.15  # a live figure's young run records at least this often (as the Train page's)
EDIT_WAIT_S = 2.0  # edit() waits this long at most for a running run to take the edit
_slots: RunSlots | None = None  # the training slots of this process, as the app's (one run per two cores)
_names_given: set[str] = set()
_names_lock = threading.Lock()


def presets() -> dict[str, str]:
    """The presets by name, each with what it is.

    Returns:
        A dict: preset name -> one line about it ("fast", "paper", "seed", ...).

    Example:
        bnn.presets()["seed"]
    """
    return dict(PRESET_DESCRIPTIONS)


def settings() -> Table:
    """The settings that train() and configure() take by name: what each means, the values it
    accepts, and its default.

    Returns:
        A table (shown as HTML in Jupyter, as text by print): name, meaning, values, default.
        Defaults are the settings' own; each preset changes some of them. The per-layer
        switches that edit() changes (binarize_weights, binarize_activations) follow.

    Example:
        print(bnn.settings())
        bnn.train("fast", lr=1e-3, optimizer="sgd", train_subset=5000)
    """
    defaults = RunConfig()
    rows = [_setting_row(s, setting_value(defaults, s)) for s in SETTINGS]
    layer = defaults.model.layers[0]
    rows += [_setting_row(s, getattr(layer, s.name), "per layer, edit(layer=...): ") for s in LAYER_SETTINGS.values()]
    return Table(rows, "Settings of bnn.train() and bnn.configure()", "bnn.presets() lists the presets.")


def _setting_row(setting, default: Any, prefix: str = "") -> dict[str, Any]:
    if setting.kind is bool:
        values = "True or False"
    elif setting.choices:
        values = "one of " + ", ".join(setting.choices)
    elif setting.low is not None or setting.high is not None:
        values = f"{setting.kind_words} {setting.range_text()}"
    else:
        values = setting.kind_words
    meaning = f"{setting.label}: {setting.help}" if setting.help else setting.label
    return {"name": setting.name, "meaning": prefix + meaning, "values": values, "default": repr(default)}


def did_you_mean(name: str) -> str:
    """ " (did you mean 'lr'?)" for a setting name close to ``name`` (its name or its label), else ""."""
    candidates = {s.name: s.name for s in SETTINGS}
    candidates.update({re.sub(r"[^a-z0-9]+", "_", s.label.lower()).strip("_"): s.name for s in SETTINGS})
    candidates.update(SETTING_ALIASES)
    close = difflib.get_close_matches(name.lower(), list(candidates), n=1, cutoff=0.75)
    return f" (did you mean {candidates[close[0]]!r}?)" if close else ""


# names other libraries give the same settings
SETTING_ALIASES = {
    "learning_rate": "lr",
    "num_epochs": "epochs",
    "n_epochs": "epochs",
    "batch": "batch_size",
    "bs": "batch_size",
    "optim": "optimizer",
    "random_seed": "seed",
    "subset": "train_subset",
}


def mnist(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """MNIST's images and labels, read from $BNN_DATA_DIR (else downloaded once into a per-user
    cache).

    Args:
        split: "test" (10,000 images) or "train" (60,000).

    Returns:
        (images, labels): images as uint8 0..255 of shape (N, 28, 28), labels as int64.

    Example:
        images, labels = bnn.mnist()
        run.predict(images[:5]), labels[:5]
    """
    from ..training.data import load_mnist

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
    """A run's settings: a preset's (or a config's, or a run's) with some changed.

    Args:
        preset_or_config: a preset's name (see bnn.presets()), a RunConfig, its dict, or a run.
        **settings: settings to change, by name (bnn.settings() lists them with their values).

    Returns:
        The RunConfig (frozen; train() takes it).

    Raises:
        ValueError naming a bad name (with the closest one) or value.

    Example:
        config = bnn.configure("fast", lr=1e-3)
        config.train.lr                            # 0.001
    """
    config, _ = _config_of(preset_or_config)
    unknown = [name for name in settings if name not in SETTINGS_BY_NAME]
    if unknown:
        raise ConfigError(
            f"unknown setting{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(name) + did_you_mean(name) for name in unknown)}; "
            f"the settings are {', '.join(SETTINGS_BY_NAME)} (bnn.settings() says what each is)"
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
    """Train a preset or a config on MNIST and save it like the app (the Compare page lists it).

    Args:
        preset_or_config: a preset's name ("fast", "seed", ... see bnn.presets()), a config
            (bnn.configure(...), or a diagnosis' .apply()), its dict, or a run to train again.
        epochs: passes over the training images (default: the preset's).
        background: return at once while the run trains in a thread (run.wait() waits for it).
        runs_dir: the folder to save into (default: $BNN_RUNS_DIR, else the app's runs folder).
        live: in Jupyter, show the Train page's chart and the run's card, updated as it trains.
        name: the run's name (default: the preset's, or "<fixes>-fixed"), made unique in runs_dir.
        fixes: the run whose diagnosis gave these settings (Compare shows it).
        **settings: any setting by name: lr=1e-3, optimizer="sgd", batch_size=100,
            train_subset=5000, seed=1 ... (bnn.settings() lists every one, its values and default).

    Returns:
        A RunHandle: the run, ended (or training, with background=True).

    Raises:
        ValueError naming a bad setting name (with the closest one) or value.

    As in the app, at most one run per two cores trains at once; a further run waits for its
    turn (status "queued"). Every run also writes TensorBoard event files into its folder.

    Example:
        run = bnn.train("fast", epochs=1, train_subset=2000)
        run.test_accuracy
        run = bnn.train("fast", background=True, live=True)
        run.edit(lr=1e-3)
    """
    if epochs is not None:
        settings["epochs"] = epochs
    config = configure(preset_or_config, **settings)
    if problems := start_problems(config):
        raise ConfigError("; ".join(problems))
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
        early_record_s=EARLY_RECORD_S if live else 0.0,  # a live chart moves from the first second
    )
    handle = RunHandle(job)
    if live:
        from .live_figure import LiveFigure

        handle._live = LiveFigure(handle)
        handle._live.show()
    job.start()
    if handle._live is not None and background:
        handle._live.follow_in_background()
    return handle if background else handle.wait()


def load_run(name_or_path: str | os.PathLike, runs_dir: str | os.PathLike | None = None) -> RunHandle:
    """A saved run, read back from its folder.

    Args:
        name_or_path: the run's folder, or its name in runs_dir.
        runs_dir: where to look for a name (default: $BNN_RUNS_DIR, else the app's runs folder).

    Returns:
        Its RunHandle (ValueError if there is no such run).

    Example:
        run = bnn.load_run("fast")
        run.predict(images)
    """
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        directory = Path(runs_dir).expanduser() if runs_dir is not None else default_runs_dir()
        path = directory / slugify(str(name_or_path))
        if not path.is_dir():
            raise ValueError(f"no run {str(name_or_path)!r} in {directory}")
    return RunHandle(read_run(path))


def runs(runs_dir: str | os.PathLike | None = None) -> RunList:
    """The saved runs, newest first.

    Args:
        runs_dir: the folder (default: $BNN_RUNS_DIR, else the app's runs folder).

    Returns:
        A list of RunHandle that shows as a table; .unreadable lists the folders that are not
        readable runs, with the reason.

    Example:
        bnn.runs()
        bnn.runs()[0].figure()
    """
    directory = Path(runs_dir).expanduser() if runs_dir is not None else default_runs_dir()
    saved, unreadable = scan_runs(directory)
    saved = sorted(saved, key=lambda run: run.created, reverse=True)
    return RunList((RunHandle(run) for run in saved), unreadable, directory)


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
        try:  # a running run takes it at its next step: the card then lists it as applied
            job.wait_until(lambda run: not job.pending_edits() or run.ended or job.parked, EDIT_WAIT_S)
        except TimeoutError:
            pass  # still pending: the card says so
        return self

    def _layer_index(self, layer: str | int) -> int:
        names = layer_names(self.config.model)
        if isinstance(layer, int) and not isinstance(layer, bool) and 0 <= layer < len(names):
            return layer
        if layer in names:
            return names.index(layer)
        raise ValueError(f"layer={layer!r}: no such layer; the layers are {', '.join(names)}")

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

        run = self.run
        if run.ended:
            return plots.SelectorSafeFigure(
                plots.live_training_figure(
                    run.records, run.evals, height=height, total_steps=run.step or None, edits=run.edits
                )
            )
        train = run.config.train
        lrs = [train.lr, train.lr if train.schedule == "constant" else train.lr_end]
        lrs += [edit[key] for edit in run.edits if edit["setting"] == "lr" for key in ("old", "new")]  # before, after
        figure = plots.live_training_figure(
            run.records,
            run.evals,
            height=height,
            total_steps=run.total_steps or None,
            lr_range=(min(lrs), max(lrs)),
            edits=run.edits,
        )
        return plots.SelectorSafeFigure(figure)

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

        index = self._layer_index(layer)
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
        from plotly.subplots import make_subplots

        from .. import plots

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


def load_packed(path: str | os.PathLike):
    """A packed model file (.bnnx) as a bnn.xnor.PackedModel.

    The file comes from RunHandle.export("packed"), python -m bnn export RUN --to packed, or the
    app's download. It is checked before it is used (no pickle; sizes, types, checksum); the C file
    and the page's engine read the same bytes (the format: bnn/xnor/fileformat.py).

    Args:
        path: the .bnnx file.

    Returns:
        A PackedModel: predict(images) and scores(images) take pixels in [0, 1], (N, 784) or
        (N, 1, 28, 28). bnn.xnor.PackedFileError (a ValueError) says why a file is refused.

    Example:
        packed = bnn.load_packed("fast.bnnx")
        packed.predict(images / 255.0)[:5]  # array([7, 2, 1, 0, 4])
    """
    from ..deploy.formats import warm_kernels
    from ..xnor import load_packed as read_packed

    warm_kernels()
    return read_packed(path)


def compare(*runs: RunHandle | str) -> Comparison:
    """Runs side by side.

    Args:
        *runs: RunHandles, or saved runs' names or folders.

    Returns:
        A Comparison, shown as a table of their results and the settings that differ;
        .figure() overlays their test accuracy (.figure("loss"): their loss).

    Example:
        bnn.compare(seed, fixed).figure()
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
    "settings",
    "train",
]
