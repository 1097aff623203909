"""Real-browser helpers: start ``streamlit run app.py`` on a free port and drive Debian Chromium.

Playwright cannot download its own browser here, so it drives ``/usr/bin/chromium`` (Debian's
package, installed by ``.ci/run``). Tests using these helpers are marked ``browser`` and are
skipped when Chromium or Playwright is missing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("BNN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def browser_available() -> bool:
    if not Path(CHROMIUM).exists():
        return False
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: dict[str, str] | None = None, timeout: float = 60.0) -> Iterator[str]:
    """Run the app in a subprocess; yields its base URL and stops it afterwards."""
    with streamlit_process(env, timeout) as (url, _):
        yield url


@contextlib.contextmanager
def streamlit_process(
    env: dict[str, str] | None = None, timeout: float = 60.0, address: str | None = "127.0.0.1"
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run the app in a subprocess; yields its base URL and the process, and stops it afterwards.
    ``address=None``: listen where the app's own configuration says (the README's command)."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless=true"]
    command.append(f"--server.port={port}")
    if address is not None:
        command += [f"--server.address={address}", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"]
    url = f"http://{address or 'localhost'}:{port}"
    with _server(command, ROOT, env, "BNN_STREAMLIT_LOG", f":{port}", "streamlit", timeout) as process:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as response:
            assert response.status == 200, f"streamlit's health check answered {response.status}"
        yield url, process


@contextlib.contextmanager
def _server(
    command: list[str], cwd: Path, env: dict[str, str] | None, log_var: str, marker: str, what: str, timeout: float
) -> Iterator[subprocess.Popen]:
    """Run a server; yield its process once its output shows ``marker`` (it listens), and stop it
    afterwards. Its output goes to the file named by the environment variable ``log_var``."""
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    log = open(Path(full_env.get(log_var, os.devnull)), "w")
    process = subprocess.Popen(
        command, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    listening = threading.Event()
    pump = threading.Thread(target=_pump_output, args=(process, log, marker, listening), daemon=True)
    pump.start()
    try:
        if not listening.wait(timeout) or process.poll() is not None:
            raise RuntimeError(f"{what} did not start within {timeout} s (exit code {process.poll()})")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        pump.join(10)
        log.close()


def _pump_output(process: subprocess.Popen, log, marker: str, seen: threading.Event) -> None:
    """Copy the server's output to ``log`` (draining the pipe so it never blocks); set ``seen`` at
    the first line holding ``marker``, and when the process has ended."""
    for line in process.stdout:
        log.write(line)
        log.flush()
        if marker in line:
            seen.set()
    process.wait()
    seen.set()


@contextlib.contextmanager
def chromium_page(width: int = 1400, height: int = 1000) -> Iterator[object]:
    """A Playwright page in headless Debian Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def wait_for_app(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has finished its script run (no 'Running...' status widget)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=timeout_ms,
    )


def assert_no_exception(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()[:2000]


IDLE = """() => !document.querySelector('[data-testid="stStatusWidget"]')
             && !document.querySelector('[data-stale="true"]')"""


def wait_until_idle(page, timeout_ms: int = 30_000) -> None:
    """Wait until the app has finished its rerun(s): nothing running, nothing stale (Streamlit shows
    the status widget for runs that last over half a second)."""
    wait_for_app(page, timeout_ms)
    page.wait_for_function(IDLE, timeout=timeout_ms)


def wait_for_text(page, pattern: str, timeout_ms: int = 120_000, screenshot: Path | None = None) -> str:
    """Wait until the page's text matches the regular expression ``pattern`` (JavaScript syntax);
    returns the matched text. On a timeout: an AssertionError, after a screenshot when asked."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        found = page.wait_for_function(
            "pattern => (document.body.innerText.match(new RegExp(pattern)) || [null])[0]",
            arg=pattern,
            timeout=timeout_ms,
            polling=250,
        )
    except PlaywrightTimeout:
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
        raise AssertionError(f"{pattern!r} never appeared within {timeout_ms / 1000:.0f} s ({screenshot})") from None
    return found.json_value()


ENGINE_JS = ROOT / "assets" / "bnn_engine.js"  # the very module the Draw page's canvas component runs


def load_engine(page) -> None:
    """Load ``assets/bnn_engine.js`` into ``page`` (a blank page) as a module; its exports become
    ``window.bnn``."""
    page.set_content("<!doctype html><html><body></body></html>")
    source = ENGINE_JS.read_text(encoding="utf-8")
    exports = "parsePacked, forward, unitBits, preprocess, softmax, crc32"
    page.add_script_tag(content=f"{source}\nwindow.bnn = {{ {exports} }};", type="module")
    page.wait_for_function("() => window.bnn !== undefined")


@contextlib.contextmanager
def jupyterlab_server(root: Path, env: dict[str, str] | None = None, timeout: float = 90.0) -> Iterator[str]:
    """Run this environment's JupyterLab on localhost with ``root`` as its folder; yields the base
    URL and its token (``<url>/lab?token=<token>``) and stops it afterwards. Its kernels run in this
    environment (its ``python3`` kernel), with ``env`` added to theirs."""
    port, token = free_port(), "bnn-test"
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}"]
    command += [f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False"]
    command += ["--allow-root", "--LabApp.extension_manager=readonly", "--LabApp.news_url="]  # CI runs as root, offline
    command += ["--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    with _server(command, root, env, "BNN_JUPYTER_LOG", f":{port}/lab", "jupyter lab", timeout):
        yield f"http://127.0.0.1:{port}", token
