"""The packed model's file format: :func:`save_packed` / :func:`load_packed`, no pickle.

The 8 magic bytes ``b"BNNXNOR\\x00"``, a uint32 LE version, a uint32 LE header length, a JSON header
(layers, array dtypes, shapes, offsets, payload CRC32), zero padding to 8 bytes, then the raw
little-endian arrays. Anything else is refused with :class:`~bnn.xnor.layer.PackedFileError`.
"""

from __future__ import annotations

import json
import math
import os
import stat
import zlib
from typing import Any

import numpy as np

from .layer import PackedFileError, PackedLayer
from .model import PackedModel

MAGIC = b"BNNXNOR\x00"
FORMAT_VERSION = 1


_ALLOWED_DTYPES = {"<u8", "<i4", "<f4", "|u1", "<u2"}
MAX_FILE_BYTES = 256 << 20  # the paper's 784-4096x3-10 MLP packs into 4.6 MB; a larger file is refused unread
MAX_HEADER_BYTES = 1 << 20  # its JSON header is ~2 kB per layer
MAX_LAYERS = 256  # layers of a model
MAX_ARRAYS = 16  # arrays of a layer (a layer saves at most 8)
MAX_DIM = 1 << 30  # largest size of one array dimension, or of a layer's inputs and outputs
MAX_NAME = 200  # characters of a layer's name


def packed_bytes(packed: PackedModel) -> bytes:
    """The file :func:`save_packed` writes, as bytes (for a download)."""
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
    pre = MAGIC + FORMAT_VERSION.to_bytes(4, "little") + len(header_bytes).to_bytes(4, "little") + header_bytes
    pre += b"\x00" * ((-len(pre)) % 8)
    return pre + payload


def save_packed(packed: PackedModel, path: str | os.PathLike) -> int:
    """Write ``packed`` to ``path``; returns the file size in bytes."""
    data = packed_bytes(packed)
    with open(path, "wb") as handle:
        handle.write(data)
    return len(data)


def load_packed(path: str | os.PathLike, *, threads: int | None = None, engine: str = "fused") -> PackedModel:
    """Read a file written by :func:`save_packed` (or downloaded from the app, ``python -m bnn export RUN
    --to packed``): a :class:`~bnn.xnor.model.PackedModel` whose ``predict`` / ``scores`` take pixels in
    [0, 1]. Anything else, a file over ``MAX_FILE_BYTES``, a directory or a device included, raises
    :class:`PackedFileError` with the reason (checked before the model is built: sizes, types, the
    payload's CRC32, every array's shape against the layers).

    >>> packed = bnn.load_packed("fast.bnnx")        # doctest: +SKIP
    >>> packed.predict(images / 255)                # doctest: +SKIP
    """
    name = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise PackedFileError(f"{name} is not a BNN Playground packed model (not a regular file)")
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise PackedFileError(f"cannot read {name}: {exc.strerror or exc}") from None
    return packed_from_bytes(data, name=name, threads=threads, engine=engine)


def _refuse_constant(text: str) -> None:
    raise ValueError(f"{text} is not a number of this format")


def _int(value: Any, what: str, low: int = 0, high: int = MAX_DIM) -> int:
    if type(value) is not int or not low <= value <= high:  # not bool, not float, not a string
        raise ValueError(f"{what} must be an integer in [{low}, {high}], got {str(value)[:40]!r}")
    return value


def _bool(value: Any, what: str) -> bool:
    if type(value) is not bool:
        raise ValueError(f"{what} must be true or false, got {str(value)[:40]!r}")
    return value


def _str(value: Any, what: str, longest: int = MAX_NAME) -> str:
    if not isinstance(value, str) or len(value) > longest:
        raise ValueError(f"{what} must be a text of at most {longest} characters")
    return value


def _list(value: Any, what: str, longest: int) -> list:
    if not isinstance(value, list) or len(value) > longest:
        raise ValueError(f"{what} must be a list of at most {longest} items")
    return value


def _shape(value: Any, what: str, dims: int | None = None) -> tuple[int, ...]:
    items = _list(value, what, 4)
    if dims is not None and len(items) != dims:
        raise ValueError(f"{what} must have {dims} sizes")
    return tuple(_int(v, what) for v in items)


