// The packed binarized network in the page: reads the .bnnx bytes Python's bnn.xnor.save_packed
// writes (bnn/xnor/fileformat.py) and computes exactly what bnn.xnor computes (docs/xnor.md):
// bit-plane first layer on 8-bit pixels, XNOR-popcount dense and conv layers, 2x2 max-pool before
// the folded thresholds, integer thresholds, output scores looked up in the saved float32 table.
// Also the preprocessing of bnn.preprocess (integer arithmetic, so both give the same bytes).
//
// Words: the file's uint64 words are read as pairs of 32-bit words (little-endian: the low half
// first), popcount by the bit trick; activations are kept in that very layout, so a layer's
// packed output is the next layer's packed input. Courbariaux et al. 2016, arXiv:1602.02830, sec. 3.
// The Draw page's canvas component runs this module; tests/test_browser_engine.py runs the same
// file in Chromium on all 10,000 MNIST test images against bnn.xnor and the float model.

const MAGIC = [66, 78, 78, 88, 78, 79, 82, 0]; // "BNNXNOR\0"
const FORMAT_VERSION = 1;
const DTYPES = { "<u8": [Uint32Array, 8], "<i4": [Int32Array, 4], "<f4": [Float32Array, 4], "|u1": [Uint8Array, 1], "<u2": [Uint16Array, 2] };
const PAGE_KINDS = ["xnor", "bitplane", "conv", "pixelconv"];
export const MAX_MODEL_BYTES = 64 * 1024 * 1024; // larger files are refused before parsing

export class PackedModelError extends Error {
  constructor(message, { serverOnly = false } = {}) {
    super(message);
    this.name = "PackedModelError";
    this.serverOnly = serverOnly; // a valid model with a layer the page cannot run (float layers)
  }
}

let crcTable = null;
export function crc32(bytes) {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export function popcount32(x) {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

const words64 = (k) => Math.ceil(k / 64);

// --- reading the file ---------------------------------------------------------------------------
export function parsePacked(input) {
  const buffer = input instanceof ArrayBuffer ? input : input.buffer.slice(input.byteOffset, input.byteOffset + input.byteLength);
  const bytes = new Uint8Array(buffer);
  const bad = (why) => new PackedModelError(`not a BNN Playground packed model: ${why}`);
  if (bytes.length > MAX_MODEL_BYTES) throw bad(`${bytes.length} bytes, more than ${MAX_MODEL_BYTES}`);
  if (bytes.length < 16 || MAGIC.some((b, i) => bytes[i] !== b)) throw bad("it does not start with the magic bytes BNNXNOR");
  const view = new DataView(buffer);
  const version = view.getUint32(8, true);
  if (version !== FORMAT_VERSION) throw bad(`format version ${version}; this page reads version ${FORMAT_VERSION}`);
  const headerLen = view.getUint32(12, true);
  if (16 + headerLen > bytes.length) throw bad("the header is truncated");
  let header;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(16, 16 + headerLen)));
  } catch (error) {
    throw bad(`the header is not valid JSON (${error.message})`);
  }
  if (!header || typeof header !== "object" || header.format !== "bnn-playground-xnor") throw bad("the header does not name the format");
  let start = 16 + headerLen;
  start += (8 - (start % 8)) % 8;
  const payloadLen = bytes.length - start;
  if (payloadLen !== header.payload_nbytes) throw bad(`the payload is ${payloadLen} bytes, the header says ${header.payload_nbytes} (truncated?)`);
  if (crc32(bytes.subarray(start)) !== header.payload_crc32) throw bad("the payload checksum does not match (corrupt file)");
  if (!Array.isArray(header.layers) || header.layers.length === 0) throw bad("no layers");
  const layers = header.layers.map((meta) => {
    if (!meta || !Array.isArray(meta.arrays)) throw bad("a layer without arrays");
    const arrays = {};
    for (const entry of meta.arrays) {
      const spec = DTYPES[entry.dtype];
      if (!spec) throw bad(`array dtype ${JSON.stringify(entry.dtype)} is not allowed`);
      const shape = entry.shape;
      if (!Array.isArray(shape) || !shape.every((v) => Number.isSafeInteger(v) && v >= 0)) throw bad(`array ${meta.name}.${entry.key}: bad shape`);
      const count = shape.reduce((a, b) => a * b, 1);
      const [Kind, itemsize] = spec;
      const off = entry.offset;
      if (!Number.isSafeInteger(off) || off < 0 || off % 8 !== 0 || entry.nbytes !== count * itemsize || off + entry.nbytes > payloadLen) {
        throw bad(`array ${meta.name}.${entry.key} does not fit the payload`);
      }
      const elements = (count * itemsize) / Kind.BYTES_PER_ELEMENT; // uint64 -> two uint32 each
      arrays[entry.key] = { data: new Kind(buffer, start + off, elements), shape, dtype: entry.dtype };
    }
    return { ...meta, arrays };
  });
  return buildModel(header, layers);
}

