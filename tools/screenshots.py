"""Screenshot every page of the running app with headless Debian Chromium.

    python tools/screenshots.py [--url http://127.0.0.1:8501] [--out screenshots] [PAGE ...]

Without --url it starts the app itself (``tests/browser.py``). PAGE is a URL path such as
``Train`` or ``Draw``; default: every page. Look at the PNGs before calling a page done.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import assert_no_exception, chromium_page, streamlit_server, wait_for_app  # noqa: E402

PAGES = ["", "Train", "Compare", "Draw", "Inspect", "Efficiency"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--out", default="screenshots")
    parser.add_argument("--wait", type=float, default=2.0, help="seconds to let charts settle")
    parser.add_argument("pages", nargs="*", default=PAGES)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    server = contextlib.nullcontext(args.url) if args.url else streamlit_server()
    with server as url, chromium_page() as page:
        for name in args.pages:
            page.goto(f"{url}/{name}")
            page.wait_for_selector('[data-testid="stHeading"]', timeout=60_000)  # every page has a title
            wait_for_app(page)
            page.wait_for_timeout(args.wait * 1000)
            path = out / f"{name or 'Home'}.png"
            page.screenshot(path=str(path), full_page=True)
            try:
                assert_no_exception(page)
                print(f"{path}: ok")
            except AssertionError as exc:
                print(f"{path}: EXCEPTION {exc}")


if __name__ == "__main__":
    main()