def packed_from_bytes(
    data: bytes, *, name: str = "the data", threads: int | None = None, engine: str = "fused"
) -> PackedModel:
    """:func:`load_packed` on the file's bytes (``name`` for the messages)."""

    def bad(reason: str) -> PackedFileError:
        return PackedFileError(f"{name} is not a BNN Playground packed model ({reason})")

    if len(data) > MAX_FILE_BYTES:
        raise bad(f"it is larger than {MAX_FILE_BYTES >> 20} MB")
    if len(data) < 16 or data[:8] != MAGIC:
        raise bad(f"it does not start with the magic bytes {MAGIC!r}")
    version = int.from_bytes(data[8:12], "little")
    if version != FORMAT_VERSION:
        raise PackedFileError(
            f"{name} is a packed model of format version {version}; this code reads "
            f"version {FORMAT_VERSION}. Export the model again."
        )
    header_len = int.from_bytes(data[12:16], "little")
    if header_len > MAX_HEADER_BYTES:
        raise bad(f"its header is {header_len:,} bytes, more than {MAX_HEADER_BYTES:,}")
    if 16 + header_len > len(data):
        raise bad("the header is truncated")
    try:
        header = json.loads(data[16 : 16 + header_len].decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise bad(f"the header is not valid JSON: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(header, dict) or header.get("format") != "bnn-playground-xnor":
        raise bad("the header does not name the format")
    start = 16 + header_len
    start += (-start) % 8
    payload = data[start:]
    try:
        if len(payload) != _int(header["payload_nbytes"], "payload_nbytes", 0, MAX_FILE_BYTES):
            raise bad(f"the payload is {len(payload)} bytes, the header says {header['payload_nbytes']} (truncated?)")
        if zlib.crc32(payload) != _int(header["payload_crc32"], "payload_crc32", 0, 2**32 - 1):
            raise bad("the payload checksum does not match (corrupt file)")
        layers = [_read_layer(meta, payload, bad) for meta in _list(header["layers"], "layers", MAX_LAYERS)]
        return PackedModel(
            layers,
            input_scale=_str(header["input_scale"], "input_scale"),
            input_binarize=_bool(header["input_binarize"], "input_binarize"),
            image_shape=_shape(header["image_shape"], "image_shape", 3),
            threads=threads,
            engine=engine,
        )
    except PackedFileError as exc:
        if str(exc).startswith(name):
            raise
        raise PackedFileError(f"{name}: {exc}") from None
    except (KeyError, TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise bad(f"malformed header: {type(exc).__name__}: {str(exc)[:200]}") from None


def _read_layer(meta: Any, payload: bytes, bad: Any) -> PackedLayer:
    """One layer of the header, every field checked for its type and bounds, its arrays read from the payload."""
    if not isinstance(meta, dict):
        raise ValueError("a layer must be an object")
    layer_name = _str(meta["name"], "a layer's name")
    arrays: dict[str, np.ndarray] = {}
    for entry in _list(meta["arrays"], f"{layer_name}'s arrays", MAX_ARRAYS):
        if not isinstance(entry, dict):
            raise ValueError(f"{layer_name}: an array entry must be an object")
        key = _str(entry["key"], "an array's key", 32)
        dtype = _str(entry["dtype"], "an array's dtype", 8)
        if dtype not in _ALLOWED_DTYPES:
            raise bad(f"array dtype {dtype!r} is not allowed")
        if key in arrays:
            raise bad(f"array {layer_name}.{key} is given twice")
        shape = _shape(entry["shape"], f"{layer_name}.{key}'s shape")
        count = math.prod(shape)
        off = _int(entry["offset"], "an array's offset", 0, MAX_FILE_BYTES)
        nbytes = _int(entry["nbytes"], "an array's size", 0, MAX_FILE_BYTES)
        if nbytes != count * np.dtype(dtype).itemsize or off + nbytes > len(payload):
            raise bad(f"array {layer_name}.{key} does not fit the payload")
        arrays[key] = np.frombuffer(payload, dtype=dtype, count=count, offset=off).reshape(shape).copy()
    eps = meta["eps"]
    if eps is not None and (type(eps) not in (int, float) or not math.isfinite(eps) or eps <= 0):
        raise ValueError(f"{layer_name}: eps must be a positive number or null")
    in_shape = meta["in_shape"]
    return PackedLayer(
        name=layer_name,
        kind=_str(meta["kind"], "a layer's kind", 16),
        in_features=_int(meta["in_features"], f"{layer_name}.in_features", 1),
        out_features=_int(meta["out_features"], f"{layer_name}.out_features", 1),
        output=_str(meta["output"], "a layer's output", 16),
        activation=_str(meta["activation"], "a layer's activation", 16),
        eps=None if eps is None else float(eps),
        arrays=arrays,
        in_shape=None if in_shape is None else _shape(in_shape, f"{layer_name}.in_shape", 3),
        kernel=_int(meta["kernel"], f"{layer_name}.kernel", 0, 64),
        pool=_bool(meta["pool"], f"{layer_name}.pool"),
    )
