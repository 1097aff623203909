"""Start -> the first point on the live chart, timed inside the page in Chromium (issue 22).

    python benchmarks/first_point.py [--rounds 3] [--preset fast] [--young 10] [--pause 0]

Each round starts a fresh server (MNIST on disk, read in the background at startup as the app
does), opens the Train page, waits until the page is idle and shows the (empty) live chart (and
``--pause`` seconds more, a person's reaction), clicks Start and times, with
``performance.now()`` in the page, the click and every change of the live chart's first line
(the graph's data, read from the chart's iframe at every animation frame). Printed per round:
the seconds from the click to the first point, whether the chart's frame (with plotly.js parsed)
was already there before the click, and the longest gap between two chart updates
during the run's first ``--young`` seconds (the budget: the first point within 1.0 s, then a
move at least every 0.5 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import chromium_page, streamlit_server, wait_for_app  # noqa: E402

# Installed before the click: records the click's time and, at every animation frame, the number
# of points of the chart's first trace whenever it changes.
WATCH = r"""() => {
  window.bnnUpdates = [];
  const button = [...document.querySelectorAll("button")].find(b => /(^|\s)Start$/.test(b.innerText.trim()));
  const chartFrame = () => document.querySelector("iframe[title='live training chart']");
  button.addEventListener("click", () => {
    window.bnnClick = performance.now();
    if (chartFrame()) chartFrame().bnnBeforeClick = true;
  }, {capture: true});
  let last = 0;
  const look = () => {
    const frame = chartFrame();
    const graph = frame && frame.contentDocument && frame.contentDocument.querySelector(".js-plotly-plot");
    const points = graph && graph.data && graph.data[0] && graph.data[0].x ? graph.data[0].x.length : 0;
    if (points !== last) {
      window.bnnUpdates.push([performance.now(), points]);
      if (last === 0) window.bnnFirstFrameReady = Boolean(frame.bnnBeforeClick);
      last = points;
    }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
}"""

CHART_DRAWN = """() => {
  const frame = document.querySelector("iframe[title='live training chart']");
  return Boolean(frame && frame.contentDocument && frame.contentDocument.querySelector(".js-plotly-plot .main-svg"));
}"""


def one_round(preset: str, young: float, pause: float = 0.0) -> dict:
    with tempfile.TemporaryDirectory() as runs:
        env = {"BNN_RUNS_DIR": runs}
        with streamlit_server(env=env, timeout=120) as url, chromium_page(1400, 900) as page:
            page.goto(f"{url}/Train?preset={preset}")
            page.get_by_role("button", name="Start").wait_for(timeout=120_000)
            wait_for_app(page)
            page.wait_for_function(CHART_DRAWN, timeout=60_000)  # the empty chart on screen: the page has opened
            page.wait_for_timeout(pause * 1000)
            page.evaluate(WATCH)
            page.get_by_role("button", name="Start").click()
            page.wait_for_function(
                f"() => window.bnnClick && performance.now() - window.bnnClick > {young * 1000}",
                timeout=int(young * 1000) + 120_000,
                polling=200,
            )
            click, updates, ready = page.evaluate(
                "() => [window.bnnClick, window.bnnUpdates, window.bnnFirstFrameReady]"
            )
    times = [(t - click) / 1000 for t, points in updates if points > 0 and t >= click]
    if not times:
        return {"first_point_s": None, "updates": 0, "longest_gap_s": None, "chart_ready_before_click": ready}
    within = [t for t in times if t <= young]
    gaps = [b - a for a, b in zip(within, within[1:])]
    return {
        "first_point_s": round(times[0], 3),
        "updates": len(within),
        "longest_gap_s": round(max(gaps), 3) if gaps else None,
        "longest_gap_ends_s": round(within[1 + gaps.index(max(gaps))], 3) if gaps else None,  # after the click
        "chart_ready_before_click": ready,  # the first point drawn in a frame made before the click
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--young", type=float, default=10.0, help="seconds after the click to watch the updates")
    parser.add_argument(
        "--pause", type=float, default=0.0, help="seconds between the page's chart on screen and the click (a person's)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("BNN_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))
    rounds = []
    for index in range(args.rounds):
        result = one_round(args.preset, args.young, args.pause)
        rounds.append(result)
        print(
            f"round {index + 1}: first point {result['first_point_s']} s after the click; "
            f"{result['updates']} chart updates in the first {args.young:g} s, longest gap {result['longest_gap_s']} s "
            f"(ending {result.get('longest_gap_ends_s')} s after the click); "
            f"chart frame made before the click: {result['chart_ready_before_click']}",
            flush=True,
        )
    firsts = [r["first_point_s"] for r in rounds if r["first_point_s"] is not None]
    summary = {
        "preset": args.preset,
        "rounds": rounds,
        "first_point_s_median": statistics.median(firsts) if firsts else None,
        "first_point_s_max": max(firsts) if firsts else None,
        "longest_gap_s_max": max((r["longest_gap_s"] or 0) for r in rounds),
    }
    print(json.dumps(summary) if args.json else f"median first point {summary['first_point_s_median']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
