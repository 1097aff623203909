"""Many users at once against one local server: time to the first training step, health-check
latency, and the server's memory as finished runs pile up.

    python -m benchmarks.load [--sessions 3] [--runs 50] [--max-runs N]

Starts ``streamlit run app.py`` on loopback with an empty runs folder, then:

1. ``--sessions`` browser tabs (headless Chromium) open the Train page with a small run and press
   Start at the same moment; each tab's time from the click to its progress line showing a
   training step is measured (runs beyond the server's limit wait in its queue), while the
   health endpoint is polled to time how fast the server still answers.
2. One tab then trains ``--runs`` small runs one after the other; the server's resident memory
   (VmRSS) is read after 5 and after all of them. Ended runs are saved and let go, so memory
   should stay flat: the ratio is printed against the 1.3x budget.

Every wait is bounded; nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import chromium_page, streamlit_process, wait_for_app  # noqa: E402

SMALL_RUN = "preset=fast&layers=d32-wab-0_d10-wb-0&sub=2000&ep=1&bs=100"
TINY_RUN = "preset=fast&layers=d16-wab-0_d10-wb-0&sub=500&ep=1&bs=100"
RSS_BUDGET = 1.3


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def finished_runs(runs: Path) -> int:
    return sum(1 for meta in runs.glob("*/meta.json") if not (meta.parent / "checkpoint.pt").exists())


def poll_health(url: str, stop: threading.Event, latencies: list[float]) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as response:
                response.read()
            latencies.append((time.perf_counter() - start) * 1e3)
        except OSError:
            latencies.append(float("inf"))
        stop.wait(0.25)


def open_train(page, url: str, query: str) -> None:
    page.goto(f"{url}/Train?{query}")
    page.wait_for_selector("text=Start", timeout=60_000)
    wait_for_app(page)


def time_to_first_step(page, clicked: float, timeout: float = 120.0) -> float:
    page.wait_for_function(
        "() => /step [1-9][0-9,]* \\//.test(document.body.innerText)", timeout=int(timeout * 1000), polling=100
    )
    return time.monotonic() - clicked


def concurrent_starts(url: str, browser_pages: list) -> dict:
    for page in browser_pages:
        open_train(page, url, SMALL_RUN)
    latencies: list[float] = []
    stop = threading.Event()
    poller = threading.Thread(target=poll_health, args=(url, stop, latencies), daemon=True)
    poller.start()
    clicked = time.monotonic()
    for page in browser_pages:
        page.get_by_role("button", name="Start").click()
    queued = [("number 1 in the queue" in page.inner_text("body")) for page in browser_pages]
    waits = [round(time_to_first_step(page, clicked), 2) for page in browser_pages]
    stop.set()
    poller.join()
    finite = sorted(v for v in latencies if v != float("inf"))
    return {
        "sessions": len(browser_pages),
        "seconds_to_first_step": waits,
        "queued_at_start": queued,
        "health_ms_p50": round(statistics.median(finite), 1) if finite else None,
        "health_ms_max": round(max(finite), 1) if finite else None,
        "health_failures": sum(v == float("inf") for v in latencies),
    }


def memory_over_runs(url: str, page, runs: Path, pid: int, count: int) -> dict:
    rss = {}
    before = finished_runs(runs)
    for index in range(1, count + 1):
        open_train(page, url, TINY_RUN)
        page.get_by_role("button", name="Start").click()
        deadline = time.monotonic() + 120
        while finished_runs(runs) < before + index:
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {index} did not end and get saved within 120 s")
            time.sleep(0.2)
        if index in (5, count):
            time.sleep(1.0)
            rss[index] = round(rss_mb(pid), 1)
    return {"rss_mb": rss, "rss_ratio": round(rss[count] / rss[5], 3), "budget": RSS_BUDGET}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--max-runs", type=int, help="the server's limit (default: its own)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        runs = Path(folder)
        env = {"BNN_RUNS_DIR": folder}
        if args.max_runs:
            env["BNN_MAX_RUNS"] = str(args.max_runs)
        with streamlit_process(env) as (url, process), chromium_page(1400, 1000) as first:
            browser = first.context.browser
            pages = [first] + [
                browser.new_page(viewport={"width": 1400, "height": 1000}) for _ in range(args.sessions - 1)
            ]
            result = {"concurrent": concurrent_starts(url, pages)}
            deadline = time.monotonic() + 300
            while finished_runs(runs) < args.sessions and time.monotonic() < deadline:
                for page in pages:  # a page run after a run's end saves it
                    page.wait_for_timeout(500)
            for page in pages[1:]:
                page.close()
            result["memory"] = memory_over_runs(url, first, runs, process.pid, args.runs)
    print(json.dumps(result))
    memory = result["memory"]
    print(
        f"time to first step with {args.sessions} starting at once: {result['concurrent']['seconds_to_first_step']} s; "
        f"health check p50 {result['concurrent']['health_ms_p50']} ms, max {result['concurrent']['health_ms_max']} ms; "
        f"server RSS {memory['rss_mb']} MB, ratio {memory['rss_ratio']} (budget {RSS_BUDGET})"
    )


if __name__ == "__main__":
    main()
