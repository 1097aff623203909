"""bnn.plots.efficiency: size bars, 32-bit against 1-bit packed."""

from __future__ import annotations

from bnn import plots
from tests.plot_checks import check_figure


def test_size_bars():
    rows = [("paper MLP", 147_226_624, 4_600_832), ("CNN", 1_688_440, 56_800)]
    fig = plots.size_bars(rows)
    check_figure(fig, 2)
    full, packed = fig.data
    assert list(full.text) == ["147 MB", "1.69 MB"]
    assert list(packed.text) == ["4.6 MB", "56.8 kB"]
    assert fig.layout.barmode == "group" and fig.layout.yaxis.type == "log"
    linear = plots.size_bars(rows, log_y=False)
    assert linear.layout.yaxis.type != "log"
