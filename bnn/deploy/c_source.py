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
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..xnor.layer import PackedLayer, XnorExportError
from ..xnor.model import PackedModel
from ..xnor.packing import unpack_bits, words_for

WORD_BITS = 32  # C words are uint32_t: a Cortex-M's register; a uint64 word of the file is two of them
COMMON_PARTS = (  # (class of microcontroller, flash bytes, RAM bytes)
    ("small MCU: 256 kB flash, 64 kB RAM", 256 << 10, 64 << 10),
    ("mid-size MCU: 1 MB flash, 256 kB RAM", 1 << 20, 256 << 10),
    ("large MCU: 2 MB flash, 1 MB RAM", 2 << 20, 1 << 20),
)
_PER_LINE = 12  # array values per line of the C source
CORTEX_M4 = ("--target=thumbv7em-none-eabi", "-mcpu=cortex-m4", "-mthumb", "-ffreestanding")  # clang's Arm flags
COMPILE_SECONDS = 120  # a model's C source compiles in ~1 s; a stuck compiler is given up


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


BATCH_MAIN = r"""/* Classify raw images: 8-bit pixels on stdin, BNN_PIXELS bytes per image; per image on stdout
   the class, the integer scores and the float scores (int32, int32[BNN_CLASSES], float[BNN_CLASSES]).
   For tests and benchmarks; compile beside the model's .c with its header named bnn_model.h. */
#include <stdio.h>
#include "bnn_model.h"
int main(void)
{
    uint8_t px[BNN_PIXELS];
    int32_t s[BNN_CLASSES];
    float f[BNN_CLASSES];
    while (fread(px, 1, BNN_PIXELS, stdin) == BNN_PIXELS) {
        int32_t c = bnn_predict(px, s);
        bnn_float_scores(s, f);
        fwrite(&c, 4, 1, stdout);
        fwrite(s, 4, BNN_CLASSES, stdout);
        fwrite(f, 4, BNN_CLASSES, stdout);
    }
    return 0;
}
"""

_POPCOUNT = """#if defined(__GNUC__) || defined(__clang__)
#define BNN_POPCOUNT(x) ((int32_t)__builtin_popcountl((unsigned long)(x)))
#else
static int32_t bnn_popcount(uint32_t x) /* portable: SWAR bit count */
{
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (int32_t)((x * 0x01010101u) >> 24);
}
#define BNN_POPCOUNT(x) bnn_popcount(x)
#endif

static void bnn_clear(uint32_t *words, int n)
{
    int i;
    for (i = 0; i < n; i++) words[i] = 0u;
}
"""

_INPUT_BITS = """
/* sign of the scaled pixels: +1 (bit set) iff pixel >= kmin; per position (channels packed in cw
   words) for a convolution, else one flat bit vector */
static void bnn_input_bits(const uint8_t *px, int channels, int hw, int cw, int kmin, uint32_t *out)
{
    int c, i;
    bnn_clear(out, cw ? hw * cw : (channels * hw + 63) / 64 * 2);
    for (c = 0; c < channels; c++) {
        for (i = 0; i < hw; i++) {
            int bit = cw ? i * cw * 32 + c : c * hw + i;
            if (px[c * hw + i] >= kmin) out[bit >> 5] |= 1u << (bit & 31);
        }
    }
}
"""

_BITPLANE = """
/* first dense layer on 8-bit pixels k: G = sum_j 2^j popcount(plane_j AND w), the exact integer
   alpha * G + beta * sum(k) compared with c[u] (BatchNorm, bias and sign folded) */
static void bnn_bitplane(const uint8_t *px, int n, int words, const uint32_t *w, const int32_t *c, int units,
                         int32_t alpha, int32_t beta, uint32_t *planes, uint32_t *out)
{
    int i, j, u, wd;
    int32_t ksum = 0;
    bnn_clear(planes, 9 * words); /* 8 planes, then where any pixel is nonzero */
    for (i = 0; i < n; i++) {
        int32_t k = px[i];
        ksum += k;
        for (j = 0; j < 8; j++)
            if ((k >> j) & 1) planes[j * words + (i >> 5)] |= 1u << (i & 31);
        if (k) planes[8 * words + (i >> 5)] |= 1u << (i & 31);
    }
    bnn_clear(out, (units + 63) / 64 * 2); /* whole 64-bit words: the next layer reads them */
    for (u = 0; u < units; u++) {
        const uint32_t *row = w + (long)u * words;
        int32_t g = 0;
        for (wd = 0; wd < words; wd++) {
            if (!(row[wd] & planes[8 * words + wd])) continue; /* blank pixels: the border of a digit */
            for (j = 0; j < 8; j++) g += BNN_POPCOUNT(planes[j * words + wd] & row[wd]) << j;
        }
        if (alpha * g + beta * ksum >= c[u]) out[u >> 5] |= 1u << (u & 31);
    }
}
"""