function buildModel(header, layers) {
  const bad = (why) => new PackedModelError(`inconsistent packed model: ${why}`);
  const imageShape = header.image_shape;
  if (!Array.isArray(imageShape) || imageShape.length !== 3 || !imageShape.every((v) => Number.isSafeInteger(v) && v > 0)) throw bad("image shape");
  if (header.input_scale !== "pm1" && header.input_scale !== "01") throw bad(`input scale ${JSON.stringify(header.input_scale)}`);
  const binarizeInput = header.input_binarize === true;
  const float = layers.find((layer) => !PAGE_KINDS.includes(layer.kind) || (layer.kind !== "xnor" && layer.output !== "bits"));
  if (float) {
    throw new PackedModelError(`this model has a layer that cannot be packed (${float.name}: ${float.kind}, ${float.output} outputs): read on the server`, { serverOnly: true });
  }
  let fanIn = imageShape[0] * imageShape[1] * imageShape[2];
  let shape = imageShape; // (C, H, W) while the activations are spatial
  const steps = layers.map((layer, index) => {
    const a = layer.arrays;
    const units = layer.out_features;
    const conv = layer.kind === "conv" || layer.kind === "pixelconv";
    const need = (key, dtype, dims) => {
      const arr = a[key];
      if (!arr || arr.dtype !== dtype || arr.shape.length !== dims.length || arr.shape.some((v, i) => v !== dims[i])) {
        throw bad(`${layer.name}: array ${key} should be ${dtype} of shape (${dims.join(", ")})`);
      }
      return arr.data;
    };
    if (layer.in_features !== fanIn || !Number.isSafeInteger(units) || units < 1) throw bad(`${layer.name} expects ${layer.in_features} inputs, gets ${fanIn}`);
    if ((layer.kind === "bitplane" || layer.kind === "pixelconv") && (index !== 0 || binarizeInput)) throw bad(`${layer.name}: a first layer on pixels that does not see the pixels`);
    if ((layer.kind === "xnor" || layer.kind === "conv") && index === 0 && !binarizeInput) throw bad(`${layer.name}: an XNOR layer on real pixels`);
    const step = { name: layer.name, kind: layer.kind, units, bits: layer.output === "bits", fanIn };
    if (conv) {
      const [c, h, w] = shape || [];
      const k = layer.kernel;
      if (!shape || !Array.isArray(layer.in_shape) || layer.in_shape.join() !== shape.join() || !(k >= 1 && k % 2 === 1)) throw bad(`${layer.name}: input shape and kernel do not fit`);
      Object.assign(step, { c, h, w, k, pool: layer.pool === true });
      const rowWords = layer.kind === "conv" ? k * k * words64(c) : words64(c * k * k);
      step.weights = need("weight_bits", "<u8", [units, rowWords]);
      step.rowWords = rowWords;
      step.outH = step.pool ? Math.floor(h / 2) : h;
      step.outW = step.pool ? Math.floor(w / 2) : w;
    } else {
      const spatial = index > 0 && shape;
      const rowWords = spatial ? shape[1] * shape[2] * words64(shape[0]) : words64(fanIn);
      step.weights = need("weight_bits", "<u8", [units, rowWords]);
      step.rowWords = rowWords;
      step.inWords = rowWords;
    }
    if (step.bits) {
      step.threshold = need("threshold", "<i4", [units]);
      step.flip = need("flip", "|u1", [units]);
    } else if (layer.kind === "xnor") {
      if (!a.table) throw bad(`${layer.name}: the output table is missing (export the model again)`);
      step.table = need("table", "<f4", [fanIn + 1, units]);
    }
    if (layer.kind === "bitplane") {
      if (!a.perm || (a.perm.dtype !== "<u2" && a.perm.dtype !== "<i4")) throw bad(`${layer.name}: pixel order missing`);
      step.perm = need("perm", a.perm.dtype, [fanIn]);
      const seen = new Uint8Array(fanIn);
      for (const p of step.perm) {
        if (p >= fanIn || seen[p]) throw bad(`${layer.name}: pixel order is not a permutation`);
        seen[p] = 1;
      }
      planeConstants(step, header.input_scale);
    }
    if (layer.kind === "pixelconv") [step.qMul, step.qAdd] = header.input_scale === "pm1" ? [2, -255] : [1, 0];
    step.outShape = conv ? [units, step.outH, step.outW] : null;
    step.outSize = conv ? units * step.outH * step.outW : units;
    fanIn = step.outSize;
    shape = step.outShape;
    return step;
  });
  const last = steps[steps.length - 1];
  if (last.outShape || last.units < 2) throw bad("the output layer is not a dense layer of at least 2 classes");
  return { header, steps, imageShape, inputScale: header.input_scale, binarizeInput, classes: last.units, hidden: steps.slice(0, -1) };
}

