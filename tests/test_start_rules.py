"""bnn.jobs.start_rules: one rule set for every way a run starts. The Train page, bnn.train,
python -m bnn train and studies refuse the same runs with the same words."""

from __future__ import annotations

import re

import pytest
from test_cli import run_cli

import bnn
from bnn.cli.commands import main, with_link_settings
from bnn.config.presets import PRESETS
from bnn.jobs.start_rules import RunLimits, start_problems
from bnn.jobs.studies import StudyError, make_study

FIVE_CLASSES = "layers=d256-wab-0_d5-wb-0"  # valid settings, but 5 output units for MNIST's 10 digits
REFUSAL = "the output layer must have 10 units, one per digit (got 5)"
PLENTY = 1 << 40  # bytes of free memory: the memory rule passes


def five_classes():
    return with_link_settings(PRESETS["fast"], [FIVE_CLASSES])


def test_ten_output_units_is_a_rule_of_bnn():
    assert start_problems(five_classes(), available_bytes=PLENTY) == [REFUSAL]
    assert start_problems(PRESETS["fast"], available_bytes=PLENTY) == []


def test_the_settings_problems_come_before_the_memory_and_the_limits():
    bad = PRESETS["fast"].replace_train(lr=-1.0)
    problems = start_problems(bad, RunLimits(max_epochs=0), available_bytes=1)
    assert problems and not any("memory" in p or "shared server" in p for p in problems)


def test_memory_then_a_shared_servers_limits():
    assert "of memory" in start_problems(PRESETS["fast"], RunLimits(max_epochs=0), available_bytes=1)[0]
    config = PRESETS["fast"]
    problems = start_problems(config, RunLimits(max_layers=1, max_epochs=0), available_bytes=PLENTY)
    assert problems == [
        f"{len(config.model.layers)} layers; this shared server allows at most 1",
        f"{config.train.epochs} epochs; this shared server allows at most 0",
    ]
    assert start_problems(config, RunLimits(), available_bytes=PLENTY) == []


def test_the_api_refuses_what_the_page_refuses(tmp_path):
    with pytest.raises(ValueError, match=re.escape(REFUSAL)):
        bnn.train(five_classes(), runs_dir=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing started, nothing saved


def test_the_cli_refuses_what_the_page_refuses_in_one_line(capsys, tmp_path):
    with pytest.raises(SystemExit) as exited:
        main(["train", "--set", FIVE_CLASSES, "--out", str(tmp_path)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].endswith(REFUSAL) and "Traceback" not in err


@pytest.mark.slow  # a fresh process imports torch
def test_python_m_bnn_train_refuses_without_a_traceback(tmp_path):
    proc = run_cli("train", "--set", FIVE_CLASSES, "--out", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith(REFUSAL) and "Traceback" not in proc.stderr


def test_a_study_refuses_what_the_page_refuses():
    with pytest.raises(StudyError, match=re.escape(REFUSAL)):
        make_study("five", five_classes())