_XNOR = """
/* dense XNOR layer: count = popcount(in XOR w); +1 iff count <= thr[u] (bits out), or the integer
   dot K - 2 count (scores out, thr NULL), or +-1 (binarized output layer) */
static void bnn_xnor(const uint32_t *in, int words, const uint32_t *w, const int32_t *thr, int units, int32_t k,
                     uint32_t *bits, int32_t *scores)
{
    int u, wd;
    if (bits) bnn_clear(bits, (units + 63) / 64 * 2);
    for (u = 0; u < units; u++) {
        const uint32_t *row = w + (long)u * words;
        int32_t count = 0;
        for (wd = 0; wd < words; wd++) count += BNN_POPCOUNT(in[wd] ^ row[wd]);
        if (bits) {
            if (count <= thr[u]) bits[u >> 5] |= 1u << (u & 31);
        } else if (thr) {
            scores[u] = count <= thr[u] ? 1 : -1;
        } else {
            scores[u] = k - 2 * count;
        }
    }
}
"""

_CONV = """
/* XNOR convolution, stride 1, 'same' padding (a padded tap adds 0), then the 2x2 max-pool of the dot
   products, then +1 iff s[u] * d >= t[u]; input and output: per position, channels in words */
static int32_t bnn_conv_at(const uint32_t *in, int h, int w, int ch, int cw, int ks, const uint32_t *wu, int y,
                           int x)
{
    int ky, kx, wd, p = ks / 2;
    int32_t d = 0;
    for (ky = 0; ky < ks; ky++) {
        int iy = y + ky - p;
        if (iy < 0 || iy >= h) continue;
        for (kx = 0; kx < ks; kx++) {
            int ix = x + kx - p;
            const uint32_t *a, *b;
            int32_t count = 0;
            if (ix < 0 || ix >= w) continue;
            a = in + ((long)iy * w + ix) * cw;
            b = wu + (ky * ks + kx) * cw;
            for (wd = 0; wd < cw; wd++) count += BNN_POPCOUNT(a[wd] ^ b[wd]);
            d += ch - 2 * count;
        }
    }
    return d;
}

static void bnn_conv(const uint32_t *in, int h, int w, int ch, int cw, int ks, int pool, const uint32_t *wt,
                     const int32_t *t, const int8_t *s, int units, uint32_t *out, int ocw)
{
    int step = pool ? 2 : 1, oh = h / step, ow = w / step, u, oy, ox, sy, sx;
    bnn_clear(out, oh * ow * ocw);
    for (u = 0; u < units; u++) {
        const uint32_t *wu = wt + (long)u * ks * ks * cw;
        for (oy = 0; oy < oh; oy++) {
            for (ox = 0; ox < ow; ox++) {
                int32_t best = INT32_MIN;
                for (sy = 0; sy < step; sy++)
                    for (sx = 0; sx < step; sx++) {
                        int32_t d = bnn_conv_at(in, h, w, ch, cw, ks, wu, oy * step + sy, ox * step + sx);
                        if (d > best) best = d;
                    }
                if (s[u] * best >= t[u]) out[((long)oy * ow + ox) * ocw + (u >> 5)] |= 1u << (u & 31);
            }
        }
    }
}
"""

