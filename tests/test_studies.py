"""Studies (bnn.jobs.studies, python -m bnn study, the Study page): the variants of an ablation and a
sweep, the cap, the JSON keys, the printed commands run as printed, a study resumed after a crash,
and the Study page (AppTest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bnn import plots
from bnn.config.presets import preset
from bnn.jobs.run import Run, Status
from bnn.jobs.run_folders import load_run, save_run
from bnn.jobs.run_listing import list_runs
from bnn.jobs.run_slots import RunSlots
from bnn.jobs.studies import MAX_RUNS, StudyError, make_study
from bnn.jobs.study_folders import open_study, pending_runs, save_study, saved_runs, train_commands
from bnn.jobs.study_job import StudyJob
from bnn.jobs.study_results import collect
from bnn.jobs.training_job import TrainingJob
from bnn.plots.pareto import pareto_front
from bnn.training.loop import Trainer
from tests.conftest import ROOT, app_page, shrink

JSON_KEYS = {"name", "changes", "test_accuracy", "bits", "binary_mac_share", "seconds"}


def _variants(study):
    return {variant.name: variant for variant in study.variants()}


def test_ablation_varies_every_layer_the_output_included():
    variants = _variants(make_study("a", preset("fast"), epochs=1))
    assert variants["base"].changes == ()
    for layer in ("dense1", "dense2", "output"):
        assert variants[f"{layer} real weights"].changes == (f"{layer}: binary weights off",)
    assert variants["dense1 real activations"].changes == ("dense1: binary activations off",)
    assert variants["output binary activations"].changes == ("output: binary activations on",)
    assert variants["output binary activations"].config.model.layers[-1].binarize_activations
    full, binary, base = variants["full precision"], variants["all binarized"], variants["base"]
    assert not any(layer.binarize_weights or layer.binarize_activations for layer in full.config.model.layers)
    assert full.bits == 32 * sum(
        p.numel() for p in __import__("bnn.network.models").network.models.build_model(full.config.model).parameters()
    )
    assert full.bits > base.bits and full.binary_mac_share == 0
    assert binary.binary_mac_share == 1.0 and binary.changes == ("input: binary pixels on",)
    assert all(v.config.train.epochs == 1 for v in variants.values())


def test_ablation_leaves_out_variants_equal_to_an_earlier_one():
    variants = _variants(make_study("a", preset("float"), epochs=1))
    assert "full precision" not in variants  # the float preset is full precision already
    assert len({v.config for v in variants.values()}) == len(variants)


def test_sweep_is_the_grid_of_typed_values_checked_like_a_link():
    study = make_study("s", preset("fast"), kind="sweep", grid="lr = 0.01, 0.001, 0.0005\nOptimizer = adam, sgd")
    variants = study.variants()
    assert len(variants) == 6
    assert {v.config.train.lr for v in variants} == {0.01, 0.001, 0.0005}
    assert variants[0].name == "base" and variants[0].changes == ()  # lr 0.01 with adam is fast itself
    assert "Learning rate: 0.001" in variants[2].changes
    assert len(make_study("s", preset("fast"), kind="sweep", grid=["batch_size=50,100"], seeds=3).runs()) == 6


@pytest.mark.parametrize(
    ("kind", "grid", "seeds", "message"),
    [
        ("sweep", "learning_speed = 1, 2", 1, "'learning_speed' is not a setting"),
        ("sweep", "lr = fast", 1, "Learning rate must be a finite number"),
        ("sweep", "lr = -1", 1, "Learning rate must be in"),
        ("sweep", "", 1, "has no settings"),
        ("sweep", "lr =", 1, "has no values"),
        ("sweep", "seed = " + ",".join(str(i) for i in range(MAX_RUNS + 1)), 1, f"at most {MAX_RUNS} runs"),
        ("ablation", "", 8, f"9 variants x 8 seeds = 72 runs: a study trains at most {MAX_RUNS}"),
        ("ablation", "", 0, "seeds must be a whole number"),
    ],
)
def test_bad_study_input_gets_one_clear_message(kind, grid, seeds, message):
    with pytest.raises(StudyError, match=message.replace("(", r"\(")):
        make_study("bad", preset("fast"), kind=kind, grid=grid, seeds=seeds, epochs=1)


def test_a_folder_that_is_not_a_study_is_refused(tmp_path):
    with pytest.raises(StudyError, match="not a study folder"):
        open_study(tmp_path)
    (tmp_path / "study.json").write_text('{"format": "something else"}')
    with pytest.raises(StudyError, match="not a study folder that can be read"):
        open_study(tmp_path)
    (tmp_path / "keep.txt").write_text("mine")
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(StudyError, match="not empty and not a study folder"):
        save_study(make_study("s", preset("fast")), other)
    assert (other / "keep.txt").read_text() == "mine"


def _cli(*args, cwd=ROOT, **options):
    return subprocess.run([sys.executable, "-m", "bnn", *args], cwd=cwd, capture_output=True, text=True, **options)


def test_commands_run_as_printed_and_collect_reports_the_json_keys(tmp_path, mnist_dir):
    folder = tmp_path / "study"
    printed = _cli(
        "study",
        "--preset",
        "fast",
        "--ablate",
        "--epochs",
        "1",
        "--train-subset",
        "200",
        "--out",
        str(folder),
        "--commands",
    )
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.strip().splitlines()
    assert len(lines) == 9 and all(line.startswith("python -m bnn train ") for line in lines)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "BNN_DATA_DIR": str(mnist_dir),
    }
    chosen = [line for line in lines if "· base'" in line or "output binary activations" in line]
    for line in chosen:  # as printed, by a shell
        done = subprocess.run(line, shell=True, cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    collected = _cli("study", "--collect", str(folder), "--json")
    assert collected.returncode == 0, collected.stderr
    report = json.loads(collected.stdout.strip().splitlines()[-1])
    variants = {v["name"]: v for v in report["variants"]}
    assert all(JSON_KEYS <= set(v) for v in variants.values())
    assert variants["base"]["changes"] == [] and variants["base"]["test_accuracy"] is not None
    assert variants["output binary activations"]["changes"] == ["output: binary activations on"]
    assert variants["full precision"]["test_accuracy"] is None  # not trained: nothing made up
    assert variants["full precision"]["bits"] > variants["base"]["bits"]
    study = open_study(folder)
    trained = {load_run(run.path).config for run in list_runs(folder)}
    assert trained == {v.config for v in study.variants() if v.name in ("base", "output binary activations")}
    assert len(train_commands(study, folder)) == 7  # the finished ones are not printed again


def test_study_trains_here_and_prints_json(tmp_path, mnist_dir):
    folder = tmp_path / "study"
    args = ("study", "--sweep", "batch_size=100", "--epochs", "1", "--train-subset", "100", "--out", str(folder))
    done = _cli(*args, "--json", env={**os.environ, "BNN_DATA_DIR": str(mnist_dir)})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert [v["name"] for v in report["variants"]] == ["batch_size=100"]
    assert JSON_KEYS <= set(report["variants"][0]) and report["variants"][0]["test_accuracy"] is not None
    assert _cli("study", "--collect", str(tmp_path)).stderr.strip().endswith("it has no study.json")
    assert _cli("study", "--sweep", "nope=1").returncode == 2


def _tiny_study(epochs: int = 2):
    base = shrink(preset("fast"), 16).replace_train(batch_size=64)
    return make_study("tiny", base, kind="sweep", grid="lr = 0.01, 0.005, 0.002", epochs=epochs)


def test_a_study_resumes_after_a_crash(tmp_path, tiny_data):
    study, folder = _tiny_study(), tmp_path / "study"
    save_study(study, folder)
    (first, first_config), (second, second_config) = [(n, c) for _, n, c in study.runs()][:2]
    StudyJob(study, folder, tiny_data, record_every=1).jobs[first].start().join()  # one run finished
    finished = saved_runs(folder)[first]
    # the crash: the second run saved its first epoch with a checkpoint, then its process died
    trainer = Trainer(second_config, tiny_data, "cpu", record_every=1)
    saved = []
    run = Run(name=second, config=second_config)
    for _ in trainer.steps(
        on_epoch_end=lambda t: saved.append(
            save_run(
                run.but(records=list(t.records), evals=list(t.evals)), folder, model=t.model, checkpoint=t.state_dict()
            )
        )
    ):
        if saved:
            break
    crashed_at = saved[0].records[-1]["step"]
    pending = pending_runs(study, folder)
    assert [(name, resume is not None) for name, _, resume in pending] == [(second, True), (study.runs()[2][1], False)]

    job = StudyJob(study, folder, tiny_data, slots=RunSlots(2), record_every=1).start()
    assert job.join(120)
    results = collect(study, folder)
    assert [r.status for r in results] == ["finished"] * 3 and all(r.test_accuracy is not None for r in results)
    resumed = load_run(saved[0].path)
    assert resumed.records[: len(saved[0].records)] == saved[0].records  # continued, not restarted
    assert resumed.step == 2 * crashed_at and len(resumed.records) == resumed.step
    assert finished.status == Status.FINISHED
    assert load_run(finished.path).created == finished.created  # the finished run was kept as it was
    assert pending_runs(study, folder) == []


def _finished_study(runs_dir: Path, tiny_data, seeds: int = 1) -> Path:
    base = shrink(preset("fast"), 16).replace_train(batch_size=64)
    study = make_study("tiny-ablation", base, epochs=1, seeds=seeds, preset="fast")
    folder = runs_dir / "tiny-ablation"
    StudyJob(study, folder, tiny_data).start().join()
    return folder


def test_the_study_page_shows_a_finished_study_and_opens_a_variant_in_compare(runs_dir, tiny_data):
    folder = _finished_study(runs_dir, tiny_data, seeds=2)
    at = app_page("study").run()
    assert not at.exception
    assert "Study: what does each binarization cost?" in at.title[0].value
    assert any("9 variants × 1 seed(s) = 9 runs" in md.value for md in at.markdown)  # the new-study preview of fast
    assert any("18 of 18 runs done" in md.value for md in at.markdown)
    table = at.dataframe[-1].value
    assert list(table["variant"])[:1] == ["base"] and "output: binary activations on" in list(table["what it changes"])
    assert table["± (seeds)"].notna().all()
    assert len(at.get("plotly_chart")) == 1
    at.multiselect(key="st_compare").set_value(["base", "output binary activations"])
    at.button[[b.label for b in at.button].index("Open in Compare")].click().run()
    assert not at.exception
    assert sorted(at.multiselect(key="cmp_runs").value) == sorted(
        f"tiny-ablation · {name} · seed {seed}" for name in ("base", "output binary activations") for seed in (0, 1)
    )
    assert folder.is_dir()


def test_the_study_page_offers_to_resume_an_unfinished_study_and_refuses_bad_input(runs_dir, tiny_data):
    study = _tiny_study(epochs=1)
    save_study(study, runs_dir / "tiny")
    (runs_dir / "broken").mkdir()
    (runs_dir / "broken" / "study.json").write_text("{")
    at = app_page("study").run()
    at.selectbox(key="st_pick").set_value(runs_dir / "tiny").run()
    assert any("3 run(s) still to train" in info.value for info in at.info)
    at.button[[b.label for b in at.button].index("Resume the study")].click().run()
    assert not at.exception
    at.selectbox(key="st_pick").set_value(runs_dir / "broken").run()
    assert any("not a study folder that can be read" in error.value for error in at.error)
    at.radio(key="st_kind").set_value("sweep").run()
    at.text_area(key="st_grid").input("learning_speed = 1, 2").run()
    assert any("'learning_speed' is not a setting" in error.value for error in at.error)
    from ui.study_jobs import study_jobs

    job = study_jobs()[str(runs_dir / "tiny")]
    job.stop()
    assert job.join(60)
    assert all(run.status in (Status.STOPPED, Status.FINISHED) for run in job.live().values())


def test_training_jobs_of_a_study_share_the_slots(tmp_path, tiny_data):
    slots = RunSlots(1)
    job = StudyJob(_tiny_study(epochs=1), tmp_path / "s", tiny_data, slots=slots)
    assert all(isinstance(j, TrainingJob) for j in job.jobs.values()) and len(job.jobs) == 3
    job.start()
    assert job.join(120)
    assert {run.status for run in job.live().values()} == {Status.FINISHED}


def test_the_chart_marks_the_pareto_front_and_the_seed_spread():
    points = [
        {"name": "cheap", "test_accuracy": 90.0, "test_accuracy_spread": 0.5, "bits": 10, "binary_mac_share": 1.0},
        {"name": "dominated", "test_accuracy": 89.0, "test_accuracy_spread": 0.4, "bits": 20, "binary_mac_share": 0.5},
        {"name": "best", "test_accuracy": 97.0, "test_accuracy_spread": 0.1, "bits": 100, "binary_mac_share": 0.0},
        {"name": "waiting", "test_accuracy": None, "test_accuracy_spread": None, "bits": 5, "binary_mac_share": 1.0},
    ]
    assert [points[i]["name"] for i in pareto_front(points, "bits")] == ["cheap", "best"]
    assert [points[i]["name"] for i in pareto_front(points, "binary_mac_share")] == ["cheap", "best"]
    figure = plots.study_chart(points, "bits")
    markers = [trace for trace in figure.data if trace.mode == "markers+text"]
    assert sorted(name for trace in markers for name in trace.hovertext) == ["best", "cheap", "dominated"]
    assert all(trace.error_y.visible for trace in markers)
    assert figure.layout.xaxis.type == "log"


def test_study_this_configuration_takes_the_train_settings_to_the_study_page(runs_dir):
    at = app_page("train")
    at.query_params.update({"preset": "fast", "layers": "d64-wab-0_d10-wb-0"})
    at.run()
    at.button[[b.label for b in at.button].index("Study this configuration")].click().run()
    assert not at.exception
    assert "Study: what does each binarization cost?" in at.title[0].value
    assert at.selectbox(key="st_base").value == "the Train settings: custom (from fast)"
    assert any(caption.value.startswith("784-64-10 MLP") for caption in at.caption)
    variants = list(at.dataframe[0].value["variant"])
    assert variants[:2] == ["base", "dense1 real weights"] and "output binary activations" in variants
