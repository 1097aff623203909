"""The packed model's file format: :func:`save_packed` / :func:`load_packed`, no pickle.

The 8 magic bytes ``b"BNNXNOR\\x00"``, a uint32 LE version, a uint32 LE header length, a JSON header
(layers, array dtypes, shapes, offsets, payload CRC32), zero padding to 8 bytes, then the raw
little-endian arrays. Anything else is refused with :class:`~bnn.xnor.layer.PackedFileError`.
"""

from __future__ import annotations

import json
import math
import os
import zlib

import numpy as np

from .layer import PackedFileError, PackedLayer
from .model import PackedModel

MAGIC = b"BNNXNOR\x00"
FORMAT_VERSION = 1


def save_packed(packed: PackedModel, path: str | os.PathLike) -> int:
    """Write ``packed`` to ``path``; returns the file size in bytes."""
    entries = []
    chunks: list[bytes] = []
    offset = 0
    layers_meta = []
    for layer in packed.layers:
        arrays_meta = []
        for key, arr in layer.arrays.items():
            data = np.ascontiguousarray(arr)
            dtype = data.dtype.newbyteorder("<") if data.dtype.byteorder not in ("|", "<") else data.dtype
            raw = data.astype(dtype, copy=False).tobytes()
            pad = (-offset) % 8
            if pad:
                chunks.append(b"\x00" * pad)
                offset += pad
            arrays_meta.append(
                {
                    "key": key,
                    "dtype": np.dtype(dtype).str,
                    "shape": list(data.shape),
                    "offset": offset,
                    "nbytes": len(raw),
                }
            )
            chunks.append(raw)
            offset += len(raw)
        layers_meta.append({**layer.describe(), "eps": layer.eps, "arrays": arrays_meta})
        entries.extend(arrays_meta)
    payload = b"".join(chunks)
    header = {
        "format": "bnn-playground-xnor",
        "version": FORMAT_VERSION,
        "input_scale": packed.input_scale,
        "input_binarize": packed.input_binarize,
        "image_shape": list(packed.image_shape),
        "layers": layers_meta,
        "payload_nbytes": len(payload),
        "payload_crc32": zlib.crc32(payload),
    }
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head = MAGIC + FORMAT_VERSION.to_bytes(4, "little") + len(header_bytes).to_bytes(4, "little")
    pre = head + header_bytes
    pre += b"\x00" * ((-len(pre)) % 8)
    with open(path, "wb") as handle:
        handle.write(pre)
        handle.write(payload)
    return len(pre) + len(payload)


_ALLOWED_DTYPES = {"<u8", "<i4", "<f4", "|u1", "<u2"}


def load_packed(path: str | os.PathLike, *, threads: int | None = None, engine: str = "fused") -> PackedModel:
    """Read a file written by :func:`save_packed`; :class:`PackedFileError` for anything else."""
    with open(path, "rb") as handle:
        data = handle.read()

    def bad(reason: str) -> PackedFileError:
        return PackedFileError(f"{os.fspath(path)} is not a BNN Playground packed model ({reason})")

    if len(data) < 16 or data[:8] != MAGIC:
        raise bad(f"it does not start with the magic bytes {MAGIC!r}")
    version = int.from_bytes(data[8:12], "little")
    if version != FORMAT_VERSION:
        raise PackedFileError(
            f"{os.fspath(path)} is a packed model of format version {version}; this code reads "
            f"version {FORMAT_VERSION}. Export the model again."
        )
    header_len = int.from_bytes(data[12:16], "little")
    if 16 + header_len > len(data):
        raise bad("the header is truncated")
    try:
        header = json.loads(data[16 : 16 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"the header is not valid JSON: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != "bnn-playground-xnor":
        raise bad("the header does not name the format")
    start = 16 + header_len
    start += (-start) % 8
    payload = data[start:]
    try:
        if len(payload) != header["payload_nbytes"]:
            raise bad(f"the payload is {len(payload)} bytes, the header says {header['payload_nbytes']} (truncated?)")
        if zlib.crc32(payload) != header["payload_crc32"]:
            raise bad("the payload checksum does not match (corrupt file)")
        layers = []
        for meta in header["layers"]:
            arrays = {}
            for entry in meta["arrays"]:
                dtype = str(entry["dtype"])
                if dtype not in _ALLOWED_DTYPES:
                    raise bad(f"array dtype {dtype!r} is not allowed")
                shape = tuple(int(v) for v in entry["shape"])
                count = math.prod(shape)
                off, nbytes = int(entry["offset"]), int(entry["nbytes"])
                if nbytes != count * np.dtype(dtype).itemsize or off < 0 or off + nbytes > len(payload):
                    raise bad(f"array {meta['name']}.{entry['key']} does not fit the payload")
                arr = np.frombuffer(payload, dtype=dtype, count=count, offset=off).reshape(shape).copy()
                arrays[str(entry["key"])] = arr
            layers.append(
                PackedLayer(
                    name=str(meta["name"]),
                    kind=str(meta["kind"]),
                    in_features=int(meta["in_features"]),
                    out_features=int(meta["out_features"]),
                    output=str(meta["output"]),
                    activation=str(meta["activation"]),
                    eps=None if meta["eps"] is None else float(meta["eps"]),
                    arrays=arrays,
                    in_shape=None if meta["in_shape"] is None else tuple(int(v) for v in meta["in_shape"]),
                    kernel=int(meta["kernel"]),
                    pool=bool(meta["pool"]),
                )
            )
        return PackedModel(
            layers,
            input_scale=str(header["input_scale"]),
            input_binarize=bool(header["input_binarize"]),
            image_shape=tuple(int(v) for v in header["image_shape"]),
            threads=threads,
            engine=engine,
        )
    except PackedFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"malformed header: {type(exc).__name__}: {exc}") from None
