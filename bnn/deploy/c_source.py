"""A packed model as one self-contained C99 source and header, for a microcontroller or any C compiler.

The C file holds the packed weight bits, the folded integer thresholds and the output layer's score
table (:class:`~bnn.xnor.layer.PackedLayer`, array ``table``) as ``const`` arrays and the XNOR-popcount
arithmetic of :mod:`bnn.xnor.numpy_kernels` in plain C99 (``stdint.h`` only, no float arithmetic, no
``malloc``): 32-bit words, so a Cortex-M does one XOR and one popcount per 32 weights. Courbariaux et al.
(2016, arXiv:1602.02830, section 3). Its entry points::

    int  bnn_predict(const uint8_t pixels[784], int32_t scores[10]);   /* the class, ties to the lowest */
    void bnn_float_scores(const int32_t scores[10], float out[10]);    /* the model's float32 scores */

``pixels`` are 8-bit (0..255, row-major 28x28, as in MNIST). ``scores`` are the output layer's integer
dot products ``K - 2 * popcount`` (±1 for a binarized output layer); ``bnn_float_scores`` turns them into
the float model's float32 scores by a table look-up (no float BatchNorm on the device), the very numbers
``PackedModel.scores`` returns, and ``bnn_predict`` returns their argmax. The activation buffers are
``static`` (RAM, not the stack), so ``bnn_predict`` is not reentrant. Layers of kind "float" (real weights
or real activations) need float arithmetic and are refused (:class:`~bnn.xnor.layer.XnorExportError`).

The C functions' text: :mod:`bnn.deploy.c_functions`; whether the compiled source fits a device:
:mod:`bnn.deploy.c_device`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..xnor.layer import PackedLayer, XnorExportError
from ..xnor.model import PackedModel
from ..xnor.packing import unpack_bits, words_for
from .c_functions import C_FUNCTIONS

WORD_BITS = 32  # C words are uint32_t: a Cortex-M's register; a uint64 word of the file is two of them
_PER_LINE = 12  # array values per line of the C source


@dataclass(frozen=True)
class CSource:
    """The generated ``source`` (.c) and ``header`` (.h) of model ``name``, with what a device needs:
    ``const_bytes`` (the const arrays, flash) and ``ram_bytes`` (the static activation buffers)."""

    name: str
    source: str
    header: str
    const_bytes: int
    ram_bytes: int


def _c_name(name: str) -> str:
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name).strip("_").lower() or "bnn_model"
    return ident if not ident[0].isdigit() else "m_" + ident


def _words32(words64: np.ndarray) -> np.ndarray:
    """uint64 words (..., W) -> uint32 words (..., 2W): bit i of a row stays bit i (low half first)."""
    arr = np.ascontiguousarray(words64, dtype="<u8")
    return arr.view("<u4").reshape(arr.shape[:-1] + (2 * arr.shape[-1],))


def _values(values: np.ndarray, fmt) -> str:
    items = [fmt(v) for v in np.asarray(values).ravel()]
    lines = [", ".join(items[i : i + _PER_LINE]) for i in range(0, len(items), _PER_LINE)]
    return "\n    " + ",\n    ".join(lines) + "\n" if lines else "0"


def _hex32(v) -> str:
    return f"0x{int(v):08x}u"


def _float_literal(v) -> str:
    """The exact float32 as a C99 hexadecimal literal."""
    return float(np.float32(v)).hex() + "f"


class _Writer:
    def __init__(self) -> None:
        self.arrays: list[str] = []
        self.const_bytes = 0

    def array(self, ctype: str, name: str, values: np.ndarray, fmt, itemsize: int) -> str:
        values = np.asarray(values)
        count = max(1, values.size)
        self.arrays.append(f"static const {ctype} {name}[{count}] = {{{_values(values, fmt)}}};\n")
        self.const_bytes += count * itemsize
        return name

    def u32(self, name: str, values) -> str:
        return self.array("uint32_t", name, values, _hex32, 4)

    def i32(self, name: str, values) -> str:
        values = np.asarray(values, dtype=np.int64)
        if values.size and (values.min() < -(2**31) or values.max() >= 2**31):
            raise XnorExportError(f"{name}: a threshold does not fit 32 bits")
        return self.array("int32_t", name, values, lambda v: f"{int(v)}", 4)

    def i8(self, name: str, values) -> str:
        return self.array("int8_t", name, values, lambda v: f"{int(v)}", 1)

    def f32(self, name: str, values) -> str:
        return self.array("float", name, values, _float_literal, 4)


def _natural_bits(layer: PackedLayer) -> np.ndarray:
    """A bit-plane layer's stored weight bits (units, K) in natural pixel order (the file stores them centre-out)."""
    stored = unpack_bits(layer.arrays["weight_bits"], layer.in_features)
    natural = np.empty_like(stored)
    natural[:, layer.perm_index()] = stored
    return natural


