"""Take a run's binarized network anywhere: the packed file, a C99 source for a microcontroller, ONNX.

Every format is made from the one packed model (:func:`bnn.xnor.export_packed`, the ``.bnnx`` bytes of
:mod:`bnn.xnor.fileformat`): ``"packed"`` is that file, ``"c"`` its C99 source and header
(:mod:`bnn.deploy.c_source`), ``"onnx"`` a standard ONNX graph (:mod:`bnn.deploy.onnx_graph`). Used by
``python -m bnn export``, :meth:`bnn.api.RunHandle.export` and the app's download buttons.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # bnn.xnor (numba, LLVM) is imported where a format is made: `python -m bnn train` needs none of it
    from ..xnor import PackedModel

FORMATS = ("c", "onnx", "packed")
SUFFIXES = {"c": ".c", "onnx": ".onnx", "packed": ".bnnx"}
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "main.c"  # reads a PGM digit, prints the class
KERNEL_CACHE = ROOT / "bnn" / "xnor" / "__pycache__"  # numba's cache of the kernels (when writable)
COMPILE_NICENESS = 10  # the child process that compiles the kernels yields the CPU to the app
COMPILE_SECONDS = 900  # ~40 s of CPU; give up (and compile in the process) after this


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: one of {', '.join(FORMATS)}")
    return fmt


def export_files(packed: PackedModel, fmt: str, stem: str) -> dict[str, bytes]:
    """The files of ``packed`` in format ``fmt``, by file name (``stem`` + suffix; the C header beside its
    source). :class:`~bnn.xnor.XnorExportError` when the format cannot hold the model (a C file: layers
    with real weights or activations)."""
    check_format(fmt)
    if fmt == "packed":
        from ..xnor import packed_bytes

        return {stem + ".bnnx": packed_bytes(packed)}
    if fmt == "c":
        from .c_source import c_source

        source = c_source(packed, stem)
        return {source.name + ".c": source.source.encode(), source.name + ".h": source.header.encode()}
    from .onnx_graph import onnx_bytes

    return {stem + ".onnx": onnx_bytes(packed, name=stem)}


def download(packed: PackedModel, fmt: str, stem: str) -> tuple[str, bytes, str]:
    """(file name, bytes, MIME type) of one download: the C source and header zipped with the example
    ``main.c``; the other formats as their one file."""
    files = export_files(packed, fmt, stem)
    if fmt != "c":
        ((name, data),) = files.items()
        return name, data, "application/octet-stream"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(f"{stem}/{name}", data)
        if EXAMPLE.is_file():
            header = next(name for name in files if name.endswith(".h"))
            example = EXAMPLE.read_text().replace('"bnn_model.h"', f'"{header}"')
            archive.writestr(f"{stem}/main.c", example)
    return f"{stem}-c.zip", buffer.getvalue(), "application/zip"


def check_out(out: str | os.PathLike, fmt: str) -> Path:
    """``out`` as a file to write in format ``fmt``; ValueError for a folder or a missing folder."""
    target = Path(out)
    check_format(fmt)
    if target.is_dir():
        raise ValueError(f"{target} is a folder: give the file name, e.g. {target / ('model' + SUFFIXES[fmt])}")
    if not target.parent.is_dir():
        raise ValueError(f"cannot write {target}: the folder {target.parent} does not exist")
    return target


def write_export(packed: PackedModel, fmt: str, out: str | os.PathLike) -> list[Path]:
    """Write the files of ``packed`` in format ``fmt``: ``out`` is the file (its folder must exist; the C
    header goes beside the source), or an existing folder, which gets the model named after it."""
    target = check_out(out, fmt)
    files = export_files(packed, fmt, target.stem)
    written = []
    for name, data in files.items():
        path = target if len(files) == 1 else target.with_name(name)  # C: NAME.c and NAME.h, NAME a C identifier
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise ValueError(f"cannot write {path}: {exc.strerror or exc}") from None
        written.append(path)
    return written


def prepare_kernels() -> None:
    """Make the packed engine's kernels ready in this process without slowing it down much (the app's
    warm-up thread calls this): with a cold numba cache they are first compiled in a child process at
    low priority (``nice``), which fills the cache on disk while holding neither this process's GIL nor a
    core at full priority, then loaded here (~1 s)."""
    from ..xnor import kernels

    with _compiling:  # one child at a time: a second caller (another page's warm-up, a test) waits for it
        if kernels.is_warm():
            return
        _compile_in_child()
        kernels.warm_up()  # loads what the child compiled, from numba's cache


_compiling = threading.Lock()


def _compile_in_child() -> None:
    """Fill numba's cache in a low-priority child process, unless it holds the kernels already."""
    if not any(KERNEL_CACHE.glob("*.nbi")):
        command = [sys.executable, "-c", "from bnn.xnor import kernels; kernels.warm_up()"]
        if shutil.which("nice"):
            command = ["nice", "-n", str(COMPILE_NICENESS), *command]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        try:
            subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=COMPILE_SECONDS)
        except (OSError, subprocess.TimeoutExpired):
            pass  # then kernels.warm_up compiles them in this process


def warm_kernels(stream=sys.stderr) -> None:
    """Compile (or load from numba's cache) the packed engine's kernels, saying so on one line with the
    time it took, the first time in a process (a machine's first run compiles for tens of seconds)."""
    from ..xnor import kernels

    if kernels.is_warm():
        return
    print(
        "Preparing the XNOR kernels (numba: compiled once per machine, then loaded from its cache) ...",
        end=" ",
        file=stream,
        flush=True,
    )
    started = time.perf_counter()
    kernels.warm_up()
    print(f"{time.perf_counter() - started:.1f} s", file=stream, flush=True)


__all__ = ["FORMATS", "download", "export_files", "prepare_kernels", "warm_kernels", "write_export"]
