"""Widgets of our own: the drawing canvas (a Streamlit v2 component), ±1 vector parsing."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from bnn.analysis.drawing import CANVAS_SIZE

CANVAS_CLASS = "bnn-canvas"  # browser tests find the canvas by this class
ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
# The component's module: the packed network's engine and the canvas/readout code, the very files
# the Chromium tests load (tests/test_browser_engine.py reads bnn_engine.js itself).
ENGINE_JS = ASSETS_DIR / "bnn_engine.js"
CANVAS_JS = ASSETS_DIR / "draw_canvas.js"
MAX_DRAWING_URL = 1_000_000  # characters of a drawing's data URL: a 280x280 PNG of any drawing is far smaller
PNG_PREFIX = "data:image/png;base64,"

_CANVAS_HTML = f"""<div class="bnn-draw">
  <div class="bnn-left">
    <canvas class="{CANVAS_CLASS}" role="img" aria-label="drawing canvas"></canvas>
    <div class="bnn-tools">
      <button type="button" class="bnn-undo" disabled>Undo stroke</button>
      <button type="button" class="bnn-clear">Clear</button>
      <button type="button" class="bnn-random">Random test digit</button>
      <button type="button" class="bnn-send" title="The server's views and the Efficiency page read the drawing sent">
        Send to the server</button>
    </div>
    <p class="bnn-note"></p>
  </div>
  <div class="bnn-right">
    <div class="bnn-readout" role="status" aria-live="polite" aria-label="Prediction" hidden>
      <div class="bnn-head">
        <div><div class="bnn-label">Prediction</div><div class="bnn-digit" data-testid="prediction"></div>
          <div class="bnn-probability"></div></div>
        <figure>
          <canvas class="bnn-preview" width="28" height="28" role="img" aria-label="model input, 28 by 28"></canvas>
          <figcaption>Model input, 28×28</figcaption></figure>
      </div>
      <div class="bnn-truth"></div>
      <div class="bnn-bars" aria-label="class probabilities"></div>
    </div>
    <p class="bnn-status"></p>
  </div>
  <div class="bnn-layers"></div>
