"""What a huge query string costs a shared server: forged rerun messages on its websocket.

Starts ``streamlit run app.py -- --shared`` (``.streamlit/config.toml`` as shipped), opens two
websocket sessions as a browser does (``/_stcore/stream``, subprotocol ``streamlit``) and sends, as
an attacker's session, a ``rerun_script`` message whose query string holds one value (of a setting, ``lr``, by default)
of each size asked for; meanwhile a second session reruns the Home page. Prints, per size: how long the
attacker's page run took (or that the server refused the message), the server's memory growth
(peak VmRSS sampled every 10 ms, minus VmRSS before), and the other session's Home page time.

    python -m benchmarks.huge_query [--sizes-mb 0.5 2 7.5 40] [--page Train] [--key lr]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from tests.browser import streamlit_process


def _rerun(query: str, page: str) -> bytes:
    message = BackMsg()
    message.rerun_script.query_string = query
    message.rerun_script.page_name = page
    return message.SerializeToString()


async def _page_run(url: str, query: str, page: str, timeout: float = 120.0) -> tuple[float | None, str]:
    """Seconds from sending one rerun to its script_finished, in a new session; None when refused."""
    async with websockets.connect(
        url.replace("http", "ws") + "/_stcore/stream", subprotocols=["streamlit"], max_size=None
    ) as socket:
        started = time.perf_counter()
        try:
            await socket.send(_rerun(query, page))
            while True:
                reply = ForwardMsg()
                reply.ParseFromString(await asyncio.wait_for(socket.recv(), timeout))
                if reply.WhichOneof("type") == "script_finished":
                    return time.perf_counter() - started, "ran"
        except websockets.ConnectionClosed as exc:
            return None, f"refused by the server ({exc.rcvd.code if exc.rcvd else 'closed'})"


async def replies_to_rerun(url: str, query: str, page: str, timeout: float = 120.0) -> list[int] | None:
    """The sizes (bytes) of the messages a new session gets for one rerun with ``query``, up to its
    script_finished; None when the server closed the socket instead."""
    async with websockets.connect(
        url.replace("http", "ws") + "/_stcore/stream", subprotocols=["streamlit"], max_size=None
    ) as socket:
        sizes = []
        try:
            await socket.send(_rerun(query, page))
            while True:
                data = await asyncio.wait_for(socket.recv(), timeout)
                sizes.append(len(data))
                reply = ForwardMsg()
                reply.ParseFromString(data)
                if reply.WhichOneof("type") == "script_finished":
                    return sizes
        except websockets.ConnectionClosed:
            return None


def _rss(pid: int) -> int:
    """Resident memory of process ``pid`` in bytes (VmRSS, Linux)."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


class _PeakRss(threading.Thread):
    """The peak resident memory of process ``pid``, sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, _rss(self.pid))
            time.sleep(0.01)


async def _warm(url: str, pid: int, page: str) -> None:
    """Both pages run once, and the server's warm-up (MNIST read into memory, ~200 MB) done: its
    memory stays within 2 MB for 3 s."""
    await _page_run(url, "", "home")
    await _page_run(url, "", page)
    last, steady_since = 0, time.monotonic()
    while time.monotonic() - steady_since < 3.0:
        await asyncio.sleep(0.25)
        rss = _rss(pid)
        if abs(rss - last) > 2e6:
            last, steady_since = rss, time.monotonic()


async def measure(url: str, pid: int, size_mb: float, page: str, key: str) -> dict:
    query = f"{key}=" + "1" * int(size_mb * 1e6)
    plain, _ = await _page_run(url, "", page)  # the same page without the query, just before
    before = _rss(pid)
    sampler = _PeakRss(pid)
    sampler.start()
    attack = asyncio.create_task(_page_run(url, query, page))
    await asyncio.sleep(0.05)
    home, _ = await _page_run(url, "", "home")  # another session meanwhile
    seconds, what = await attack
    sampler.running = False
    sampler.join()
    return {
        "size_mb": size_mb,
        "what": what,
        "seconds": seconds,
        "rss_growth_mb": (sampler.peak - before) / 1e6,
        "other_home_s": home,
        "plain_s": plain,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=float, nargs="+", default=[0.5, 2.0, 7.5, 40.0])
    parser.add_argument("--page", default="Train", help="the page the huge link opens (its url path)")
    parser.add_argument("--key", default="lr", help="the link's key holding the huge value (lr: a setting)")
    args = parser.parse_args()
    env = {"BNN_SHARED": "1", "BNN_RUNS_DIR": tempfile.mkdtemp(prefix="bnn-huge-query-")}
    with streamlit_process(env) as (url, process):
        pid = process.pid
        print(f"server {url} (pid {pid}), load average {os.getloadavg()[0]:.1f}")
        asyncio.run(_warm(url, pid, args.page))
        for size in args.sizes_mb:
            result = asyncio.run(measure(url, pid, size, args.page, args.key))
            seconds = "–" if result["seconds"] is None else f"{result['seconds']:.2f} s"
            home = "–" if result["other_home_s"] is None else f"{result['other_home_s']:.2f} s"
            print(
                f"{size:6.1f} MB query on {args.page}: {result['what']}, page run {seconds} "
                f"(without it {result['plain_s']:.2f} s), "
                f"server memory +{result['rss_growth_mb']:.0f} MB (peak), another session's Home {home}"
            )


if __name__ == "__main__":
    main()
