"""examples/tour.ipynb in a real JupyterLab (this environment's, as ``pip install ".[notebook]"``
installs it) driven through its UI in Chromium: Run > Run All Cells, then no cell error, every
Plotly output drawn (an SVG with data, not a blank gap), the live figure's traces growing while its
run trains, and no error thrown in the page. The notebook is a copy in a temporary folder, so the
server's autosave never writes outputs into examples/."""

from __future__ import annotations

import json
import shutil

import pytest
from browser import ROOT, browser_available, chromium_page, jupyterlab_server

TOUR = ROOT / "examples" / "tour.ipynb"
RUN_ALL_S = 1200  # the tour trains three runs on MNIST: 2-5 minutes here, more on a busy machine


def jupyterlab_available() -> bool:
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        return False
    return True


pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not browser_available(), reason="needs /usr/bin/chromium and playwright"),
    pytest.mark.skipif(not jupyterlab_available(), reason='needs JupyterLab (pip install ".[notebook]")'),
]

LIVE_POINTS = """() => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  const live = cells.find((cell) => cell.querySelector('.jp-InputArea-editor').textContent.includes('live=True'));
  const graph = live && live.querySelector('.jp-OutputArea .js-plotly-plot');
  return graph && graph._fullData ? graph._fullData.reduce((n, trace) => n + (trace._length || 0), 0) : 0;
}"""
# the live figure's point count at every change of the page (a MutationObserver: each redraw is seen,
# however fast the run trains), in window.__livePoints
RECORD_LIVE_POINTS = f"""() => {{
  const count = {LIVE_POINTS};
  window.__livePoints = [];
  new MutationObserver(() => {{
    const n = count();
    if (n && n !== window.__livePoints[window.__livePoints.length - 1]) window.__livePoints.push(n);
  }}).observe(document.body, {{ childList: true, subtree: true, attributes: true }});
}}"""
ALL_RUN = """() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')];
  return prompts.length > 0 && prompts.every((p) => !['[*]:', '[ ]:'].includes(p.textContent.trim()));
}"""
# the active cell's Plotly outputs are drawn (JupyterLab's Plotly renderer draws an output once in view)
ACTIVE_DRAWN = """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell.jp-mod-active .js-plotly-plot')]
  .every((graph) => graph.querySelector('svg.main-svg'))"""

# every Plotly output: drawn means an SVG whose plot area holds data (lines, markers or images)
PLOTLY = "application/vnd.plotly.v1+json"
DRAWN = """(mime) => [...document.querySelectorAll('.jp-OutputArea-output')]
  .filter((output) => output.matches('.js-plotly-plot, :has(.js-plotly-plot)') || output.dataset.mimeType === mime)
  .map((output) => {
    const cell = output.closest('.jp-Cell');
    const prompt = cell.querySelector('.jp-InputArea-prompt').textContent.trim();
    const key = `${prompt} ${[...cell.querySelectorAll('.jp-OutputArea-output')].indexOf(output)}`;
    // a Plotly output is the graph itself; a widget's holds it
    const graph = output.matches('.js-plotly-plot') ? output : output.querySelector('.js-plotly-plot');
    const svg = graph && graph.querySelector('svg.main-svg');
    const marks = svg ? svg.querySelectorAll('path.js-line, path.point, g.hm image').length : 0;
    const withData = graph && graph._fullData ? graph._fullData.filter((t) => t._length || t.z).length : 0;
    return {key, marks, withData, width: graph ? graph.getBoundingClientRect().width : 0};
  })"""

STDERR = "application/vnd.jupyter.stderr"  # error outputs too
ERRORS = """(mime) => [...document.querySelectorAll(`.jp-OutputArea-output[data-mime-type="${mime}"]`)]
  .map((output) => output.textContent).filter((text) => /Traceback|Error/.test(text))"""


def open_notebook(page, url: str, token: str, name: str) -> None:
    page.goto(f"{url}/lab/tree/{name}?reset&token={token}")  # reset: this notebook alone, no restored tabs
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    page.wait_for_function("() => document.body.innerText.includes('| Idle')", timeout=90_000)  # the kernel


def run_all_cells(page) -> None:
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")


CELLS_AT_MOST = 60  # the tour has 29
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}


def every_plot_as_scrolled_to(page) -> list[dict]:
    """Every Plotly output of the notebook, read as a user walks from its last cell to its first
    (JupyterLab keeps only the cells near the view in the page; the active cell is scrolled to)."""
    page.click(".jp-Notebook .jp-Cell.jp-mod-active .jp-InputPrompt")
    page.keyboard.press("Escape")  # command mode: "k" selects the cell above
    seen: dict[str, dict] = {}
    for _ in range(CELLS_AT_MOST):
        page.wait_for_function(ACTIVE_DRAWN, timeout=30_000)
        seen.update((plot["key"], plot) for plot in page.evaluate(DRAWN, PLOTLY))
        page.keyboard.press("k")
    return list(seen.values())


@pytest.mark.slow  # trains on MNIST in a JupyterLab kernel
def test_the_tour_runs_in_jupyterlab_through_its_ui(mnist_dir, tmp_path):
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(TOUR, root / TOUR.name)
    env = {"BNN_RUNS_DIR": str(tmp_path / "runs"), "BNN_DATA_DIR": str(mnist_dir), "PYTHONPATH": str(ROOT)}
    # every cell kept in the page (JupyterLab's default keeps those near the view only), so that
    # the live figure can be watched while "Run All" runs further down; no news pop-up
    settings = tmp_path / "settings"
    for name, values in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    env["JUPYTERLAB_SETTINGS_DIR"] = str(settings)
    page_errors: list[str] = []
    with jupyterlab_server(root, env) as (url, token), chromium_page(1400, 1000) as page:
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        open_notebook(page, url, token, TOUR.name)
        page.evaluate(RECORD_LIVE_POINTS)
        run_all_cells(page)
        page.wait_for_function(ALL_RUN, timeout=RUN_ALL_S * 1000)
        live_points = page.evaluate("() => window.__livePoints")
        page.screenshot(path=str(tmp_path / "tour-end.png"))
        assert not page.evaluate(ERRORS, STDERR)
        drawn = every_plot_as_scrolled_to(page)
    assert len(drawn) >= 6, drawn  # seed, comparison, live, final figure, weights, activations
    assert all(plot["marks"] and plot["withData"] for plot in drawn), drawn
    # drawn while the run trained, then with more points: the figure grew (at every redraw, however fast)
    assert len(live_points) >= 2 and live_points[0] < max(live_points), live_points
    assert not page_errors, page_errors