// The bit-plane layer's integers (bnn.xnor.layer.PackedLayer.plane_constants): a unit is +1 iff
// alpha * G + beta * sum(k) >= c[u], G = sum_j 2^j popcount(plane_j AND P_u), c = threshold - gamma.
function planeConstants(step, scale) {
  const [alpha, beta] = scale === "pm1" ? [4, -2] : [2, -1];
  step.alpha = alpha;
  step.beta = beta;
  step.c = new Float64Array(step.units);
  for (let u = 0; u < step.units; u++) {
    let ones = 0;
    for (let w = 0; w < 2 * step.rowWords; w++) ones += popcount32(step.weights[u * 2 * step.rowWords + w]);
    const gamma = scale === "pm1" ? -255 * (2 * ones - step.fanIn) : 0;
    step.c[u] = step.threshold[u] - gamma;
  }
}

// --- the forward pass -------------------------------------------------------------------------------
// levels: Uint8Array of the image's 8-bit pixel levels (pixel = level / 255), C x H x W order.
// Returns {scores: Float32Array, predicted, layers: [packed Uint32Array per layer]}.
export function forward(model, levels) {
  const outs = [];
  let state = model.binarizeInput ? inputBits(model, levels) : levels;
  for (const step of model.steps) {
    if (step.kind === "bitplane") state = bitplaneLayer(step, state);
    else if (step.kind === "pixelconv") state = pixelConv(step, state);
    else if (step.kind === "conv") state = xnorConv(step, state);
    else state = xnorDense(step, state);
    outs.push(state);
  }
  const last = model.steps[model.steps.length - 1];
  let scores = outs[outs.length - 1];
  if (last.bits) {
    const bits = scores;
    scores = new Float32Array(last.units);
    for (let u = 0; u < last.units; u++) scores[u] = (bits[u >>> 5] >>> (u & 31)) & 1 ? 1 : -1;
  }
  let predicted = 0;
  for (let u = 1; u < scores.length; u++) if (scores[u] > scores[predicted]) predicted = u; // ties: lowest class
  return { scores, predicted, layers: outs };
}

