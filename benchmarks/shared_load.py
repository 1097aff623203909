"""A shared server under a class's load: 8 Chromium sessions at once, 1 training, 7 drawing.

    python -m benchmarks.shared_load [--minutes 10] [--alone-seconds 60] [--drawers 7] [--think-seconds 0]
                                     [--data-dir DIR]

Starts ``streamlit run app.py -- --shared`` (``BNN_SHARED=1``) on loopback with an empty runs
folder and drives headless Debian Chromium (one browser, one context per session, all driven at
once with Playwright's asyncio API):

1. **alone**: one session starts ``fast`` (12 epochs, so that it outlasts the load; it presses
   Start again if its run ends) and its speed is measured alone for ``--alone-seconds``;
2. **load**: for ``--minutes``, 7 more sessions each draw digits on the Draw page
   (``tests/test_browser_draw.py``'s strokes), clear, and switch pages (Compare, Inspect, Train,
   Home) after every third drawing. The page reads the drawing itself at every pen move
   (``assets/draw_canvas.js``) and times itself with ``performance.now()``: each pointer event to
   the new prediction painted, as in ``benchmarks/draw_latency.py``. The messages a drawing tab
   sends the server (websocket frames and HTTP requests, from the first stroke to the cleared
   canvas) are counted. By default they draw again as soon as the answer is on screen (a stress
   test); ``--think-seconds`` adds a student's look at each answer;
3. **alone** again for ``--alone-seconds``, so that the machine's other load counts on both sides.

Printed: exceptions (Streamlit exception boxes, page errors, tracebacks in the server's log),
draw latency p50/p95 of the drawing sessions (budget p95 <= 50 ms), the messages sent to the server
per drawing, the training run's samples/s under load vs alone (its steps over wall time x the batch
size; budget >= 0.6), the server's resident memory (VmRSS) at the start and the end of the load and
its maximum, and the CPU it used during the load (cores: CPU seconds per second) and per drawing
beyond what the training alone used (page switches included). Nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.async_api import TimeoutError as PlaywrightTimeout  # noqa: E402

from benchmarks.draw_latency import DIGITS, percentile  # noqa: E402
from benchmarks.load import rss_mb  # noqa: E402
from bnn.training.data import resolve_data_dir  # noqa: E402
from tests.browser import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    IDLE,  # noqa: E402
    streamlit_process,
)
from tests.test_browser_draw import BOX, CANVAS, DIGIT_STROKES, PREDICTION, READ  # noqa: E402

TRAIN_RUN = "preset=fast&ep=12"
BATCH_SIZE = 200  # fast's
PAGES = ["Compare", "Inspect", "Train", "Home"]
LATENCY_BUDGET_MS = 50.0
SPEED_BUDGET = 0.6
STEP = re.compile(r"step ([\d,]+) / ([\d,]+)")


class Trainer:
    """The training session: its run's steps over time (restarting the run when it ends)."""

    def __init__(self, page) -> None:
        self.page = page
        self.samples: list[tuple[float, int]] = []  # (monotonic time, samples trained since the start)
        self._done_before = 0  # samples of the runs that ended
        self._last_step = 0

    async def start(self, url: str) -> None:
        await self.page.goto(f"{url}/Train?{TRAIN_RUN}")
        await self._press_start()

    async def _press_start(self) -> None:
        start = self.page.get_by_role("button", name="Start")
        await start.wait_for(timeout=120_000)
        await self.page.wait_for_function(IDLE, timeout=120_000)
        await start.click()
        self._last_step = 0

    async def follow(self, until: float) -> None:
        while time.monotonic() < until:
            body = await self.page.inner_text("body")
            match = STEP.search(body)
            if match:
                step, total = (int(group.replace(",", "")) for group in match.groups())
                if step < self._last_step:  # a new run
                    self._done_before += self._last_step * BATCH_SIZE
                self._last_step = step
                self.samples.append((time.monotonic(), self._done_before + step * BATCH_SIZE))
                if "· finished" in body and step == total:
                    self._done_before += step * BATCH_SIZE
                    await self._press_start()
            await asyncio.sleep(1.0)

    def rate(self, start: float, end: float) -> float | None:
        """Samples per second between two times (the first and last readings inside them)."""
        inside = [(t, n) for t, n in self.samples if start <= t <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


async def draw_digit(page, digit: int) -> None:
    """``tests.test_browser_draw.draw_digit`` with the asyncio API."""
    box = await page.locator(CANVAS).first.bounding_box()
    side = min(box["width"], box["height"])
    left = box["x"] + (box["width"] - side * BOX) / 2
    top = box["y"] + (box["height"] - side * BOX) / 2
    for stroke in DIGIT_STROKES[digit]:
        points = [(left + x * side * BOX, top + y * side * BOX) for x, y in stroke]
        await page.mouse.move(*points[0])
        await page.mouse.down()
        for point in points[1:]:
            await page.mouse.move(*point, steps=4)
        await page.mouse.up()


async def settle(page) -> None:
    await page.wait_for_timeout(500)
    await page.wait_for_function(IDLE, timeout=60_000)


async def open_draw(page, url: str | None) -> None:
    if url is not None:
        await page.goto(f"{url}/Draw")
    else:
        await page.get_by_role("link", name="Draw").first.click()
    await page.locator(CANVAS).first.wait_for(timeout=120_000)
    await page.wait_for_function(READ, timeout=120_000)  # the packed network is loaded in the page
    await settle(page)


async def exceptions_on(page) -> list[str]:
    boxes = page.locator('[data-testid="stException"]')
    return [(await boxes.nth(i).inner_text())[:300] for i in range(await boxes.count())]


async def drawer(index: int, page, url: str, until: float, seen: dict[str, list], think_ms: float = 0) -> None:
    """Draw, time, clear, switch pages after every third drawing, until ``until``; a wait that
    times out (a slow machine) is counted in ``seen["timeouts"]`` and the session starts over
    from a fresh Draw page."""
    page.on("pageerror", lambda error: seen["problems"].append(f"session {index}: page error {error}"))
    sent = [0]  # websocket frames and HTTP requests this tab sent the server
    page.on("request", lambda request: sent.__setitem__(0, sent[0] + 1))
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.__setitem__(0, sent[0] + 1)))
    opened, drawings, fresh = time.monotonic(), 0, True
    while time.monotonic() < until:
        try:
            if fresh:
                await open_draw(page, url)
                if drawings == 0:
                    seen["first_load"].append(time.monotonic() - opened)
                fresh = False
            digit = DIGITS[(index + drawings) % len(DIGITS)]
            before = sent[0]
            await page.evaluate("() => { window.__bnnDraw.latencies = []; }")
            await draw_digit(page, digit)
            await page.wait_for_function(READ, timeout=120_000)
            seen["latencies"].extend(await page.evaluate("() => window.__bnnDraw.latencies.splice(0)"))
            seen["read"].append((await page.locator(PREDICTION).first.inner_text()).strip() == str(digit))
            drawings += 1
            await page.wait_for_timeout(think_ms)  # a student looking at the answer
            seen["problems"].extend(f"session {index} on Draw: {text}" for text in await exceptions_on(page))
            await page.get_by_role("button", name="Clear").click()
            await page.wait_for_function(READ, timeout=120_000)
            seen["messages"].append(sent[0] - before)
            if drawings % 3 == 0:
                name = PAGES[(drawings // 3 + index) % len(PAGES)]
                await page.get_by_role("link", name=name).first.click()
                await settle(page)
                await page.wait_for_timeout(1000)
                seen["problems"].extend(f"session {index} on {name}: {text}" for text in await exceptions_on(page))
                seen["switches"].append(name)
                await open_draw(page, None)
        except PlaywrightTimeout as exc:
            seen["timeouts"].append(f"session {index}: {str(exc).splitlines()[0][:160]}")
            fresh = True


async def watch_memory(pid: int, until: float, readings: list[float]) -> None:
    while time.monotonic() < until:
        readings.append(rss_mb(pid))
        await asyncio.sleep(5.0)
    readings.append(rss_mb(pid))


async def measure(url: str, pid: int, args: argparse.Namespace) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)

        async def new_page():
            context = await browser.new_context(viewport={"width": 1400, "height": 1000})
            return await context.new_page()

        trainer = Trainer(await new_page())
        await trainer.start(url)
        first_steps_by = time.monotonic() + 300
        while not trainer.samples or trainer.samples[-1][1] == 0:
            if time.monotonic() > first_steps_by:
                raise RuntimeError("the training session's run did not start within 5 minutes")
            await trainer.follow(time.monotonic() + 2)
        alone_start = time.monotonic()
        alone_cpu = cpu_seconds(pid)
        await trainer.follow(alone_start + args.alone_seconds)
        alone_cores = (cpu_seconds(pid) - alone_cpu) / (time.monotonic() - alone_start)

        print(f"alone: {trainer.rate(alone_start, time.monotonic()) or 0:,.0f} samples/s; load starts", flush=True)
        load_start = time.monotonic()
        cpu_start = cpu_seconds(pid)
        until = load_start + args.minutes * 60
        seen: dict[str, list] = {
            "latencies": [],
            "problems": [],
            "timeouts": [],
            "first_load": [],
            "switches": [],
            "messages": [],
            "read": [],
        }
        memory: list[float] = []
        pages = [await new_page() for _ in range(args.drawers)]
        await asyncio.gather(
            trainer.follow(until),
            watch_memory(pid, until, memory),
            *(drawer(i, page, url, until, seen, args.think_seconds * 1000) for i, page in enumerate(pages)),
        )
        load_end = time.monotonic()
        server_cores = (cpu_seconds(pid) - cpu_start) / (load_end - load_start)
        for page in pages:
            await page.context.close()
        print("load ends; alone again", flush=True)
        await trainer.follow(load_end + 3 + args.alone_seconds)
        seen["problems"].extend(f"training session: {text}" for text in await exceptions_on(trainer.page))
        await browser.close()
    alone = [
        trainer.rate(alone_start, alone_start + args.alone_seconds),
        trainer.rate(load_end + 3, load_end + 3 + args.alone_seconds),
    ]
    return {
        **seen,
        "memory": memory,
        "server_cores": server_cores,
        "alone_cores": alone_cores,
        "load_seconds": load_end - load_start,
        "alone": [rate for rate in alone if rate],
        "loaded": trainer.rate(load_start + 10, load_end),  # after the sessions' first page loads
    }


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_tracebacks(log: Path) -> int:
    return log.read_text(errors="replace").count("Traceback") if log.exists() else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the 8 sessions run together")
    parser.add_argument("--alone-seconds", type=float, default=60.0, help="training alone, before and after")
    parser.add_argument("--drawers", type=int, default=7, help="drawing sessions")
    parser.add_argument(
        "--think-seconds",
        type=float,
        default=0.0,
        help="pause after each answer, as a student looks at it (0: draw again at once, a stress test)",
    )
    parser.add_argument("--data-dir", help="MNIST directory (default: $BNN_DATA_DIR or a per-user cache)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "streamlit.log"
        env = {
            "BNN_SHARED": "1",
            "BNN_DATA_DIR": str(resolve_data_dir(args.data_dir)),
            "BNN_RUNS_DIR": str(Path(folder) / "runs"),
            "BNN_STREAMLIT_LOG": str(log),
        }
        load_before = os.getloadavg()[0]
        with streamlit_process(env=env) as (url, process):
            result = asyncio.run(measure(url, process.pid, args))
        tracebacks = server_tracebacks(log)
    times, memory = result["latencies"], result["memory"]
    alone = statistics.mean(result["alone"]) if result["alone"] else None
    loaded = result["loaded"]
    print(
        f"\n{args.drawers + 1} sessions for {args.minutes:g} min in shared mode ({os.cpu_count()} cores), "
        f"{args.think_seconds:g} s of thinking after each answer"
    )
    print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    for problem in result["problems"][:20] + result["timeouts"][:10]:
        print(f"  {problem}")
    print(f"exceptions and errors: {len(result['problems'])} in the pages, {tracebacks} tracebacks in the server log")
    print(f"waits that timed out (the session then reloaded Draw): {len(result['timeouts'])}")
    if result["first_load"]:
        loads = sorted(result["first_load"])
        print(f"first Draw page load of the drawing sessions, all opened at once: {loads[0]:.0f}-{loads[-1]:.0f} s")
    print(f"page switches: {len(result['switches'])}")
    drawings = len(result["messages"])
    if times:
        p50, p95 = statistics.median(times), percentile(times, 95)
        verdict = "met" if p95 <= LATENCY_BUDGET_MS else "EXCEEDED"
        print(
            f"draw latency in the page (pointer event -> new prediction painted), {len(times)} reads of {drawings} "
            f"drawings ({sum(result['read'])} read as drawn): p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
            f"max {max(times):.0f} ms; "
            f"budget p95 <= {LATENCY_BUDGET_MS:g} ms: {verdict}"
        )
    if drawings:
        messages = result["messages"]
        print(
            "messages to the server per drawing (first stroke to cleared canvas): "
            f"mean {statistics.mean(messages):.2f}, max {max(messages)}"
        )
        # the training's CPU per sample alone, times the samples it trained under load, is the training's share
        alone_rate = result["alone"][0] if result["alone"] else None
        if alone_rate and result["loaded"]:
            training = result["alone_cores"] / alone_rate * result["loaded"] * result["load_seconds"]
            extra = result["server_cores"] * result["load_seconds"] - training
            print(
                f"server CPU beyond the training's ({result['alone_cores']:.2f} cores alone, scaled to the samples "
                f"it trained under load): {extra:.1f} CPU-seconds for {drawings} drawings and "
                f"{len(result['switches'])} page switches: {extra / drawings:.3f} per drawing, page switches included"
            )
    if alone and loaded:
        verdict = "met" if loaded / alone >= SPEED_BUDGET else "EXCEEDED"
        alone_text = " and ".join(f"{rate:,.0f}" for rate in result["alone"])
        print(
            f"training speed: {loaded:,.0f} samples/s under load vs {alone_text} alone (before and after): "
            f"{loaded / alone:.2f}x; budget >= {SPEED_BUDGET}: {verdict}"
        )
    print(f"server CPU during the load: {result['server_cores']:.2f} cores (training and all sessions' scripts)")
    if memory:
        print(
            f"server memory (VmRSS): {memory[0]:,.0f} MB at the start of the load, {memory[-1]:,.0f} MB at its end "
            f"({memory[-1] / memory[0]:.2f}x), max {max(memory):,.0f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
