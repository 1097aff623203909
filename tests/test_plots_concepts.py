"""bnn.plots.concepts: the STE diagram and the XNOR-popcount walk-through."""

from __future__ import annotations

from bnn import plots
from tests.plot_checks import check_figure, heatmap_z


def test_ste_figure():
    fig = plots.ste_figure()
    check_figure(fig, 3)
    sign_trace, ste, identity = fig.data
    assert list(sign_trace.y) == [-1, -1, 1, 1]
    assert max(ste.y) == 1 and min(ste.y) == 0
    assert list(ste.x)[1:5] == [-1, -1, 1, 1]  # gradient is 1 on |x| <= 1
    assert identity.line.dash == "dash"
    assert tuple(fig.layout.xaxis.range) == (-2, 2)
    check_figure(plots.ste_figure(show_htanh=True), 4)


def test_xnor_walkthrough():
    from bnn.xnor import xnor_dot_example

    a, b = [1, -1, 1, 1, -1, -1, 1, -1], [1, 1, -1, 1, -1, 1, 1, 1]
    example = xnor_dot_example(a, b)
    fig = plots.xnor_walkthrough(example)
    check_figure(fig, 1)
    z = heatmap_z(fig)
    assert z.shape == (6, len(a) + 1)  # a, b, their bits, XOR, products; a column per element + Σ
    assert list(fig.layout.xaxis.ticktext)[-1] == "Σ" and list(fig.data[0].x) == list(range(len(a) + 1))
    assert list(z[4, :-1]) == [2 + v for v in example["xor_bits"]]  # differing signs get their own colour
    cells = {(ann.y, ann.x): ann.text for ann in fig.layout.annotations}
    assert [cells[("a", i)] for i in range(len(a))] == [f"{v:+d}" for v in a]  # each value in its own cell
    totals = {ann.y: ann.text for ann in fig.layout.annotations if ann.x == len(a)}
    plain = sum(x * y for x, y in zip(a, b))
    assert totals == {"a XOR b": f"<b>{example['popcount']}</b>", "a × b": f"<b>{plain}</b>"}
    assert f"= {example['dot']}" in fig.layout.title.text and example["dot"] == plain
    check_figure(plots.xnor_walkthrough(xnor_dot_example([1], [-1])), 1)