// sign of the scaled pixels with InputConfig.binarize: x*2-1 >= 0 (pm1) is level >= 128; x >= 0 (01) always
function inputBits(model, levels) {
  const [c, h, w] = model.imageShape;
  const first = model.steps[0];
  const cw = words64(c);
  const spatial = first.kind === "conv";
  const out = new Uint32Array(spatial ? 2 * h * w * cw : 2 * words64(levels.length));
  for (let i = 0; i < levels.length; i++) {
    if (model.inputScale === "pm1" && levels[i] < 128) continue;
    let index = i;
    if (spatial) {
      const ch = Math.floor(i / (h * w));
      index = (i % (h * w)) * cw * 64 + ch;
    }
    out[index >>> 5] |= 1 << (index & 31);
  }
  return out;
}

function setBit(words, index) {
  words[index >>> 5] |= 1 << (index & 31);
}

function bitplaneLayer(step, levels) {
  const n = step.fanIn;
  const w32 = 2 * step.rowWords;
  const planes = new Uint32Array(8 * w32);
  let ksum = 0;
  for (let i = 0; i < n; i++) {
    const level = levels[step.perm[i]];
    if (!level) continue;
    ksum += level;
    const word = i >>> 5;
    const bit = 1 << (i & 31);
    for (let j = 0; j < 8; j++) if ((level >>> j) & 1) planes[j * w32 + word] |= bit;
  }
  const nonzero = [];
  for (let w = 0; w < w32; w++) {
    let any = 0;
    for (let j = 0; j < 8; j++) any |= planes[j * w32 + w];
    if (any) nonzero.push(w);
  }
  const out = new Uint32Array(2 * words64(step.units));
  const weights = step.weights;
  const base = step.beta * ksum;
  for (let u = 0; u < step.units; u++) {
    const row = u * w32;
    let g = 0;
    for (const w of nonzero) {
      const p = weights[row + w];
      if (!p) continue;
      for (let j = 0; j < 8; j++) g += popcount32(planes[j * w32 + w] & p) << j;
    }
    if (step.alpha * g + base >= step.c[u]) setBit(out, u);
  }
  return out;
}

function xnorDense(step, input) {
  const w32 = 2 * step.rowWords;
  const weights = step.weights;
  const units = step.units;
  if (!step.bits) {
    const scores = new Float32Array(units);
    for (let u = 0; u < units; u++) {
      let p = 0;
      for (let w = 0, row = u * w32; w < w32; w++) p += popcount32(input[w] ^ weights[row + w]);
      scores[u] = step.table[p * units + u];
    }
    return scores;
  }
  const out = new Uint32Array(2 * words64(units));
  for (let u = 0; u < units; u++) {
    let p = 0;
    for (let w = 0, row = u * w32; w < w32; w++) p += popcount32(input[w] ^ weights[row + w]);
    if (p <= step.threshold[u]) setBit(out, u);
  }
  return out;
}

// Pool the dot products d (H x W x units, Int32Array) 2x2 (floor), then +1 iff s * d >= T, s = -1 where flip.
function poolThreshold(step, d) {
  const { h, w, units, outH, outW } = step;
  const cw = 2 * words64(units);
  const out = new Uint32Array(outH * outW * cw);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      for (let u = 0; u < units; u++) {
        let v;
        if (step.pool) {
          const i = (2 * y * w + 2 * x) * units + u;
          v = Math.max(d[i], d[i + units], d[i + w * units], d[i + (w + 1) * units]);
        } else {
          v = d[(y * w + x) * units + u];
        }
        if ((step.flip[u] ? -v : v) >= step.threshold[u]) setBit(out, (y * outW + x) * cw * 32 + u);
      }
    }
  }
  return out;
}