def _pack32(bits: np.ndarray) -> np.ndarray:
    """bool (..., K) -> uint32 words (..., ceil(K / 32)), bit i of word i // 32 (padding bits 0)."""
    k = bits.shape[-1]
    padded = np.zeros(bits.shape[:-1] + (-(-k // WORD_BITS) * WORD_BITS,), dtype=bool)
    padded[..., :k] = bits
    return np.packbits(padded, axis=-1, bitorder="little").view("<u4")


def _input_kmin(packed: PackedModel) -> int:
    """The smallest 8-bit level whose scaled pixel has sign +1 (as the engine computes it in float32)."""
    x = np.arange(256, dtype=np.float32) / np.float32(255)
    scaled = x * np.float32(2) - np.float32(1) if packed.input_scale == "pm1" else x
    plus = scaled >= 0
    kmin = int(np.argmax(plus)) if plus.any() else 256
    if not (plus[kmin:].all() and not plus[:kmin].any()):
        raise XnorExportError("the input's sign is not a threshold on the pixel level")
    return kmin


def _refuse(layer: PackedLayer, why: str) -> XnorExportError:
    return XnorExportError(f"layer {layer.name} ({layer.kind}) cannot be exported to C: {why}")


BUFFERS = ("bnn_buf0", "bnn_buf1")  # the activation buffers, used in turn


@dataclass
class _Program:
    """The C calls of a model's layers and what they need, gathered as :func:`_layer_calls` writes them."""

    out: _Writer = field(default_factory=_Writer)  # the const arrays
    used: set[str] = field(default_factory=lambda: {"popcount"})  # the C functions called (C_FUNCTIONS' keys)
    body: list[str] = field(default_factory=list)  # bnn_predict's calls, one line each
    buffer_words: list[int] = field(default_factory=lambda: [1])  # each activation's uint32 words
    planes_words: int = 0  # the pixel bit-planes' words (0: none)
    written: set[str] = field(default_factory=set)  # the buffers written
    table_name: str | None = None  # the output layer's score table, when it has one


def _check_layer(layer: PackedLayer, index: int, last: int) -> None:
    """Refuse a layer the C code cannot compute in integers."""
    if layer.kind == "float":
        raise _refuse(layer, "its weights or its inputs are real-valued (float arithmetic); binarize them")
    if index == last and (layer.kind != "xnor" or layer.kernel):
        raise _refuse(layer, "the output layer must be a dense XNOR layer")
    if index < last and layer.output != "bits":
        raise _refuse(layer, "a hidden layer with real outputs needs float arithmetic")


def _input_bits_call(prog: _Program, packed: PackedModel, layer: PackedLayer, target: str) -> None:
    """The pixels' signs into ``target``, for a binarized input."""
    channels, height, width = packed.image_shape
    prog.used.add("input_bits")
    spatial = layer.kind == "conv" or layer.in_shape is not None
    cw = 2 * words_for(channels) if spatial else 0
    words = height * width * cw if spatial else 2 * words_for(int(np.prod(packed.image_shape)))
    prog.buffer_words.append(words)
    prog.body.append(
        f"    bnn_input_bits(pixels, {channels}, {height * width}, {cw}, {_input_kmin(packed)}, {target});\n"
    )
    prog.written.add(target)


def _bitplane_call(prog: _Program, packed: PackedModel, layer: PackedLayer, prefix: str, target: str) -> None:
    """A dense layer on the pixels' bit-planes."""
    prog.used.add("bitplane")
    if layer.output != "bits":
        raise _refuse(layer, "a pixel layer with real outputs needs float arithmetic")
    alpha, beta, _, c = layer.plane_constants(packed.input_scale)
    words = -(-layer.in_features // WORD_BITS)
    prog.planes_words = 9 * words
    w = prog.out.u32(f"{prefix}_W", _pack32(_natural_bits(layer)))
    t = prog.out.i32(f"{prefix}_C", c)
    prog.buffer_words.append(2 * words_for(layer.out_features))
    prog.body.append(
        f"    bnn_bitplane(pixels, {layer.in_features}, {words}, {w}, {t}, {layer.out_features}, "
        f"{alpha}, {beta}, bnn_planes, {target});\n"
    )


def _conv_call(prog: _Program, packed: PackedModel, layer: PackedLayer, prefix: str, state: str, target: str) -> None:
    """A conv layer: on ±1 feature maps (``state``), or on the pixels (kind "pixelconv")."""
    out = prog.out
    in_c, in_h, in_w = layer.in_shape
    ocw = 2 * words_for(layer.out_features)
    oc, oh, ow = layer.out_shape
    prog.buffer_words.append(oh * ow * ocw)
    thresholds = layer.conv_thresholds()
    t = out.i32(f"{prefix}_T", thresholds[: layer.out_features])
    s = out.i8(f"{prefix}_S", thresholds[layer.out_features :])
    geometry = f"{in_h}, {in_w}, {layer.kernel}, {int(layer.pool)}"
    if layer.kind == "conv":
        prog.used.add("conv")
        cw = 2 * words_for(in_c)
        w = out.u32(f"{prefix}_W", _words32(layer.arrays["weight_bits"]))
        prog.body.append(
            f"    bnn_conv({state}, {in_h}, {in_w}, {in_c}, {cw}, {layer.kernel}, {int(layer.pool)}, {w}, "
            f"{t}, {s}, {oc}, {target}, {ocw});\n"
        )
    else:
        prog.used.add("pixel_conv")
        signs = np.where(unpack_bits(layer.arrays["weight_bits"], layer.fan_in), 1, -1)
        w = out.i8(f"{prefix}_W", signs)
        q_mul, q_add = layer.pixel_levels(packed.input_scale)
        prog.body.append(
            f"    bnn_pixel_conv(pixels, {in_c}, {geometry}, {w}, {t}, {s}, {oc}, {q_mul}, {q_add}, {target}, {ocw});\n"
        )


def _xnor_call(
    prog: _Program, layer: PackedLayer, prefix: str, state: str, target: str, upper: str, is_last: bool
) -> None:
    """A dense XNOR layer: into ``target`` (hidden), or into ``scores`` (the output layer)."""
    prog.used.add("xnor")
    words = 2 * layer.words
    w = prog.out.u32(f"{prefix}_W", _words32(layer.arrays["weight_bits"]))
    units, k = layer.out_features, layer.in_features
    if layer.output == "bits":
        t = prog.out.i32(f"{prefix}_T", layer.arrays["threshold"])
        if is_last:
            prog.body.append(f"    bnn_xnor({state}, {words}, {w}, {t}, {units}, {k}, 0, scores);\n")
        else:
            prog.buffer_words.append(2 * words_for(units))
            prog.body.append(f"    bnn_xnor({state}, {words}, {w}, {t}, {units}, {k}, {target}, 0);\n")
        return
    table = layer.output_table()
    if table is None:
        raise _refuse(layer, "its score table is too large")
    prog.table_name = prog.out.f32(f"{upper}_TABLE", table)
    prog.body.append(f"    bnn_xnor({state}, {words}, {w}, 0, {units}, {k}, 0, scores);\n")


def _layer_calls(packed: PackedModel, upper: str) -> _Program:
    """Every layer's C call, in order, each reading the buffer the one before wrote."""
    prog = _Program()
    last = len(packed.layers) - 1
    state = "px"  # the input of the next layer: "px" (uint8 pixels) or a buffer
    flip = 0
    for index, layer in enumerate(packed.layers):
        prefix = f"L{index}_{_c_name(layer.name).upper()}"
        target = BUFFERS[flip]
        _check_layer(layer, index, last)
        if layer.kind in ("xnor", "conv") and state == "px":  # binarized input: the pixels' signs first
            _input_bits_call(prog, packed, layer, target)
            state, flip = target, 1 - flip
            target = BUFFERS[flip]
        if layer.kind == "bitplane":
            _bitplane_call(prog, packed, layer, prefix, target)
        elif layer.kind in ("conv", "pixelconv"):
            _conv_call(prog, packed, layer, prefix, state, target)
        else:  # dense XNOR
            _xnor_call(prog, layer, prefix, state, target, upper, index == last)
        if index < last:
            prog.written.add(target)
        state, flip = target, 1 - flip
    return prog


def _float_scores_body(output: PackedLayer, table_name: str | None) -> str:
    """The loop of ``bnn_float_scores``: the integer scores as the float model's (±1, or the table's)."""
    if output.output == "bits":
        return "    for (u = 0; u < BNN_CLASSES; u++) out[u] = (float)scores[u]; /* +-1 */\n"
    k = output.in_features
    return (
        "    for (u = 0; u < BNN_CLASSES; u++) {\n"
        f"        int32_t p = ({k} - scores[u]) / 2; /* the popcount */\n"
        f"        out[u] = (p >= 0 && p <= {k}) ? {table_name}[p * BNN_CLASSES + u] : 0.0f;\n"
        "    }\n"
    )


def _source_text(ident: str, packed: PackedModel, prog: _Program, buffer_size: int, ram_bytes: int) -> str:
    """The .c file: the C functions used, the const arrays, the buffers, bnn_float_scores, bnn_predict."""
    functions = "".join(text for key, text in C_FUNCTIONS.items() if key in prog.used)
    planes = f"static uint32_t bnn_planes[{prog.planes_words}];\n" if prog.planes_words else ""
    kinds = ", ".join(f"{layer.name} {layer.kind}" for layer in packed.layers)
    return (
        f"/* {ident}.c: a binarized neural network ({kinds}), generated by BNN Playground\n"
        "   (python -m bnn export RUN --to c) from its packed model (.bnnx). C99, stdint only.\n"
        f"   Flash: {prog.out.const_bytes:,} bytes of const data + code; "
        f"RAM: {ram_bytes:,} bytes of static buffers. */\n"
        f'#include "{ident}.h"\n\n'
        f"{functions}\n"
        + "".join(prog.out.arrays)
        + "".join(f"\nstatic uint32_t {buffer}[{buffer_size}];" for buffer in BUFFERS if buffer in prog.written)
        + f"\n{planes}\n"
        "void bnn_float_scores(const int32_t scores[BNN_CLASSES], float out[BNN_CLASSES])\n{\n    int u;\n"
        + _float_scores_body(packed.layers[-1], prog.table_name)
        + "}\n\n"
        "int bnn_predict(const uint8_t pixels[BNN_PIXELS], int32_t scores[BNN_CLASSES])\n{\n"
        "    float f[BNN_CLASSES];\n    int u, best = 0;\n" + "".join(prog.body) + "    bnn_float_scores(scores, f);\n"
        "    for (u = 1; u < BNN_CLASSES; u++)\n        if (f[u] > f[best]) best = u; /* ties: the lowest class */\n"
        "    return best;\n}\n"
    )


def _header_text(ident: str, packed: PackedModel) -> str:
    """The .h file: the sizes and the two entry points."""
    upper = ident.upper()
    channels, height, width = packed.image_shape
    pixels = int(np.prod(packed.image_shape))
    return (
        f"/* {ident}.h: generated by BNN Playground. */\n"
        f"#ifndef {upper}_H\n#define {upper}_H\n\n#include <stdint.h>\n\n"
        f"#define BNN_PIXELS {pixels} /* 8-bit pixels, {channels}x{height}x{width}, row-major */\n"
        f"#define BNN_CLASSES {packed.layers[-1].out_features}\n\n"
        "/* The class of one image (ties go to the lowest class). scores: the output layer's integer dot\n"
        "   products (K - 2 popcount; +-1 for a binarized output layer). Not reentrant (static buffers). */\n"
        "int bnn_predict(const uint8_t pixels[BNN_PIXELS], int32_t scores[BNN_CLASSES]);\n\n"
        "/* The float model's float32 scores for bnn_predict's scores (a table look-up, exact). */\n"
        "void bnn_float_scores(const int32_t scores[BNN_CLASSES], float out[BNN_CLASSES]);\n\n"
        f"#endif /* {upper}_H */\n"
    )


def c_source(packed: PackedModel, name: str = "bnn_model") -> CSource:
    """The C99 source and header of ``packed`` (see the module docstring); :class:`XnorExportError`
    names a layer the C code cannot compute in integers."""
    ident = _c_name(name)
    prog = _layer_calls(packed, ident.upper())
    buffer_size = max(prog.buffer_words)
    ram_bytes = 4 * (len(prog.written) * buffer_size + prog.planes_words)
    source = _source_text(ident, packed, prog, buffer_size, ram_bytes)
    return CSource(ident, source, _header_text(ident, packed), prog.out.const_bytes, ram_bytes)