_PIXEL_CONV = """
/* first convolution on 8-bit pixels k in exact integers: q = qmul * k + qadd, d = sum of +-q over the
   taps inside the image, then the 2x2 max-pool, then +1 iff s[u] * d >= t[u] */
static void bnn_pixel_conv(const uint8_t *px, int ch, int h, int w, int ks, int pool, const int8_t *wt,
                           const int32_t *t, const int8_t *s, int units, int32_t qmul, int32_t qadd, uint32_t *out,
                           int ocw)
{
    int step = pool ? 2 : 1, oh = h / step, ow = w / step, p = ks / 2, u, oy, ox, sy, sx, c, ky, kx;
    bnn_clear(out, oh * ow * ocw);
    for (u = 0; u < units; u++) {
        for (oy = 0; oy < oh; oy++) {
            for (ox = 0; ox < ow; ox++) {
                int32_t best = INT32_MIN;
                for (sy = 0; sy < step; sy++)
                    for (sx = 0; sx < step; sx++) {
                        int y = oy * step + sy, x = ox * step + sx;
                        int32_t d = 0;
                        for (c = 0; c < ch; c++)
                            for (ky = 0; ky < ks; ky++) {
                                int iy = y + ky - p;
                                if (iy < 0 || iy >= h) continue;
                                for (kx = 0; kx < ks; kx++) {
                                    int ix = x + kx - p;
                                    if (ix < 0 || ix >= w) continue;
                                    d += wt[((u * ch + c) * ks + ky) * ks + kx] *
                                         (qmul * (int32_t)px[(c * h + iy) * w + ix] + qadd);
                                }
                            }
                        if (d > best) best = d;
                    }
                if (s[u] * best >= t[u]) out[((long)oy * ow + ox) * ocw + (u >> 5)] |= 1u << (u & 31);
            }
        }
    }
}
"""


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