function pixelConv(step, levels) {
  const { c, h, w, k, units } = step;
  const r = k >> 1;
  const q = new Int32Array(levels.length);
  for (let i = 0; i < levels.length; i++) q[i] = step.qMul * levels[i] + step.qAdd;
  const fan = c * k * k;
  const w32 = 2 * step.rowWords;
  const signs = new Int8Array(units * fan); // +1 / -1 weights, pixel order (C, k, k)
  for (let u = 0; u < units; u++) {
    for (let i = 0; i < fan; i++) signs[u * fan + i] = (step.weights[u * w32 + (i >>> 5)] >>> (i & 31)) & 1 ? 1 : -1;
  }
  const d = new Int32Array(h * w * units);
  const taps = new Int32Array(fan);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0, t = 0; ch < c; ch++) {
        for (let dy = -r; dy <= r; dy++) {
          for (let dx = -r; dx <= r; dx++, t++) {
            const yy = y + dy;
            const xx = x + dx;
            taps[t] = yy < 0 || yy >= h || xx < 0 || xx >= w ? 0 : q[(ch * h + yy) * w + xx]; // padding: 0
          }
        }
      }
      const base = (y * w + x) * units;
      for (let u = 0; u < units; u++) {
        let e = 0;
        for (let t = 0, s = u * fan; t < fan; t++) e += signs[s + t] * taps[t];
        d[base + u] = e;
      }
    }
  }
  return poolThreshold(step, d);
}

function xnorConv(step, input) {
  const { c, h, w, k, units } = step;
  const r = k >> 1;
  const cw = 2 * words64(c); // 32-bit words per position
  const w32 = 2 * step.rowWords;
  const weights = step.weights;
  const d = new Int32Array(h * w * units);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const base = (y * w + x) * units;
      for (let dy = -r, tap = 0; dy <= r; dy++) {
        for (let dx = -r; dx <= r; dx++, tap++) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue; // a padded tap adds 0
          const a = (yy * w + xx) * cw;
          const t = tap * cw;
          for (let u = 0; u < units; u++) {
            let p = 0;
            const row = u * w32 + t;
            for (let j = 0; j < cw; j++) p += popcount32(input[a + j] ^ weights[row + j]);
            d[base + u] += c - 2 * p;
          }
        }
      }
    }
  }
  return poolThreshold(step, d);
}

// A layer's packed bits as 0/1 per unit in the float model's order: (C, H, W) for a convolution.
export function unitBits(step, packed) {
  const out = new Uint8Array(step.outSize);
  if (!step.outShape) {
    for (let u = 0; u < step.units; u++) out[u] = (packed[u >>> 5] >>> (u & 31)) & 1;
    return out;
  }
  const [units, oh, ow] = step.outShape;
  const cw = 2 * words64(units);
  for (let pos = 0; pos < oh * ow; pos++) {
    for (let u = 0; u < units; u++) out[u * oh * ow + pos] = (packed[pos * cw + (u >>> 5)] >>> (u & 31)) & 1;
  }
  return out;
}

export function softmax(scores) {
  let top = -Infinity;
  for (const s of scores) top = Math.max(top, s);
  const out = new Float64Array(scores.length);
  let total = 0;
  for (let i = 0; i < scores.length; i++) total += out[i] = Math.exp(scores[i] - top);
  for (let i = 0; i < scores.length; i++) out[i] /= total;
  return out;
}

// --- preprocessing: bnn.preprocess in the same integer arithmetic -------------------------------
export const PRE = { size: 28, box: 20, center: 14, noiseLevel: 25, minInk: 3e-4 };

// floor(a / b) for integers a, b > 0 held exactly in doubles (below 2^53)
function idiv(a, b) {
  let q = Math.floor(a / b);
  if (q * b > a) q -= 1;
  else if ((q + 1) * b <= a) q += 1;
  return q;
}

