"""A run folder's format: its name and version, its files' names, the most bytes a JSON file of a run
may hold (:func:`metrics_limit`), and :class:`RunFormatError`, what reading a folder that is not a run
raises. Read and written by :mod:`bnn.jobs.run_folders`."""

from __future__ import annotations

from ..config.schema import RunConfig

FORMAT = "bnn-playground-run"
FORMAT_VERSION = 2  # 2: config.json as trained, status and fixes in meta.json, edits in metrics.json
RUNS_ENV_VAR = "BNN_RUNS_DIR"
WEIGHTS_FILE, CONFIG_FILE, METRICS_FILE, META_FILE = "weights.pt", "config.json", "metrics.json", "meta.json"
CHECKPOINT_FILE = "checkpoint.pt"
STUDY_FILE = "study.json"  # marks a study folder (bnn.jobs.studies): its variants' run folders are inside
MAX_JSON_BYTES = 256 * 1024**2  # no JSON file of a run is read beyond this, whatever its settings
# What a real run can write into metrics.json, from its own settings (metrics_limit): at most one
# record per optimizer step (the app and the CLI write one per 20; a notebook may ask for every
# step) plus one at each epoch's end and the early ones of a young run (bnn.training.loop.YOUNG_RUN_S of
# records every >= 0.1 s), each record at most RECORD_BYTES (8 numbers, and a flip rate and a
# saturation for each of up to 12 layers: ~1 kB); two evaluations per epoch; and SLACK_BYTES for
# "Test now" evaluations and live edits.
MNIST_TRAIN_IMAGES = 60_000
YOUNG_RECORDS = 100
RECORD_BYTES = 2048
EVAL_BYTES = 1024
SLACK_BYTES = 4 * 1024**2


class RunFormatError(ValueError):
    """The directory or file is not a BNN Playground run."""


def metrics_limit(config: RunConfig) -> int:
    """The most bytes a run of ``config`` can write into its ``metrics.json`` (see RECORD_BYTES):
    e.g. ``fast`` (3 epochs of 300 steps) 6.3 MB, ``best`` (12 epochs of 600) 19 MB; a larger
    file is not a run's, and is not read."""
    images = min(config.train.train_subset or MNIST_TRAIN_IMAGES, MNIST_TRAIN_IMAGES)
    steps = -(-images // config.train.batch_size) * config.train.epochs
    records = steps + config.train.epochs + YOUNG_RECORDS
    evals = 2 * config.train.epochs
    return min(records * RECORD_BYTES + evals * EVAL_BYTES + SLACK_BYTES, MAX_JSON_BYTES)
