"""Widgets of our own: the drawing canvas (a Streamlit v2 component), ±1 vector parsing."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from bnn.draw import CANVAS_SIZE

CANVAS_CLASS = "bnn-canvas"  # browser tests find the canvas by this class

# Plain HTML canvas, white ink on black. The drawing is sent to the app as a PNG the moment a
# stroke ends (pointerup): streamlit-drawable-canvas waits 200 ms after a stroke before sending,
# more than the Draw page's whole latency budget.
_CANVAS_HTML = f"""<div class="bnn-draw">
  <canvas class="{CANVAS_CLASS}" role="img" aria-label="drawing canvas"></canvas>
  <div class="bnn-tools"><button type="button" class="bnn-undo" disabled>Undo stroke</button></div>
</div>"""
_CANVAS_CSS = """
.bnn-draw { display: inline-flex; flex-direction: column; gap: 6px; }
.bnn-draw canvas { touch-action: none; cursor: crosshair; border-radius: 6px; border: 1px solid #6b7280;
  max-width: 100%; background: #000; }
.bnn-tools button { font: inherit; font-size: 13px; padding: 2px 10px; border-radius: 6px; cursor: pointer;
  border: 1px solid #9ca3af; background: transparent; color: inherit; }
.bnn-tools button:disabled { opacity: 0.45; cursor: default; }
"""
_CANVAS_JS = """
export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const canvas = parentElement.querySelector("canvas");
  const undo = parentElement.querySelector(".bnn-undo");
  let state = parentElement.__bnnCanvas;
  if (!state) {
    state = { history: [], last: null, width: data.strokeWidth };
    parentElement.__bnnCanvas = state;
    canvas.width = data.size; canvas.height = data.size;
    canvas.style.width = data.size + "px"; canvas.style.height = data.size + "px";
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, data.size, data.size);
    const at = (event) => {
      const box = canvas.getBoundingClientRect();
      const scale = canvas.width / box.width;
      return [(event.clientX - box.left) * scale, (event.clientY - box.top) * scale];
    };
    const line = (from, to) => {
      ctx.strokeStyle = "#fff"; ctx.lineWidth = state.width; ctx.lineCap = "round"; ctx.lineJoin = "round";
      ctx.beginPath(); ctx.moveTo(...from); ctx.lineTo(...to); ctx.stroke();
    };
    const send = () => state.send(canvas.toDataURL("image/png"));
    canvas.addEventListener("pointerdown", (event) => {
      canvas.setPointerCapture(event.pointerId);
      state.history.push(ctx.getImageData(0, 0, canvas.width, canvas.height));
      if (state.history.length > 30) state.history.shift();
      state.last = at(event);
      line(state.last, state.last);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (state.last === null) return;
      const point = at(event);
      line(state.last, point);
      state.last = point;
    });
    const end = () => {
      if (state.last === null) return;
      state.last = null;
      undo.disabled = false;
      send();
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    undo.addEventListener("click", () => {
      const previous = state.history.pop();
      if (!previous) return;
      ctx.putImageData(previous, 0, 0);
      undo.disabled = state.history.length === 0;
      send();
    });
  }
  state.width = data.strokeWidth;
  state.send = (url) => setStateValue("drawing", url);
}
"""
_component = None


def _canvas_component():
    global _component
    if _component is None:
        import streamlit as st

        _component = st.components.v2.component(
            "bnn_drawing_canvas", html=_CANVAS_HTML, css=_CANVAS_CSS, js=_CANVAS_JS, isolate_styles=True
        )
    return _component


def png_data_url_to_array(url: str) -> np.ndarray:
    """``data:image/png;base64,...`` -> the image as an RGBA uint8 array."""
    _, encoded = url.split(";base64,", 1)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))).convert("RGBA"))


def drawing_canvas(stroke_width: int, key: str, size: int = CANVAS_SIZE):
    """A square canvas, white ink on black, with an undo button; returns the drawing as an RGBA
    uint8 array, or None before the first stroke. The app hears of a stroke when it ends."""
    result = _canvas_component()(
        data={"size": size, "strokeWidth": stroke_width},
        key=key,
        default={"drawing": None},
        on_drawing_change=lambda: None,
        width="content",
        height="content",
    )
    url = result.get("drawing")
    return png_data_url_to_array(url) if url else None


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
