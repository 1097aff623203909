"""The picked network as the page's engine reads it: packed bytes at a content-addressed URL.

The Draw page runs the packed network in the browser (``assets/bnn_engine.js``). The server exports
the picked run once per weights (:func:`bnn.xnor.export_packed`, ``save_packed``'s very bytes),
names the file by the SHA-256 of its bytes and writes it to ``static/packed/``, which Streamlit
serves at ``app/static/packed/<hash>.bnnx`` (``server.enableStaticServing``): the same weights
always have the same URL, so the browser may cache it, and a training run's newer weights get a
new one. Only that folder is served (Streamlit refuses paths outside ``static/``), and only packed
models are written there. Where the folder cannot be written, the bytes travel in the component's
data instead. A model with a layer the page cannot run (real weights or real activations: a
study's ablations) gets a message and stays on the server path.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from bnn.xnor import XnorExportError, export_packed, packed_bytes

ROOT = Path(__file__).resolve().parents[1]
PACKED_DIR = ROOT / "static" / "packed"  # served by Streamlit at URL_PREFIX
URL_PREFIX = "app/static/packed/"  # relative to the page's address
KEEP_BYTES = 256 * 1024 * 1024  # older packed files beyond this total are removed
KEEP_SECONDS = 120  # a file younger than this is never removed (a browser may be fetching it)
PAGE_KINDS = ("xnor", "bitplane", "conv", "pixelconv")


@dataclass(frozen=True)
class PageModel:
    """What the canvas component needs to run a network: ``url`` (or ``inline`` base64 bytes),
    the file's size and hash; or ``server_only``, the reason the page cannot run it."""

    url: str | None = None
    inline: str | None = None
    nbytes: int = 0
    sha256: str = ""
    server_only: str | None = None
    pack_ms: float = 0.0

    def as_data(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def page_kinds_only(packed) -> str | None:
    """None when every layer runs in the page, else the message saying why not."""
    for layer in packed.layers:
        if layer.kind not in PAGE_KINDS or (layer.kind != "xnor" and layer.output != "bits"):
            return (
                f"This model has a layer that cannot be packed ({layer.name}: real weights or real activations): "
                "read on the server."
            )
    return None


def page_bytes(model) -> tuple[bytes | None, str | None]:
    """(the .bnnx bytes, None) or (None, why the page cannot run ``model``)."""
    try:
        packed = export_packed(model, engine="numpy")
    except XnorExportError as exc:
        return None, f"This model cannot be packed ({exc}): read on the server."
    reason = page_kinds_only(packed)
    return (None, reason) if reason is not None else (packed_bytes(packed), None)


def _publish(data: bytes, digest: str) -> str | None:
    """Write ``data`` to PACKED_DIR under its hash (atomically) and return its URL; None if not writable."""
    try:
        PACKED_DIR.mkdir(parents=True, exist_ok=True)
        path = PACKED_DIR / f"{digest}.bnnx"
        if not path.exists():
            temporary = PACKED_DIR / f".{digest}.{os.getpid()}.tmp"
            temporary.write_bytes(data)
            os.replace(temporary, path)
            _prune()
        return URL_PREFIX + path.name
    except OSError:
        return None


def _prune() -> None:
    """Remove the oldest packed files beyond KEEP_BYTES (never one younger than KEEP_SECONDS)."""
    files = []
    for entry in os.scandir(PACKED_DIR):
        if entry.is_file(follow_symlinks=False):
            info = entry.stat(follow_symlinks=False)
            files.append((info.st_mtime, info.st_size, entry.path))
    total = sum(size for _, size, _ in files)
    now = time.time()
    for mtime, size, path in sorted(files):
        if total <= KEEP_BYTES or now - mtime < KEEP_SECONDS:
            break
        try:
            os.remove(path)
        except OSError:
            pass
        total -= size


@st.cache_resource(show_spinner=False, max_entries=32)
def page_model(cache_key: str, _model) -> PageModel:
    """The page's view of the model with weights ``cache_key`` (packed and hashed once per weights)."""
    started = time.perf_counter()
    data, reason = page_bytes(_model)
    if data is None:
        return PageModel(server_only=reason)
    digest = hashlib.sha256(data).hexdigest()
    url = _publish(data, digest)
    pack_ms = (time.perf_counter() - started) * 1000
    if url is None:
        inline = base64.b64encode(data).decode("ascii")
        return PageModel(inline=inline, nbytes=len(data), sha256=digest, pack_ms=pack_ms)
    return PageModel(url=url, nbytes=len(data), sha256=digest, pack_ms=pack_ms)
