"""Downloads of a run's binarized network (the packed file, a C source for a microcontroller, ONNX) and
the device table of its C file, for the Efficiency and Compare pages (:mod:`bnn.deploy.formats`).

The files are made when a button is clicked (``st.download_button`` with a callable), not at every page
run; the packed model is built once per run's weights (``Run.cache_key``).
"""

from __future__ import annotations

import functools

import streamlit as st

from bnn.deploy.c_device import code_bytes, device_rows
from bnn.deploy.c_source import c_source
from bnn.deploy.formats import download
from bnn.jobs.run_names import slugify
from bnn.network.summary import format_bytes
from bnn.xnor import PackedModel, XnorExportError, export_packed

FILES_KEPT = 8  # downloads kept in memory (at most ~2 MB each for the presets)
LABELS = {  # format -> (button, what it is)
    "packed": ("Packed model (.bnnx)", "the bits and thresholds as the XNOR engine reads them: bnn.load_packed"),
    "c": ("C for a microcontroller (.zip)", "C99 source + header, stdint only, and an example main.c"),
    "onnx": ("ONNX (.onnx)", "standard ops, runs in onnxruntime with the same predictions"),
}


@st.cache_resource(show_spinner=False, max_entries=4)
def packed_of(cache_key: str, _model) -> tuple[PackedModel | None, str | None]:
    """(packed model, None) or (None, why it cannot be packed) for a run's weights. On the numpy engine:
    the files need only its arrays, and Compare must not wait for the kernels to compile (~40 s cold)."""
    try:
        return export_packed(_model, engine="numpy"), None
    except XnorExportError as exc:
        return None, str(exc)


@st.cache_data(show_spinner=False, max_entries=8)
def device_needs(cache_key: str, _packed: PackedModel) -> dict:
    """The C file's const data, code (compiled here when a compiler is present) and RAM bytes, the
    device table, or the reason the C export refuses the model."""
    try:
        source = c_source(_packed)
    except XnorExportError as exc:
        return {"refused": str(exc)}
    measured = code_bytes(source)
    code = measured[0] if measured else None
    return {
        "refused": None,
        "const": source.const_bytes,
        "code": code,
        "built": measured[1] if measured else None,
        "ram": source.ram_bytes,
        "rows": device_rows(source, code),
    }


@functools.lru_cache(maxsize=FILES_KEPT)
def _file(cache_key: str, fmt: str, stem: str, packed: PackedModel) -> bytes:
    """A download's bytes, made once per run's weights and format (an ONNX graph takes ~1 s of CPU): a
    click runs outside the page run (no ``st.cache_data`` there), and repeated clicks cost nothing."""
    return download(packed, fmt, stem)[1]


def download_buttons(packed: PackedModel, name: str, cache_key: str, key: str, where=st) -> None:
    """One button per format, side by side; C and ONNX disabled with the reason for a model they cannot hold."""
    needs = device_needs(cache_key, packed)
    stem = slugify(name) or "bnn"
    columns = where.columns(len(LABELS))
    for column, (fmt, (label, what)) in zip(columns, LABELS.items()):
        refused = (
            needs["refused"].replace("to C:", f"to {fmt.upper()}:") if needs["refused"] and fmt != "packed" else None
        )

        def make(fmt: str = fmt) -> bytes:
            return _file(cache_key, fmt, stem, packed)

        file_name = f"{stem}-c.zip" if fmt == "c" else stem + (".bnnx" if fmt == "packed" else ".onnx")
        column.download_button(
            label,
            make if not refused else b"",
            file_name=file_name,
            mime="application/zip" if fmt == "c" else "application/octet-stream",
            icon=":material/download:",
            key=f"{key}_{fmt}",
            on_click="ignore",
            disabled=bool(refused),
            help=refused or what,
            width="stretch",
        )


def device_table(packed: PackedModel, cache_key: str, where=st) -> None:
    """Flash and RAM the C file needs and whether common microcontrollers have them."""
    needs = device_needs(cache_key, packed)
    if needs["refused"]:
        where.caption(f"No C file for this model: {needs['refused']}")
        return
    where.dataframe(
        [
            {
                "microcontroller": row["part"],
                "flash needed": format_bytes(row["flash needed"]),
                "RAM needed": format_bytes(row["RAM needed"]),
                "fits": "yes" if row["fits"] else "no",
            }
            for row in needs["rows"]
        ],
        hide_index=True,
    )
    code = f"{needs['code']:,} bytes of code ({needs['built']})" if needs["code"] else "code (no compiler here)"
    where.caption(
        f"Flash: {needs['const']:,} bytes of const data (packed weight bits, thresholds, the output layer's "
        f"score table) + {code}. RAM: {needs['ram']:,} bytes of activation buffers, plus a few hundred "
        "bytes of stack. No float arithmetic, no malloc."
    )
