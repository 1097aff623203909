"""Training speed with TensorBoard event files written as the run trains (:mod:`bnn.training.tensorboard_log`)
against the same run without them: the budget is >= 0.97 of the speed without.

Runs of ``--preset`` (``--train-subset`` images, default all, ``--epochs`` epochs, saved into a temporary runs
folder as the app saves them) alternate with and without event files, ``--pairs`` pairs, in one
process; a run's speed is the samples it trained per second of its whole life as a job (start to
saved end: steps, evaluations, saves and event files all count). The ratio is the median speed with
over the median speed without, and the median of each pair's ratio (alternation gives both the
same machine load; the machine this was measured on is shared with other jobs). Less noisy: the
share of the runs' time spent inside the event log's methods (timed around each call).
Run: ``python -m benchmarks.tensorboard_speed [--pairs 5] [--epochs 1] [--train-subset 0] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

LOGGING = {"seconds": 0.0}  # time spent in the event log's methods (the training thread's, all of it)


def timed(method):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            LOGGING["seconds"] += time.perf_counter() - started

    return wrapper


def one_run(config, data, runs_dir: str, tensorboard: bool) -> tuple[float, float]:
    """Samples per second of one run as a job, start to saved end, and its seconds."""
    from bnn.jobs.training_job import TrainingJob

    job = TrainingJob(config, data, name="tb" if tensorboard else "plain", runs_dir=runs_dir, tensorboard=tensorboard)
    started = time.perf_counter()
    job.start().join()
    seconds = time.perf_counter() - started
    run = job.snapshot()
    assert run.status == "finished", run.message
    return run.step * config.train.batch_size / seconds, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--pairs", type=int, default=5, help="runs with and without event files, alternating")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-subset", type=int, default=0, help="0: all 60,000 images, as a run trains")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args()

    from bnn.config.presets import PRESETS
    from bnn.training.data import load_mnist
    from bnn.training.devices import use_cpu_threads_for
    from bnn.training.tensorboard_log import EventLog

    EventLog.update, EventLog.close = timed(EventLog.update), timed(EventLog.close)

    config = PRESETS[args.preset].replace_train(epochs=args.epochs, train_subset=args.train_subset)
    data = load_mnist(device="cpu")
    use_cpu_threads_for(config, "cpu")
    with_events, without = [], []
    logged_runs_seconds = 0.0
    with tempfile.TemporaryDirectory() as runs_dir:
        one_run(config, data, runs_dir, True)  # warm-up: torch's one-time costs
        LOGGING["seconds"] = 0.0
        for pair in range(args.pairs):
            order = (True, False) if pair % 2 == 0 else (False, True)
            for tensorboard in order:
                speed, seconds = one_run(config, data, runs_dir, tensorboard)
                (with_events if tensorboard else without).append(speed)
                logged_runs_seconds += seconds if tensorboard else 0.0
            print(f"pair {pair + 1}: with {with_events[-1]:,.0f} samples/s, without {without[-1]:,.0f}", flush=True)
    result = {
        "preset": args.preset,
        "epochs": args.epochs,
        "train_subset": args.train_subset,
        "samples_per_s_with": [round(v) for v in with_events],
        "samples_per_s_without": [round(v) for v in without],
        "ratio_of_medians": round(statistics.median(with_events) / statistics.median(without), 3),
        "median_pair_ratio": round(statistics.median(w / o for w, o in zip(with_events, without)), 3),
        "event_log_share": round(LOGGING["seconds"] / logged_runs_seconds, 4),  # of the runs with event files
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"with event files / without: {result['ratio_of_medians']:.3f} (medians), "
            f"{result['median_pair_ratio']:.3f} (median of pairs); budget >= 0.97; "
            f"time in the event log: {100 * result['event_log_share']:.2f}% of those runs"
        )


if __name__ == "__main__":
    main()