def c_source(packed: PackedModel, name: str = "bnn_model") -> CSource:
    """The C99 source and header of ``packed`` (see the module docstring); :class:`XnorExportError`
    names a layer the C code cannot compute in integers."""
    ident = _c_name(name)
    upper = ident.upper()
    out = _Writer()
    used = {"popcount"}
    body: list[str] = []
    buffer_words = [1]
    pixels = int(np.prod(packed.image_shape))
    channels, height, width = packed.image_shape
    last = len(packed.layers) - 1
    planes_words = 0
    state = "px"  # the input of the next layer: "px" (uint8 pixels) or a buffer
    buffers = ("bnn_buf0", "bnn_buf1")
    flip = 0
    written: set[str] = set()
    for index, layer in enumerate(packed.layers):
        prefix = f"L{index}_{_c_name(layer.name).upper()}"
        target = buffers[flip]
        if layer.kind == "float":
            raise _refuse(layer, "its weights or its inputs are real-valued (float arithmetic); binarize them")
        if index == last and (layer.kind != "xnor" or layer.kernel):
            raise _refuse(layer, "the output layer must be a dense XNOR layer")
        if index < last and layer.output != "bits":
            raise _refuse(layer, "a hidden layer with real outputs needs float arithmetic")
        if layer.kind in ("xnor", "conv") and state == "px":  # binarized input: the pixels' signs first
            used.add("input_bits")
            spatial = layer.kind == "conv" or layer.in_shape is not None
            cw = 2 * words_for(channels) if spatial else 0
            words = height * width * cw if spatial else 2 * words_for(pixels)
            buffer_words.append(words)
            body.append(
                f"    bnn_input_bits(pixels, {channels}, {height * width}, {cw}, {_input_kmin(packed)}, {target});\n"
            )
            written.add(target)
            state, flip = target, 1 - flip
            target = buffers[flip]
        if layer.kind == "bitplane":
            used.add("bitplane")
            if layer.output != "bits":
                raise _refuse(layer, "a pixel layer with real outputs needs float arithmetic")
            alpha, beta, _, c = layer.plane_constants(packed.input_scale)
            words = -(-layer.in_features // WORD_BITS)
            planes_words = 9 * words
            w = out.u32(f"{prefix}_W", _pack32(_natural_bits(layer)))
            t = out.i32(f"{prefix}_C", c)
            buffer_words.append(2 * words_for(layer.out_features))
            body.append(
                f"    bnn_bitplane(pixels, {layer.in_features}, {words}, {w}, {t}, {layer.out_features}, "
                f"{alpha}, {beta}, bnn_planes, {target});\n"
            )
        elif layer.kind in ("conv", "pixelconv"):
            in_c, in_h, in_w = layer.in_shape
            ocw = 2 * words_for(layer.out_features)
            oc, oh, ow = layer.out_shape
            buffer_words.append(oh * ow * ocw)
            thresholds = layer.conv_thresholds()
            t = out.i32(f"{prefix}_T", thresholds[: layer.out_features])
            s = out.i8(f"{prefix}_S", thresholds[layer.out_features :])
            geometry = f"{in_h}, {in_w}, {layer.kernel}, {int(layer.pool)}"
            if layer.kind == "conv":
                used.add("conv")
                cw = 2 * words_for(in_c)
                w = out.u32(f"{prefix}_W", _words32(layer.arrays["weight_bits"]))
                body.append(
                    f"    bnn_conv({state}, {in_h}, {in_w}, {in_c}, {cw}, {layer.kernel}, {int(layer.pool)}, {w}, "
                    f"{t}, {s}, {oc}, {target}, {ocw});\n"
                )
            else:
                used.add("pixel_conv")
                signs = np.where(unpack_bits(layer.arrays["weight_bits"], layer.fan_in), 1, -1)
                w = out.i8(f"{prefix}_W", signs)
                q_mul, q_add = layer.pixel_levels(packed.input_scale)
                body.append(
                    f"    bnn_pixel_conv(pixels, {in_c}, {geometry}, {w}, {t}, {s}, {oc}, {q_mul}, {q_add}, "
                    f"{target}, {ocw});\n"
                )
        else:  # dense XNOR
            used.add("xnor")
            words = 2 * layer.words
            w = out.u32(f"{prefix}_W", _words32(layer.arrays["weight_bits"]))
            units, k = layer.out_features, layer.in_features
            if layer.output == "bits":
                t = out.i32(f"{prefix}_T", layer.arrays["threshold"])
                if index == last:
                    body.append(f"    bnn_xnor({state}, {words}, {w}, {t}, {units}, {k}, 0, scores);\n")
                else:
                    buffer_words.append(2 * words_for(units))
                    body.append(f"    bnn_xnor({state}, {words}, {w}, {t}, {units}, {k}, {target}, 0);\n")
            else:
                table = layer.output_table()
                if table is None:
                    raise _refuse(layer, "its score table is too large")
                table_name = out.f32(f"{upper}_TABLE", table)
                body.append(f"    bnn_xnor({state}, {words}, {w}, 0, {units}, {k}, 0, scores);\n")
        if index < last:
            written.add(target)
        state, flip = target, 1 - flip
    output = packed.layers[-1]
    classes = output.out_features
    buffer_size = max(buffer_words)
    ram_bytes = 4 * (len(written) * buffer_size + planes_words)
    if output.output == "bits":
        to_float = "    for (u = 0; u < BNN_CLASSES; u++) out[u] = (float)scores[u]; /* +-1 */\n"
    else:
        k = output.in_features
        to_float = (
            "    for (u = 0; u < BNN_CLASSES; u++) {\n"
            f"        int32_t p = ({k} - scores[u]) / 2; /* the popcount */\n"
            f"        out[u] = (p >= 0 && p <= {k}) ? {table_name}[p * BNN_CLASSES + u] : 0.0f;\n"
            "    }\n"
        )
    parts = {
        "popcount": _POPCOUNT,
        "input_bits": _INPUT_BITS,
        "bitplane": _BITPLANE,
        "xnor": _XNOR,
        "conv": _CONV,
        "pixel_conv": _PIXEL_CONV,
    }
    functions = "".join(text for key, text in parts.items() if key in used)
    planes = f"static uint32_t bnn_planes[{planes_words}];\n" if planes_words else ""
    kinds = ", ".join(f"{layer.name} {layer.kind}" for layer in packed.layers)
    source = (
        f"/* {ident}.c: a binarized neural network ({kinds}), generated by BNN Playground\n"
        "   (python -m bnn export RUN --to c) from its packed model (.bnnx). C99, stdint only.\n"
        f"   Flash: {out.const_bytes:,} bytes of const data + code; RAM: {ram_bytes:,} bytes of static buffers. */\n"
        f'#include "{ident}.h"\n\n'
        f"{functions}\n"
        + "".join(out.arrays)
        + "".join(f"\nstatic uint32_t {buffer}[{buffer_size}];" for buffer in buffers if buffer in written)
        + f"\n{planes}\n"
        "void bnn_float_scores(const int32_t scores[BNN_CLASSES], float out[BNN_CLASSES])\n{\n    int u;\n"
        + to_float
        + "}\n\n"
        "int bnn_predict(const uint8_t pixels[BNN_PIXELS], int32_t scores[BNN_CLASSES])\n{\n"
        "    float f[BNN_CLASSES];\n    int u, best = 0;\n" + "".join(body) + "    bnn_float_scores(scores, f);\n"
        "    for (u = 1; u < BNN_CLASSES; u++)\n        if (f[u] > f[best]) best = u; /* ties: the lowest class */\n"
        "    return best;\n}\n"
    )
    header = (
        f"/* {ident}.h: generated by BNN Playground. */\n"
        f"#ifndef {upper}_H\n#define {upper}_H\n\n#include <stdint.h>\n\n"
        f"#define BNN_PIXELS {pixels} /* 8-bit pixels, {channels}x{height}x{width}, row-major */\n"
        f"#define BNN_CLASSES {classes}\n\n"
        "/* The class of one image (ties go to the lowest class). scores: the output layer's integer dot\n"
        "   products (K - 2 popcount; +-1 for a binarized output layer). Not reentrant (static buffers). */\n"
        "int bnn_predict(const uint8_t pixels[BNN_PIXELS], int32_t scores[BNN_CLASSES]);\n\n"
        "/* The float model's float32 scores for bnn_predict's scores (a table look-up, exact). */\n"
        "void bnn_float_scores(const int32_t scores[BNN_CLASSES], float out[BNN_CLASSES]);\n\n"
        f"#endif /* {upper}_H */\n"
    )
    return CSource(ident, source, header, out.const_bytes, ram_bytes)


def compiler() -> str | None:
    """A C compiler on this machine ($CC, gcc, clang or cc), or None."""
    for candidate in (os.environ.get("CC"), "gcc", "clang", "cc"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


def object_sections(source: CSource, cc: str, flags: tuple[str, ...] = ()) -> dict[str, int] | None:
    """Bytes per section (``.text`` code, ``.rodata`` const data, ``.bss`` buffers) of ``source`` compiled
    with ``cc -std=c99 -Os -c`` (and ``flags``), read by binutils' ``size -A``; None when it cannot."""
    if shutil.which(cc) is None or shutil.which("size") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / f"{source.name}.c").write_text(source.source)
        (folder / f"{source.name}.h").write_text(source.header)
        obj = folder / f"{source.name}.o"
        command = [cc, "-std=c99", "-Os", *flags, "-c", "-o", str(obj), str(folder / f"{source.name}.c")]
        build = subprocess.run(command, capture_output=True, timeout=COMPILE_SECONDS)
        if build.returncode != 0:
            return None
        sizes = subprocess.run(["size", "-A", str(obj)], capture_output=True, text=True, timeout=COMPILE_SECONDS)
    sections: dict[str, int] = {}
    for line in sizes.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            name = "." + parts[0].split(".")[1]  # .rodata.L0_W (per-array sections) counts as .rodata
            sections[name] = sections.get(name, 0) + int(parts[1])
    return sections


def code_bytes(source: CSource) -> tuple[int, str] | None:
    """(bytes of machine code, how it was built): for a Cortex-M4 with clang's Arm back end when clang is
    here, else with this machine's compiler (x86-64 code is of the same size); None without a compiler."""
    if shutil.which("clang"):
        sections = object_sections(source, "clang", CORTEX_M4)
        if sections and ".text" in sections:
            return sections[".text"], "Cortex-M4, clang -Os"
    cc = compiler()
    sections = object_sections(source, cc) if cc else None
    if sections and ".text" in sections:
        return sections[".text"], f"{cc} -Os on this machine"
    return None


def device_rows(source: CSource, code: int | None) -> list[dict]:
    """What a device needs for ``source`` and whether common microcontrollers have it: flash = const data
    + code (``code`` from :func:`code_bytes`; unknown without a compiler), RAM = the static buffers (the
    stack adds a few hundred bytes)."""
    flash = source.const_bytes + (code or 0)
    rows = []
    for part, part_flash, part_ram in COMMON_PARTS:
        rows.append(
            {
                "part": part,
                "flash needed": flash,
                "flash": part_flash,
                "RAM needed": source.ram_bytes,
                "RAM": part_ram,
                "fits": flash <= part_flash and source.ram_bytes <= part_ram,
            }
        )
    return rows
