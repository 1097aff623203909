"""The drawing a browser sends (ui.widgets): bounded before it is decoded, decoded once.

A canvas resized from page JavaScript sends a small PNG of a huge image (issue 30, point 3: a
13000x13000 PNG of a few kB grew the server by 3.1 GB); the header is read first and anything but
the canvas's size is refused, so the refusal costs kilobytes. ``benchmarks/huge_drawing.py``
measures the server's memory and time for it.
"""

from __future__ import annotations

import base64
import io
import time
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from bnn.analysis.drawing import CANVAS_SIZE
from ui import widgets


def data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return widgets.PNG_PREFIX + base64.b64encode(buffer.getvalue()).decode("ascii")


def test_a_canvas_sized_drawing_is_decoded():
    image = Image.new("RGBA", (CANVAS_SIZE, CANVAS_SIZE), (0, 0, 0, 255))
    image.putpixel((3, 5), (255, 255, 255, 255))
    array = widgets.png_data_url_to_array(data_url(image), CANVAS_SIZE)
    assert array.shape == (CANVAS_SIZE, CANVAS_SIZE, 4) and array[5, 3, 0] == 255


@pytest.mark.parametrize("side", [9000, 13000])
def test_a_huge_drawing_is_refused_before_decoding(side):
    url = data_url(Image.new("1", (side, side)))  # a few kB of PNG, 676 MB as RGBA at 13000
    assert len(url) < widgets.MAX_DRAWING_URL
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(widgets.DrawingError, match=f"{side}x{side} pixels"):
        widgets.png_data_url_to_array(url, CANVAS_SIZE)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5 * 1024 * 1024, f"refusing took {peak / 1e6:.1f} MB"
    print(f"{side}x{side}: refused in {seconds * 1000:.1f} ms, {peak / 1e6:.2f} MB traced")


def test_a_too_long_or_foreign_data_url_is_refused_unread():
    with pytest.raises(widgets.DrawingError, match="larger than"):
        widgets.png_data_url_to_array(widgets.PNG_PREFIX + "A" * widgets.MAX_DRAWING_URL, CANVAS_SIZE)
    for url in ("data:image/jpeg;base64,AAAA", "javascript:alert(1)", widgets.PNG_PREFIX + "!!!!", None):
        with pytest.raises(widgets.DrawingError):
            widgets.png_data_url_to_array(url, CANVAS_SIZE)


def test_a_drawing_is_decoded_once(monkeypatch):
    calls = []
    real = widgets.png_data_url_to_array
    monkeypatch.setattr(widgets, "png_data_url_to_array", lambda *args: calls.append(args) or real(*args))
    store: dict = {}
    url = data_url(Image.new("RGBA", (CANVAS_SIZE, CANVAS_SIZE), (0, 0, 0, 255)))
    first = widgets.decoded_drawing(url, CANVAS_SIZE, store)
    again = widgets.decoded_drawing(url, CANVAS_SIZE, store)  # the page's 2-s refresh while a run trains
    assert again is first and len(calls) == 1
    huge = data_url(Image.new("1", (9000, 9000)))
    for _ in range(2):
        with pytest.raises(widgets.DrawingError):
            widgets.decoded_drawing(huge, CANVAS_SIZE, store)
    assert len(calls) == 2  # refused once, remembered
    assert widgets.decoded_drawing(None, CANVAS_SIZE, store) is None
    assert np.array_equal(widgets.decoded_drawing(url, CANVAS_SIZE, store), first)