</div>"""
_CANVAS_CSS = """
.bnn-draw { display: flex; flex-wrap: wrap; gap: 12px 28px; align-items: flex-start; font-size: 14px; }
.bnn-left { display: flex; flex-direction: column; gap: 6px; max-width: 100%; }
.bnn-draw canvas.bnn-canvas { touch-action: none; cursor: crosshair; border-radius: 6px; border: 1px solid #6b7280;
  max-width: 100%; height: auto; aspect-ratio: 1; background: #000; }
.bnn-tools { display: flex; flex-wrap: wrap; gap: 6px; }
.bnn-tools button { font: inherit; font-size: 13px; padding: 2px 10px; border-radius: 6px; cursor: pointer;
  border: 1px solid #9ca3af; background: transparent; color: inherit; }
.bnn-tools button:disabled { opacity: 0.45; cursor: default; }
.bnn-note, .bnn-status, .bnn-truth { margin: 0; font-size: 13px; opacity: 0.85; max-width: 300px; }
.bnn-right { flex: 1 1 260px; min-width: 240px; max-width: 420px; }
.bnn-head { display: flex; gap: 24px; align-items: flex-start; }
.bnn-label { font-size: 14px; opacity: 0.8; }
.bnn-digit { font-size: 44px; line-height: 1.1; font-weight: 600; min-height: 48px; }
.bnn-probability { font-size: 13px; opacity: 0.8; }
.bnn-head figure { margin: 0; font-size: 12px; opacity: 0.9; text-align: center; }
.bnn-preview { width: 84px; height: 84px; image-rendering: pixelated; border-radius: 4px; border: 1px solid #6b7280; }
.bnn-bars { display: grid; gap: 2px; margin-top: 8px; }
.bnn-bar { display: grid; grid-template-columns: 14px 1fr 44px; gap: 6px; align-items: center; font-size: 12px; }
.bnn-bar-track { height: 12px; background: rgba(128, 128, 128, 0.18); border-radius: 3px; overflow: hidden; }
.bnn-bar-fill { display: block; height: 100%; background: #9ca3af; }
.bnn-top .bnn-bar-fill { background: #2166ac; }
.bnn-top { font-weight: 600; }
.bnn-bar-value { text-align: right; font-variant-numeric: tabular-nums; }
.bnn-layers { flex: 1 1 100%; display: flex; flex-wrap: wrap; gap: 12px 24px; }
.bnn-layer { margin: 0; max-width: 100%; overflow-x: auto; }
.bnn-layer figcaption { font-size: 12px; margin-bottom: 4px; }
.bnn-server-only .bnn-right, .bnn-server-only .bnn-layers, .bnn-server-only .bnn-send { display: none; }
"""
_component = None


def _canvas_component():
    global _component
    if _component is None:
        import streamlit as st

        js = ENGINE_JS.read_text(encoding="utf-8") + "\n" + CANVAS_JS.read_text(encoding="utf-8")
        _component = st.components.v2.component(
            "bnn_drawing_canvas", html=_CANVAS_HTML, css=_CANVAS_CSS, js=js, isolate_styles=True
        )
    return _component


class DrawingError(ValueError):
    """A drawing sent by the browser that is refused before it is decoded; the message says why."""


def png_data_url_to_array(url: str, size: int | None = None) -> np.ndarray:
    """``data:image/png;base64,...`` -> the image as an RGBA uint8 array.

    A browser's bytes are hostile: the URL's length is bounded (``MAX_DRAWING_URL``), the PNG's
    header is read first and anything but a ``size`` x ``size`` image is refused
    (:class:`DrawingError`) before a pixel is decoded (a 13000x13000 PNG of a few hundred kB
    would take gigabytes)."""
    if not isinstance(url, str) or len(url) > MAX_DRAWING_URL:
        raise DrawingError(f"the drawing is larger than {MAX_DRAWING_URL:,} characters")
    if not url.startswith(PNG_PREFIX):
        raise DrawingError("the drawing is not a PNG data URL")
    try:
        raw = base64.b64decode(url[len(PNG_PREFIX) :], validate=True)
    except ValueError as exc:
        raise DrawingError(f"the drawing is not base64 ({exc})") from None
    # the PNG signature, then the IHDR chunk: length, b"IHDR", width and height (big-endian)
    if len(raw) < 24 or raw[:8] != b"\x89PNG\r\n\x1a\n" or raw[12:16] != b"IHDR":
        raise DrawingError("the drawing is not a PNG")
    width, height = struct.unpack(">II", raw[16:24])
    if size is not None and (width, height) != (size, size):
        raise DrawingError(f"the drawing is {width}x{height} pixels; the canvas is {size}x{size}")
    try:
        return np.asarray(Image.open(io.BytesIO(raw), formats=["PNG"]).convert("RGBA"))
    except (ValueError, OSError) as exc:
        raise DrawingError(f"the drawing is not a readable PNG ({exc})") from None


_DECODED = "_bnn_drawing_decoded"  # session-state key: the last decoded drawing, by its URL's hash


def decoded_drawing(url: str | None, size: int, store=None) -> np.ndarray | None:
    """The drawing of ``url`` decoded once per tab (``store``: this tab's session state; a page
    that refreshes every 2 s while a run trains reuses it); :class:`DrawingError` for a refused one."""
    if store is None:
        import streamlit as st

        store = st.session_state
    if not url:
        return None
    digest = hashlib.sha256(url.encode("utf-8", "replace")).hexdigest()
    kept = store.get(_DECODED)
    if kept is not None and kept[0] == digest:
        if isinstance(kept[1], DrawingError):
            raise kept[1]
        return kept[1]
    try:
        image = png_data_url_to_array(url, size)
    except DrawingError as exc:
        store[_DECODED] = (digest, exc)
        raise
    store[_DECODED] = (digest, image)
    return image


def drawing_canvas(stroke_width: int, key: str, size: int = CANVAS_SIZE, page: dict | None = None):
    """The Draw page's canvas, white ink on black, with undo, clear, a random test digit and "Send to
    Inspect"; with ``page`` (the network's packed bytes, unit orders, test digits: see
    assets/draw_canvas.js) it reads the drawing itself at every pen move. Returns the drawing the
    browser sent to the server as an RGBA uint8 array (at the end of each stroke for a model the page
    cannot run, else when asked), or None; :class:`DrawingError` for a refused drawing."""
    result = _canvas_component()(
        data={"size": size, "strokeWidth": stroke_width, **(page or {})},
        key=key,
        default={"drawing": None},
        on_drawing_change=lambda: None,
        width="stretch",
        height="content",
    )
    return decoded_drawing(result.get("drawing"), size)


def parse_signs(text: str, name: str = "vector", max_len: int = 16) -> list[int]:
    """``"+1 -1 1, -1"`` (also ``+``/``-``) -> ``[1, -1, 1, -1]``; ValueError with a message for
    anything else (empty, other numbers, more than ``max_len`` elements)."""
    tokens = text.replace(",", " ").split()
    if not tokens:
        raise ValueError(f"{name} is empty: type ±1 values separated by spaces, e.g. +1 -1 +1 +1")
    values = []
    for token in tokens:
        if token in ("+1", "1", "+"):
            values.append(1)
        elif token in ("-1", "−1", "-", "−"):
            values.append(-1)
        else:
            raise ValueError(f"{name}: {token!r} is not +1 or −1; a binarized vector holds only +1 and −1")
    if len(values) > max_len:
        raise ValueError(f"{name} has {len(values)} elements; use at most {max_len}")
    return values
