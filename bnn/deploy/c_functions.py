"""The C99 text that :func:`bnn.deploy.c_source.c_source` puts into a model's source: the XNOR-popcount
arithmetic of :mod:`bnn.xnor.numpy_kernels` as C functions (:data:`C_FUNCTIONS`: popcount, the input's
bits, the pixel bit-planes, dense XNOR, conv, pixel conv), and :data:`BATCH_MAIN`, a ``main`` that
classifies images from stdin (tests and benchmarks)."""

from __future__ import annotations

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


POPCOUNT = """#if defined(__GNUC__) || defined(__clang__)
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


INPUT_BITS = """
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


BITPLANE = """
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


XNOR = """
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


CONV = """
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


PIXEL_CONV = """
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


# the C functions a model's source may need, in the order they are written (each only when used)
C_FUNCTIONS = {
    "popcount": POPCOUNT,
    "input_bits": INPUT_BITS,
    "bitplane": BITPLANE,
    "xnor": XNOR,
    "conv": CONV,
    "pixel_conv": PIXEL_CONV,
}
