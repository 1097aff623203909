"""What a huge drawing costs the server (issue 30, point 3): memory and time to refuse it.

    python benchmarks/huge_drawing.py [--before]

A canvas resized from page JavaScript to 9000x9000 or 13000x13000 sends a PNG of a few kB. Each
case runs in a fresh Python process that has imported the app's widgets: the growth of its peak
resident memory (``ru_maxrss``) and the wall time of ``ui.widgets.png_data_url_to_array`` (the
server's decoder, which reads the PNG header and refuses anything but the canvas's size). With
``--before`` the same is measured for decoding the whole image, as the server did before
(gigabytes at 13000: only on a machine with the memory to spare). Prints measured numbers only.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIDES = (9000, 13000)

CHILD = """
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
from PIL import Image
import io, base64
from ui import widgets
from bnn.analysis.drawing import CANVAS_SIZE
url = sys.stdin.read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
outcome = "decoded"
try:
    if sys.argv[1] == "before":
        _, encoded = url.split(";base64,", 1)
        np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))).convert("RGBA"))
    else:
        widgets.png_data_url_to_array(url, CANVAS_SIZE)
except widgets.DrawingError as exc:
    outcome = "refused: " + str(exc)
seconds = time.perf_counter() - started
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps({"seconds": seconds, "mb": grown, "outcome": outcome}))
"""


def huge_png_url(side: int) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def measure(url: str, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode], input=url, capture_output=True, text=True, cwd=ROOT, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", action="store_true", help="also decode the whole image, as before the fix")
    args = parser.parse_args()
    for side in SIDES:
        url = huge_png_url(side)
        modes = ["now", "before"] if args.before else ["now"]
        for mode in modes:
            result = measure(url, mode)
            print(
                f"{side}x{side} PNG ({len(url) / 1024:.0f} kB data URL), {mode}: "
                f"{result['mb']:.1f} MB peak memory growth, "
                f"{result['seconds'] * 1000:.1f} ms; {result['outcome']}"
            )


if __name__ == "__main__":
    main()
