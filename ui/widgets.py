"""Widgets built on third-party components."""

from __future__ import annotations

from bnn.draw import CANVAS_SIZE


def drawing_canvas(stroke_width: int, key: str, size: int = CANVAS_SIZE):
    """A square canvas, white ink on black; returns the drawing as an RGBA uint8 array, or
    None before the first stroke."""
    from streamlit_drawable_canvas import st_canvas  # a Streamlit v2 component: import inside a run

    result = st_canvas(
        stroke_width=stroke_width,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=size,
        width=size,
        drawing_mode="freedraw",
        return_image_data=True,
        key=key,
    )
    return result.image_data


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
