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
