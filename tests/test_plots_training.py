"""bnn.plots.training: metric lines, sign-flip lines and run overlays."""

from __future__ import annotations

from bnn import plots
from tests.plot_checks import check_figure


def test_metric_lines():
    series = {"train": ([0, 1, 2], [1.0, float("nan"), 0.5]), "test": ([0, 2], [0.9, 0.7])}
    fig = plots.metric_lines(series, "Loss", "loss", log_y=True)
    check_figure(fig, 2)
    assert [t.name for t in fig.data] == ["train", "test"]
    assert list(fig.data[0].y) == [1.0, None, 0.5]
    assert fig.layout.yaxis.type == "log"
    assert fig.data[0].line.color != fig.data[1].line.color


def test_flip_rate_lines():
    records = [
        {"step": 10, "flip_rate": {"dense1": 0.02, "output": 0.01}},
        {"step": 20, "flip_rate": {"dense1": 0.01, "output": 0.0}},
        {"step": 30, "flip_rate": {"dense1": 0.005}},
    ]
    fig = plots.flip_rate_lines(records)
    check_figure(fig, 2)
    dense1, output = fig.data
    assert dense1.name == "dense1" and list(dense1.x) == [10, 20, 30]
    assert list(dense1.y) == [0.02, 0.01, 0.005]
    assert list(output.x) == [10, 20]


def test_thin_records_keeps_the_last():
    records = [{"step": i} for i in range(1000)]
    kept = plots.thin_records(records, 300)
    assert len(kept) <= 301 and kept[0] is records[0] and kept[-1] is records[-1]
    assert plots.thin_records(records[:10], 300) == records[:10]


def test_run_overlay_marks_short_curves():
    series = {"short": ([1], [90.0]), "long": (list(range(40)), [1.0] * 40)}
    fig = plots.run_overlay(series, "Test accuracy", "accuracy (%)")
    check_figure(fig, 2)
    assert fig.data[0].mode == "lines+markers" and fig.data[1].mode == "lines"
    assert fig.layout.showlegend is True


def _record(step: int, nonfinite: bool = False) -> dict:
    nan = float("nan")
    return {
        "step": step,
        "loss": nan if nonfinite else 1.0 / step,
        "batch_accuracy": 9.87 if nonfinite else 50.0,
        "lr": 1e-2,
        "flip_rate": {"dense1": 0.01},
        "nonfinite": nonfinite,
    }


def test_live_figure_marks_nan_steps_where_the_loss_is_missing():
    records = [_record(1), _record(20, True), _record(40, True)]
    series = plots.live_training_series(records, [])
    assert series["loss/NaN loss"] == ([20, 40], [0.0, 0.0])
    assert series["loss/train batches"][1] == [1.0, None, None]  # the gap the crosses explain
    assert series["accuracy/train batches"][1] == [50.0, 9.87, 9.87]  # the flat line stays visible
    fig = plots.live_training_figure(records, [])
    nan_trace = next(t for t in fig.data if t.name == "NaN loss")
    assert nan_trace.mode == "markers" and nan_trace.xaxis == "x" and list(nan_trace.x) == [20, 40]
    assert "loss/NaN loss" not in plots.live_training_series(records[:1], [])


def test_live_figure_draws_each_live_edit_as_a_labelled_line():
    edits = [
        {"step": 20, "setting": "lr", "layer": None, "old": 1e-2, "new": 5e-3},
        {"step": 30, "setting": "binarize_activations", "layer": "dense2", "old": True, "new": False},
    ]
    fig = plots.live_training_figure([_record(10), _record(40)], [], edits=edits)
    lines = [shape for shape in fig.layout.shapes if shape.type == "line"]
    assert sorted({shape.x0 for shape in lines}) == [20, 30] and len(lines) == 2 * 4  # every panel
    labels = [a.text for a in fig.layout.annotations]
    assert "lr 1e-02 → 5e-03" in labels and "dense2 activations binary → real" in labels


def test_run_overlay_marks_events_in_the_run_colour():
    series = {"a": ([0, 1, 2], [1.0, 2.0, 3.0]), "b": ([0, 1, 2], [1.0, 1.5, 2.0])}
    fig = plots.run_overlay(series, "Loss", "loss", events={"b": [(1.5, "lr 1e-02 → 1e-03")]})
    assert [shape.x0 for shape in fig.layout.shapes] == [1.5]
    assert fig.layout.shapes[0].line.color == fig.data[1].line.color
    assert [a.text for a in fig.layout.annotations] == ["lr 1e-02 → 1e-03"]


def test_live_figure_without_records_shows_its_note_and_no_flip_message():
    labels = [a.text for a in plots.live_training_figure([], [], note="press Start").layout.annotations]
    assert "press Start" in labels and not any("nothing to flip" in label for label in labels)
    no_flips = dict(_record(1))
    no_flips.pop("flip_rate")
    labels = [a.text for a in plots.live_training_figure([no_flips], []).layout.annotations]
    assert "no binarized weights: nothing to flip" in labels


def test_a_run_name_in_a_legend_is_text_not_html():
    from bnn.plots import run_overlay

    figure = run_overlay({'<a href="http://x/">phish</a>': ([0.0, 1.0], [1.0, 2.0])}, "t", "y")
    assert figure.data[0].name == '&lt;a href="http://x/"&gt;phish&lt;/a&gt;'
