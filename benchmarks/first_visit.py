"""The Efficiency page opened right after a fresh server start, timed inside the page in Chromium (issue 32).

    python benchmarks/first_visit.py [--clean-cache] [--rounds 1]

Each round starts a fresh server (``tests/browser.py``), opens the Efficiency page at once and records,
with ``performance.now()`` in the page (a MutationObserver on the page's text), when the title appears
(the page's first render), the packed engine's sizes, the "kernels still being prepared" note (numpy
engine), the one-image timing and the test-set agreement; then it reloads the page until the compiled
engine is used and prints the seconds since the server's start. ``--clean-cache`` deletes numba's cache
of the kernels (``bnn/xnor/__pycache__/*.nbi, *.nbc``) first: a fresh clone's first start.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import chromium_page, streamlit_server  # noqa: E402

CACHE = Path(__file__).resolve().parents[1] / "bnn" / "xnor" / "__pycache__"
MARKS = {  # mark -> text whose first appearance it records
    "title": "Efficiency: 1 bit instead of 32",
    "packed sizes": "The packed engine's arrays",
    "numpy engine note": "still being prepared",
    "one image": "packed XNOR, 1 image",
    "test-set agreement": "Disagreements",
}
OBSERVER = """
window.__marks = {};
const MARKS = %s;
new MutationObserver(() => {
  const text = document.body ? document.body.innerText : "";
  for (const [mark, words] of Object.entries(MARKS))
    if (!(mark in window.__marks) && text.includes(words)) window.__marks[mark] = performance.now();
}).observe(document, {subtree: true, childList: true, characterData: true});
"""
PAGE_SECONDS = 300  # a page that shows nothing for this long has failed


def one_round(clean: bool) -> None:
    if clean:
        for stale in [*CACHE.glob("*.nbi"), *CACHE.glob("*.nbc")]:
            stale.unlink()
    started = time.perf_counter()
    with streamlit_server() as url, chromium_page() as page:
        page.add_init_script(OBSERVER % json.dumps(MARKS))
        page.goto(f"{url}/Efficiency")
        page.wait_for_function(
            "() => window.__marks && 'test-set agreement' in window.__marks && 'one image' in window.__marks",
            timeout=PAGE_SECONDS * 1000,
        )
        marks = page.evaluate("window.__marks")
        first = marks["title"]
        times = ", ".join(
            f"{mark} {(at - first) / 1000:.2f} s" for mark, at in sorted(marks.items(), key=lambda m: m[1])
        )
        print(f"{'clean' if clean else 'warm'} numba cache, after the page's first render: {times}")
        while True:
            page.reload()
            page.wait_for_selector(f"text={MARKS['test-set agreement']}", timeout=PAGE_SECONDS * 1000)
            if page.locator(f"text={MARKS['numpy engine note']}").count() == 0:
                break
            page.wait_for_timeout(2000)
        print(f"  the compiled engine on the page {time.perf_counter() - started:.1f} s after the server's start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean-cache", action="store_true", help="delete numba's cache of the kernels first")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.rounds):
        one_round(args.clean_cache)


if __name__ == "__main__":
    main()