// RGBA bytes (width x height) -> ink levels 0..255: round(luma * alpha), luma = BT.601 per mille
export function canvasInk(rgba, width, height) {
  const ink = new Uint8Array(width * height);
  for (let i = 0, j = 0; i < ink.length; i++, j += 4) {
    ink[i] = idiv((299 * rgba[j] + 587 * rgba[j + 1] + 114 * rgba[j + 2]) * rgba[j + 3] + 127500, 255000);
  }
  return ink;
}

// The 28x28 levels of bnn.preprocess.preprocess_levels, or null for an (almost) empty canvas.
// info (optional): filled with the ink's box and the count of inked pixels (level > noiseLevel).
export function preprocess(rgba, width, height, minInk = PRE.minInk, info = null) {
  const ink = canvasInk(rgba, width, height);
  let total = 0;
  let top = height;
  let bottom = -1;
  let left = width;
  let right = -1;
  let inked = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = ink[y * width + x];
      total += v;
      if (v > PRE.noiseLevel) {
        inked += 1;
        if (y < top) top = y;
        if (y > bottom) bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
  }
  if (info) Object.assign(info, { top, bottom, left, right, inked, width, height });
  if (ink.length === 0 || total < minInk * 255 * ink.length || bottom < 0) return null;
  const h = bottom - top + 1;
  const w = right - left + 1;
  const m = Math.max(h, w);
  const nh = Math.max(1, idiv(2 * h * PRE.box + m, 2 * m));
  const nw = Math.max(1, idiv(2 * w * PRE.box + m, 2 * m));
  // area average: source row r covers [r*nh, (r+1)*nh), output row i covers [i*h, (i+1)*h)
  const rowSums = new Float64Array(nh * w); // rows resized, columns not yet
  for (let r = 0; r < h; r++) {
    for (let i = Math.floor((r * nh) / h); i < nh && i * h < (r + 1) * nh; i++) {
      const overlap = Math.min((r + 1) * nh, (i + 1) * h) - Math.max(r * nh, i * h);
      if (overlap <= 0) continue;
      const src = (top + r) * width + left;
      const dst = i * w;
      for (let x = 0; x < w; x++) rowSums[dst + x] += overlap * ink[src + x];
    }
  }
  const sums = new Float64Array(nh * nw);
  for (let c = 0; c < w; c++) {
    for (let j = Math.floor((c * nw) / w); j < nw && j * w < (c + 1) * nw; j++) {
      const overlap = Math.min((c + 1) * nw, (j + 1) * w) - Math.max(c * nw, j * w);
      if (overlap <= 0) continue;
      for (let i = 0; i < nh; i++) sums[i * nw + j] += overlap * rowSums[i * w + c];
    }
  }
  let peak = 0;
  for (const s of sums) peak = Math.max(peak, s);
  if (peak <= 0) return null;
  const small = new Uint8Array(nh * nw);
  let mass = 0;
  let rowMoment = 0;
  let colMoment = 0;
  for (let i = 0; i < nh; i++) {
    for (let j = 0; j < nw; j++) {
      const v = idiv(2 * 255 * sums[i * nw + j] + peak, 2 * peak); // round(255 * s / peak), halves up
      small[i * nw + j] = v;
      mass += v;
      rowMoment += i * v;
      colMoment += j * v;
    }
  }
  // whole-pixel shift putting the centre of mass on (14, 14), halves up: floor((29 T - 2 M) / 2T)
  const shift = (moment) => {
    const num = (2 * PRE.center + 1) * mass - 2 * moment;
    return num >= 0 ? idiv(num, 2 * mass) : -idiv(-num + 2 * mass - 1, 2 * mass);
  };
  const clamp = (v, hi) => Math.min(Math.max(v, 0), hi);
  const y0 = clamp(shift(rowMoment), PRE.size - nh);
  const x0 = clamp(shift(colMoment), PRE.size - nw);
  const out = new Uint8Array(PRE.size * PRE.size);
  for (let i = 0; i < nh; i++) out.set(small.subarray(i * nw, (i + 1) * nw), (y0 + i) * PRE.size + x0);
  return out;
}
