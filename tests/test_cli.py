"""bnn.cli: ``python -m bnn train`` and ``eval``: JSON output, one-line argument errors, missing data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bnn.cli.commands import _config_from_args, _parser, main
from bnn.config.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
NO_NETWORK = {  # any download goes to a closed local port and fails at once
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "no_proxy": "",
    "NO_PROXY": "",
}


def run_cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bnn", *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow  # a subprocess trains `fast` on 1,000 MNIST images
def test_train_json(mnist_dir: Path, tmp_path: Path):
    out = tmp_path / "runs"
    proc = run_cli(
        "train",
        "--preset",
        "fast",
        "--epochs",
        "1",
        "--train-subset",
        "1000",
        "--json",
        "--data-dir",
        str(mnist_dir),
        "--device",
        "cpu",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {
        "preset",
        "epochs",
        "test_accuracy",
        "train_accuracy",
        "final_loss",
        "seconds",
        "prediction_histogram",
    } <= set(result)
    assert result["preset"] == "fast" and result["epochs"] == 1
    assert len(result["prediction_histogram"]) == 10 and sum(result["prediction_histogram"]) == 10000
    assert sum(result["train_prediction_histogram"]) == 1000
    assert 10.0 < result["test_accuracy"] <= 100.0 and 0.0 <= result["train_accuracy"] <= 100.0
    assert result["final_loss"] > 0 and result["seconds"] > 0
    assert result["first_nonfinite_step"] is None and result["device"] == "cpu"
    # --out saved the run, loadable
    from bnn.jobs.run_folders import load_run

    (saved,) = list(out.iterdir())
    run = load_run(saved)
    assert run.name == "fast-seed0" and run.preset == "fast"
    assert run.config == PRESETS["fast"].replace_train(epochs=1, train_subset=1000)
    assert run.summary["test_accuracy"] == pytest.approx(result["test_accuracy"], abs=0.01)


def _error(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--preset", "nope"], "argument --preset: invalid choice: 'nope'"),
        (["train", "--lr", "-1"], "Learning rate must be in (0, 10], got -1.0"),
        (["train", "--lr", "0"], "Learning rate must be in (0, 10], got 0.0"),
        (["train", "--epochs", "0"], "Epochs must be in [1, 1000], got 0"),
        (["train", "--epochs", "abc"], "argument --epochs: invalid int value: 'abc'"),
        (["train", "--batch-size", "0"], "Batch size must be in [1, 60,000], got 0"),
        (["train", "--seed", "99999999999999999999"], "Seed must be in [0, 4,294,967,295]"),
        (["train", "--optimizer", "rmsprop"], "argument --optimizer: invalid choice"),
        (["train", "--bogus"], "unrecognized arguments: --bogus"),
        (["train", "--device", "foo"], "unknown device 'foo'; choose one of auto, cpu, cuda, cuda:N, mps"),
        (["train", "--resume", "some-run", "--epochs", "3"], "--resume continues a run with its own settings"),
        (["train", "--resume", "no-such-run"], "cannot resume no-such-run"),
        (["train", "--train-eval", "sometimes"], "argument --train-eval: invalid choice"),
        (["eval", "no-such-run"], "cannot evaluate no-such-run: "),
        (["eval", "/"], "cannot evaluate /: / is not a BNN Playground run"),
        (["eval"], "the following arguments are required: RUN"),
        ([], "the following arguments are required: command"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv, fragment):
    line = _error(capsys, *argv)
    assert fragment in line
    assert "error:" in line


def test_overrides_reach_the_config():
    args = _parser().parse_args(
        [
            "train",
            "--preset",
            "paper",
            "--epochs",
            "3",
            "--lr",
            "0.5",
            "--optimizer",
            "sgd",
            "--batch-size",
            "64",
            "--seed",
            "9",
            "--train-subset",
            "100",
        ]
    )
    config = _config_from_args(args)
    assert config == PRESETS["paper"].replace_train(
        epochs=3, lr=0.5, optimizer="sgd", batch_size=64, seed=9, train_subset=100
    )
    default = _config_from_args(_parser().parse_args(["train"]))
    assert default == PRESETS["fast"]


def test_missing_data_without_network_in_process(tmp_path: Path, monkeypatch, capsys):
    import torchvision.datasets

    def offline(root, train=True, download=False):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    missing = tmp_path / "no-mnist-here"
    code = main(["train", "--epochs", "1", "--data-dir", str(missing)])
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: MNIST is not in ")
    assert str(missing / "MNIST" / "raw") in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.slow  # a fresh process imports torch
def test_missing_data_without_network_subprocess(tmp_path: Path):
    missing = tmp_path / "empty-data-dir"
    proc = run_cli("train", "--epochs", "1", "--data-dir", str(missing), env=NO_NETWORK, timeout=60)
    assert proc.returncode != 0
    assert str(missing / "MNIST" / "raw") in proc.stderr
    assert "could not be downloaded" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_device_cuda_without_cuda_is_one_line(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = _error(capsys, "train", "--device", "cuda", "--epochs", "1")
    assert "device 'cuda': no CUDA GPU is usable here" in line and "this machine has: cpu" in line


@pytest.mark.slow  # trains on MNIST three times
def test_resume_after_a_crash_ends_as_the_uninterrupted_run(mnist_dir: Path, tmp_path: Path, monkeypatch, capsys):
    import torch

    import bnn.jobs.training_job

    argv = ["train", "--preset", "seed-fixed", "--epochs", "2", "--train-subset", "300", "--device", "cpu"]
    argv += ["--data-dir", str(mnist_dir), "--json"]
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0
    whole = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    saves = []
    real_save = bnn.jobs.training_job.save_run

    def crash_after_the_first_checkpoint(run, directory, **files):
        path = real_save(run, directory, **files).path
        saves.append(sorted(p.name for p in path.iterdir()))
        raise KeyboardInterrupt  # the process dies right after writing epoch 1

    monkeypatch.setattr(bnn.jobs.training_job, "save_run", crash_after_the_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        main([*argv, "--out", str(tmp_path / "crashed")])
    assert saves == [["checkpoint.pt", "config.json", "meta.json", "metrics.json", "weights.pt"]]
    monkeypatch.setattr(bnn.jobs.training_job, "save_run", real_save)
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "crashed" / "seed-fixed-seed0"), "--json"]) == 0
    resumed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    for key in ("test_accuracy", "train_accuracy", "final_loss", "test_loss", "prediction_histogram"):
        assert resumed[key] == whole[key], key
    weights = [torch.load(tmp_path / d / "seed-fixed-seed0" / "weights.pt") for d in ("whole", "crashed")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not (tmp_path / "crashed" / "seed-fixed-seed0" / "checkpoint.pt").exists()  # finished: none left


def test_eval_agrees_with_the_accuracy_the_run_recorded(mnist_dir: Path, tmp_path: Path, capsys):
    argv = ["train", "--preset", "fast", "--epochs", "1", "--train-subset", "500", "--device", "cpu"]
    assert main([*argv, "--data-dir", str(mnist_dir), "--out", str(tmp_path), "--json"]) == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for run in (trained["run"], "fast-seed0"):  # its folder, or its name in --runs-dir
        assert main(["eval", run, "--runs-dir", str(tmp_path), "--data-dir", str(mnist_dir), "--json"]) == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert result["agrees"] is True and result["run"] == trained["run"]
        assert result["test_accuracy"] == pytest.approx(trained["test_accuracy"], abs=0.01)
        assert result["recorded_test_accuracy"] == pytest.approx(result["test_accuracy"], abs=0.01)
        assert sum(result["prediction_histogram"]) == 10000
    assert main(["eval", trained["run"], "--data-dir", str(mnist_dir)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("fast-seed0: test accuracy") and line.endswith("; agrees)")


PRETRAINED = ROOT / "assets" / "pretrained-fast"


@pytest.mark.parametrize("fmt", ["packed", "onnx", "c"])
def test_export_writes_each_format(fmt, tmp_path: Path, capsys):
    from bnn import load_packed
    from bnn.jobs.run_folders import load_run

    pytest.importorskip("onnx") if fmt == "onnx" else None
    out = tmp_path / f"fast.{'bnnx' if fmt == 'packed' else fmt}"
    assert main(["export", str(PRETRAINED), "--to", fmt, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and out.stat().st_size > 10_000
    if fmt == "packed":  # the file round-trips: the same scores as the run's packed model
        import numpy as np

        from bnn.xnor import export_packed

        x = np.random.default_rng(0).integers(0, 256, (20, 784)) / 255.0
        expect = export_packed(load_run(PRETRAINED).model().eval()).scores(x)
        np.testing.assert_array_equal(load_packed(out).scores(x), expect)
    if fmt == "c":
        assert (tmp_path / "fast.h").is_file() and '#include "fast.h"' in out.read_text()
        assert "RAM: 1,156 bytes" in printed and "256 kB flash, 64 kB RAM: does not fit" in printed


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["export", "no-such-run", "--to", "c"], "cannot export no-such-run: "),
        (["export", str(PRETRAINED), "--to", "tflite"], "invalid choice: 'tflite'"),
        (["export", str(PRETRAINED)], "the following arguments are required: --to"),
        (["export", str(PRETRAINED), "--to", "onnx", "--out", "/no/such/folder/m.onnx"], "does not exist"),
        (["export", str(PRETRAINED), "--to", "packed", "--out", str(ROOT)], "is a folder"),
    ],
)
def test_export_refuses_bad_runs_formats_and_paths_in_one_line(args, fragment, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("BNN_RUNS_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err


def test_export_refuses_a_model_the_format_cannot_hold(tmp_path: Path, capsys, monkeypatch):
    from bnn.config.model_settings import LayerConfig, ModelConfig
    from bnn.config.schema import RunConfig
    from bnn.jobs.run import Run, Status
    from bnn.jobs.run_folders import save_run

    config = RunConfig(model=ModelConfig(layers=(LayerConfig(16, binarize_weights=False), LayerConfig(10))))
    from bnn.network.models import build_model

    run = save_run(Run(name="real", config=config, status=Status.FINISHED), tmp_path, model=build_model(config.model))
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(run.path), "--to", "c", "--out", str(tmp_path / "real.c")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1].startswith("python -m bnn: error: cannot export real: layer") and "cannot be exported to C" in err[-1]
    )


def test_the_default_run_name_is_new_in_the_runs_folder(tmp_path: Path, monkeypatch, capsys):
    import bnn.cli.commands

    (tmp_path / "fast-seed0").mkdir()  # an earlier run of the same preset and seed, unfinished or not
    names = []
    monkeypatch.setattr(bnn.cli.commands, "load_mnist_or_report", lambda data_dir: object())
    monkeypatch.setattr(bnn.cli.commands, "_train", lambda args, run, *rest: names.append(run.name) or 0)
    assert main(["train", "--out", str(tmp_path), "--device", "cpu"]) == 0
    assert names == ["fast-seed0-2"]
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", str(tmp_path), "--device", "cpu", "--name", "two\nlines"])
    assert exit_info.value.code == 2 and "control characters" in capsys.readouterr().err
