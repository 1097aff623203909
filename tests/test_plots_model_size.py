"""bnn.plots.model_size: size bars, 32-bit against 1-bit packed."""

from __future__ import annotations

from bnn import plots
from tests.plot_checks import check_figure


def test_size_bars_show_a_name_as_text():
    """Plotly renders <a href> and <img>-like markup in tick labels: a run's name stays text."""
    fig = plots.size_bars([('<a href="http://x">phish</a>', 1000, 40)])
    assert all("<a " not in str(label) and "&lt;a" in str(label) for label in fig.data[0].x)


def test_size_bars():
    rows = [("paper MLP", 147_226_624, 4_600_832), ("CNN", 1_688_440, 56_800)]
    fig = plots.size_bars(rows)
    check_figure(fig, 2)
    full, packed = fig.data
    assert list(full.text) == ["147 MB", "1.69 MB"]
    assert list(packed.text) == ["4.6 MB", "56.8 kB"]
    assert fig.layout.barmode == "group" and fig.layout.yaxis.type != "log"  # 32x smaller looks 32x smaller
    assert list(full.y) == [1.0, 1.0] and abs(packed.y[0] - 4_600_832 / 147_226_624) < 1e-12
    assert "32.0× smaller" in full.x[0] and "29.7× smaller" in full.x[1]  # the ratio is written
