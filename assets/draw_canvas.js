// The Draw page's canvas component (a Streamlit v2 component; ui/widgets.py joins this file to
// assets/bnn_engine.js into one module). The drawing is read in the page: on every pointer move
// (at most once per animation frame) the canvas is preprocessed and run through the packed network
// (bnn_engine.js), and the prediction, the class probabilities and every hidden layer's ±1 outputs
// are drawn here, with no Streamlit rerun. The server sees a drawing only when asked ("Send to
// Inspect"), or, for a model the page cannot run, at the end of each stroke (its old path).
//
// data: {size, strokeWidth, model: {url | inline, nbytes, sha256} | {server_only}, label, orders:
//        [{order, favoured}] per hidden layer, digits: {levels (base64, N x 784), labels}}
// state: drawing (a PNG data URL, when the server is sent the drawing)

const PLUS_RGB = [0x21, 0x66, 0xac]; // blue +1, as bnn.plots
const MINUS_RGB = [0xb2, 0x18, 0x2b]; // red −1
// An opaque colour as one 32-bit pixel of an ImageData's buffer seen as a Uint32Array: bytes R, G, B, A in
// memory order, which is little-endian on every platform browsers run on (x86, ARM)
const rgba = ([r, g, b]) => (255 << 24) | (b << 16) | (g << 8) | r;
const MODELS_KEPT = 4;

function b64bytes(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

function setup(root, data) {
  const s = {
    root, box: root.querySelector(".bnn-draw"), models: new Map(), model: null, modelKey: null, error: null, last: null, history: [],
    levels: null, testLabel: null, previous: null, current: null, pending: false, pointerAt: null,
    latencies: [], engineMs: [], preMs: [], data,
  };
  const canvas = root.querySelector("canvas.bnn-canvas");
  s.canvas = canvas;
  canvas.width = data.size; canvas.height = data.size;
  canvas.style.width = data.size + "px";
  s.ctx = canvas.getContext("2d", { willReadFrequently: true });
  s.ctx.fillStyle = "#000"; s.ctx.fillRect(0, 0, data.size, data.size);
  s.undo = root.querySelector(".bnn-undo");
  s.readout = root.querySelector(".bnn-readout");
  s.digit = root.querySelector('[data-testid="prediction"]');
  s.probability = root.querySelector(".bnn-probability");
  s.preview = root.querySelector("canvas.bnn-preview");
  s.bars = root.querySelector(".bnn-bars");
  s.note = root.querySelector(".bnn-note");
  s.status = root.querySelector(".bnn-status");
  s.layers = root.querySelector(".bnn-layers");
  s.truth = root.querySelector(".bnn-truth");
  const at = (event) => {
    const box = canvas.getBoundingClientRect();
    const scale = canvas.width / box.width;
    return [(event.clientX - box.left) * scale, (event.clientY - box.top) * scale];
  };
  const line = (from, to) => {
    const ctx = s.ctx;
    ctx.strokeStyle = "#fff"; ctx.lineWidth = s.data.strokeWidth; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.beginPath(); ctx.moveTo(...from); ctx.lineTo(...to); ctx.stroke();
  };
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    s.history.push(s.ctx.getImageData(0, 0, canvas.width, canvas.height));
    if (s.history.length > 30) s.history.shift();
    s.levels = null; s.testLabel = null;
    s.last = at(event);
    line(s.last, s.last);
    schedule(s, true);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (s.last === null) return;
    const point = at(event);
    line(s.last, point);
    s.last = point;
    schedule(s, true);
  });
  const end = () => {
    if (s.last === null) return;
    s.last = null;
    s.undo.disabled = false;
    if (s.serverOnly) s.send(canvas.toDataURL("image/png"));
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  s.undo.addEventListener("click", () => {
    const previous = s.history.pop();
    if (!previous) return;
    s.ctx.putImageData(previous, 0, 0);
    s.undo.disabled = s.history.length === 0;
    s.levels = null; s.testLabel = null;
    schedule(s);
    if (s.serverOnly) s.send(canvas.toDataURL("image/png"));
  });
  root.querySelector(".bnn-clear").addEventListener("click", () => clearCanvas(s));
  root.querySelector(".bnn-random").addEventListener("click", () => randomDigit(s));
  root.querySelector(".bnn-send").addEventListener("click", () => s.send(canvas.toDataURL("image/png")));
  s.layers.addEventListener("mousemove", (event) => hover(s, event));
  return s;
}

function clearCanvas(s) {
  s.history.push(s.ctx.getImageData(0, 0, s.canvas.width, s.canvas.height));
  s.ctx.fillStyle = "#000"; s.ctx.fillRect(0, 0, s.canvas.width, s.canvas.height);
  s.levels = null; s.testLabel = null; s.previous = null; s.current = null;
  s.undo.disabled = false;
  schedule(s);
  if (s.serverOnly) s.send(null);
}

function randomDigit(s) {
  const digits = s.data.digits;
  if (!digits) return;
  const all = s.digitLevels || (s.digitLevels = b64bytes(digits.levels));
  const index = Math.floor(Math.random() * digits.labels.length);
  s.levels = all.subarray(index * 784, (index + 1) * 784);
  s.testLabel = digits.labels[index];
  s.history.push(s.ctx.getImageData(0, 0, s.canvas.width, s.canvas.height));
  s.undo.disabled = false;
  const image = s.ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) image.data.set([s.levels[i], s.levels[i], s.levels[i], 255], i * 4);
  const small = document.createElement("canvas");
  small.width = 28; small.height = 28;
  small.getContext("2d").putImageData(image, 0, 0);
  s.ctx.imageSmoothingEnabled = true;
  s.ctx.drawImage(small, 0, 0, s.canvas.width, s.canvas.height);
  schedule(s);
  if (s.serverOnly) s.send(s.canvas.toDataURL("image/png"));
}

// Read the drawing at the next animation frame (once per frame however many events come);
// pointer: a pen event, timed from here to the frame that shows its prediction.
function schedule(s, pointer = false) {
  if (pointer && s.pointerAt === null) s.pointerAt = performance.now();
  if (s.pending) return;
  s.pending = true;
  requestAnimationFrame(() => {
    s.pending = false;
    const started = s.pointerAt;
    s.pointerAt = null;
    read(s);
    // a task posted from an animation frame runs once that frame is rendered: the prediction is painted
    if (started !== null) {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        s.latencies.push(performance.now() - started);
        if (s.latencies.length > 2000) s.latencies.splice(0, 1000);
      };
      channel.port2.postMessage(0);
    }
  });
}

// Preprocess the canvas (or take a test digit's levels) and run the network: everything on screen follows.
function read(s) {
  if (!s.model) {
    showEmpty(s, s.error || (s.serverOnly ? null : "Loading the network ..."));
    return;
  }
  const tPre = performance.now();
  const info = {};
  const { width, height } = s.canvas;
  const levels = s.levels || preprocess(s.ctx.getImageData(0, 0, width, height).data, width, height, undefined, info);
  if (!s.levels) s.preMs.push(performance.now() - tPre);
  if (s.preMs.length > 2000) s.preMs.splice(0, 1000);
  if (!levels) {
    s.current = null;
    showEmpty(s, null);
    return;
  }
  const t0 = performance.now();
  const out = forward(s.model, levels);
  s.engineMs.push(performance.now() - t0);
  if (s.engineMs.length > 2000) s.engineMs.splice(0, 1000);
  const hidden = s.model.hidden.map((step, l) => unitBits(step, out.layers[l]));
  const key = levels.join();
  if (s.current && s.current.key !== key) s.previous = s.current;
  s.current = { key, hidden };
  render(s, levels, out, hidden, s.levels ? [] : shapeDoubts(info, s.data.doubts));
}

// bnn.draw.shape_doubts: why the ink may not be a digit (limits from the server: bnn.draw's FULL, TINY, FLAT)
function shapeDoubts(info, limits) {
  if (!limits || info.bottom === undefined || info.bottom < 0) return [];
  const share = info.inked / (info.width * info.height);
  if (share > limits.full) return [`ink covers ${Math.round(share * 100)}% of the canvas: a digit is a few strokes, not a filled area`];
  const h = info.bottom - info.top + 1;
  const w = info.right - info.left + 1;
  if (Math.max(h, w) < limits.tiny * Math.max(info.width, info.height)) return ["the drawing is tiny (a dot or a speck) and was scaled up a lot"];
  if (h < limits.flat * w) return ["the drawing is much wider than it is tall, unlike any digit"];
  return [];
}

function showEmpty(s, message) {
  s.readout.hidden = true;
  s.bars.replaceChildren();
  s.layers.replaceChildren();
  s.truth.textContent = "";
  s.status.textContent = message || (s.serverOnly ? "" : "Draw a digit on the black canvas: one digit, 0 to 9, filling most of the box.");
  s.digit.textContent = "";
}

function render(s, levels, out, hidden, doubts) {
  const probabilities = softmax(out.scores);
  const LOW_CONFIDENCE = s.data.doubts ? s.data.doubts.low : 0.6;
  const top = out.predicted;
  s.readout.hidden = false;
  s.digit.textContent = String(top);
  s.probability.textContent = `${Math.round(probabilities[top] * 100)}% probability`;
  const low = probabilities[top] < LOW_CONFIDENCE ? [`the top probability is only ${Math.round(probabilities[top] * 100)}%`] : [];
  const reasons = low.concat(doubts);
  s.status.textContent = reasons.length ? `Low confidence: ${reasons.join("; ")}. Draw one digit, 0 to 9, filling most of the box.` : "";
  s.truth.textContent = s.testLabel === null ? "" : `Test digit, true label ${s.testLabel}: ${s.testLabel === top ? "right" : "wrong"}.`;
  // the model input, 28x28
  const pctx = s.preview.getContext("2d");
  const image = pctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) image.data.set([levels[i], levels[i], levels[i], 255], i * 4);
  pctx.putImageData(image, 0, 0);
  // probabilities
  if (s.bars.children.length !== probabilities.length) {
    s.bars.replaceChildren(...Array.from(probabilities, (_, c) => {
      const row = el("div", { class: "bnn-bar" });
      row.append(el("span", { class: "bnn-bar-label" }, String(c)), el("span", { class: "bnn-bar-track" }), el("span", { class: "bnn-bar-value" }));
      row.children[1].append(el("span", { class: "bnn-bar-fill" }));
      return row;
    }));
  }
  probabilities.forEach((p, c) => {
    const row = s.bars.children[c];
    row.classList.toggle("bnn-top", c === top);
    row.children[1].firstChild.style.width = `${(p * 100).toFixed(1)}%`;
    row.children[2].textContent = `${(p * 100).toFixed(p < 0.1 ? 1 : 0)}%`;
  });
  drawLayers(s, hidden);
}

// Each hidden layer: one cell per unit, blue +1, red −1, grouped by the digit the unit favours
// (data.orders from bnn.analysis.unit_order), outlined where it changed since the previous drawing.
function drawLayers(s, hidden) {
  const steps = s.model.hidden;
  if (s.layers.children.length !== steps.length || s.layersFor !== s.modelKey + s.ordersKey) {
    s.layersFor = s.modelKey + s.ordersKey;
    s.layers.replaceChildren(...steps.map((step, l) => {
      const box = el("figure", { class: "bnn-layer" });
      box.append(el("figcaption"), el("canvas", { role: "img", "aria-label": `${step.name}: ±1 outputs` }));
      box.layout = layout(step.outSize, s.data.orders && s.data.orders[l]);
      return box;
    }));
  }
  const ink = getComputedStyle(s.box).color || "#888";
  const inkRGB = (ink.match(/\d+/g) || [128, 128, 128]).slice(0, 3).map(Number);
  const ratio = window.devicePixelRatio || 1;
  steps.forEach((step, l) => {
    const box = s.layers.children[l];
    const { cells, width, height, size, labels, label } = box.layout;
    const bits = hidden[l];
    const before = s.previous && s.previous.hidden[l].length === bits.length ? s.previous.hidden[l] : null;
    let plus = 0;
    let changed = 0;
    for (let u = 0; u < bits.length; u++) {
      plus += bits[u];
      if (before && before[u] !== bits[u]) changed++;
    }
    box.firstChild.textContent = `${step.name}: ${plus} of ${bits.length} at +1 · ${changed} changed`;
    const canvas = box.lastChild;
    const ctx = canvas.getContext("2d");
    if (canvas.width !== Math.round(width * ratio) || box.inkFor !== ink) {
      // size and labels once per layout (and theme); the cells are pixels written below
      canvas.width = Math.round(width * ratio); canvas.height = Math.round(height * ratio);
      canvas.style.width = width + "px"; canvas.style.height = height + "px";
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.fillStyle = ink; ctx.font = "11px sans-serif"; ctx.textBaseline = "top";
      for (const [y, text] of labels) ctx.fillText(text, 0, y);
      box.inkFor = ink;
      box.image = ctx.createImageData(canvas.width - Math.round(label * ratio), canvas.height);
    }
    const image = box.image;
    if (box.pixels === undefined || box.pixels.buffer !== image.data.buffer) {
      box.pixels = new Uint32Array(image.data.buffer); // one 32-bit write per pixel (RGBA bytes, little-endian)
      box.shown = new Int8Array(cells.length).fill(-1); // what each cell shows: -1 nothing, 0/1 the bit, +2 outlined
    }
    const pixels = box.pixels;
    const stride = image.width;
    const cell = Math.max(1, Math.round(size * ratio));
    const fill = cell > 3 ? cell - 1 : cell; // a 1-pixel gap between cells that have room for it
    const colors = [rgba(MINUS_RGB), rgba(PLUS_RGB)];
    const edgeColor = rgba(inkRGB);
    // only the cells whose state changed since the last frame are painted again: while a stroke is drawn
    // most units keep their sign, so a frame writes a few cells, not all (up to 6,272 for `best`)
    let top = Infinity;
    let bottom = -1;
    for (let i = 0; i < cells.length; i++) {
      const u = cells[i].unit;
      const outline = before !== null && before[u] !== bits[u];
      const state = bits[u] + (outline ? 2 : 0);
      if (box.shown[i] === state) continue;
      box.shown[i] = state;
      const color = colors[bits[u]];
      const x0 = Math.round((cells[i].x - label) * ratio);
      const y0 = Math.round(cells[i].y * ratio);
      for (let dy = 0; dy < fill; dy++) {
        const row = (y0 + dy) * stride + x0;
        const edgeRow = outline && (dy === 0 || dy === fill - 1);
        for (let dx = 0; dx < fill; dx++) {
          pixels[row + dx] = edgeRow || (outline && (dx === 0 || dx === fill - 1)) ? edgeColor : color;
        }
      }
      top = Math.min(top, y0);
      bottom = Math.max(bottom, y0 + fill);
    }
    if (bottom >= 0) ctx.putImageData(image, Math.round(label * ratio), 0, 0, top, image.width, bottom - top);
  });
}

// Cells in rows of `cols`, each group of units (the digit they favour) starting a new row, with
// room for its label; x, y in CSS pixels.
function layout(units, order) {
  const cols = units <= 1200 ? 32 : units <= 4000 ? 48 : 64;
  const size = units <= 1200 ? 7 : units <= 4000 ? 5 : 4;
  const label = 64;
  const labelHeight = 13;
  const gap = 3;
  const cells = [];
  const labels = [];
  const unitOrder = order && order.order.length === units ? order.order : Array.from({ length: units }, (_, u) => u);
  const favoured = order && order.favoured.length === units ? order.favoured : null;
  let y = -gap;
  let groupTop = 0;
  let col = cols;
  let group = null;
  for (const u of unitOrder) {
    const g = favoured ? favoured[u] : -2;
    if (g !== group) {
      if (group !== null) y = Math.max(y + size, groupTop + labelHeight);
      y += gap;
      groupTop = y;
      col = 0;
      labels.push([y, g === -2 ? "units" : g < 0 ? "no favourite" : `favours ${g}`]);
      group = g;
    } else if (col >= cols) {
      y += size;
      col = 0;
    }
    cells.push({ unit: u, x: label + col * size, y, group: g });
    col += 1;
  }
  const height = Math.max(y + size, groupTop + labelHeight);
  return { cells, height, width: label + cols * size, size, labels, label };
}

function hover(s, event) {
  const canvas = event.target;
  if (canvas.tagName !== "CANVAS" || !s.current) return;
  const box = canvas.parentElement;
  const l = [...s.layers.children].indexOf(box);
  if (l < 0) return;
  const { cells, size } = box.layout;
  const rect = canvas.getBoundingClientRect();
  const x = event.clientX - rect.left;
  const y = event.clientY - rect.top;
  const cell = cells.find((c) => x >= c.x && x < c.x + size && y >= c.y && y < c.y + size);
  if (!cell) { canvas.title = ""; return; }
  const bit = s.current.hidden[l][cell.unit];
  const before = s.previous ? s.previous.hidden[l][cell.unit] : null;
  const group = cell.group === -2 ? "" : cell.group < 0 ? " · favours no digit" : ` · favours ${cell.group}`;
  const was = before === null || before === undefined ? "" : before === bit ? " (unchanged)" : ` (was ${before ? "+1" : "−1"})`;
  canvas.title = `${s.model.hidden[l].name} unit ${cell.unit}${group}: ${bit ? "+1" : "−1"}${was}`;
}

async function loadModel(s, spec, note) {
  const key = spec.sha256 || spec.url || "";
  if (key === s.modelKey) {
    if (s.model) s.note.textContent = note;
    return;
  }
  s.modelKey = key;
  try {
    let model = s.models.get(key);
    if (!model) {
      let bytes;
      if (spec.inline) bytes = b64bytes(spec.inline);
      else {
        const response = await fetch(spec.url);
        if (!response.ok) throw new PackedModelError(`the model's bytes could not be fetched (HTTP ${response.status})`);
        bytes = new Uint8Array(await response.arrayBuffer());
      }
      model = parsePacked(bytes);
      s.models.set(key, model);
      if (s.models.size > MODELS_KEPT) s.models.delete(s.models.keys().next().value);
    }
    if (s.modelKey !== key) return; // a newer model was asked for meanwhile
    s.model = model;
    s.error = null;
    s.note.textContent = note; // what is read, as of these weights
  } catch (error) {
    if (s.modelKey !== key) return;
    s.model = null;
    s.error = `The network could not be read in this page: ${error.message}`;
  }
  schedule(s);
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let s = parentElement.__bnnDraw;
  if (!s) s = parentElement.__bnnDraw = setup(parentElement, data);
  window.__bnnDraw = s; // read by tests and benchmarks/draw_latency.py: latencies, engineMs, preMs
  s.data = data;
  s.send = (url) => setStateValue("drawing", url);
  s.serverOnly = Boolean(data.model && data.model.server_only);
  s.box.classList.toggle("bnn-server-only", s.serverOnly);
  const ordersKey = JSON.stringify((data.orders || []).map((o) => o.order.length + ":" + o.order.slice(0, 8).join(",")));
  s.ordersKey = ordersKey;
  const size = data.model && data.model.nbytes ? `${(data.model.nbytes / 1024).toFixed(0)} kB` : "";
  if (s.serverOnly) {
    s.model = null;
    s.modelKey = null;
    s.note.textContent = data.model.server_only;
    showEmpty(s, null);
  } else if (data.model) {
    loadModel(s, data.model, `${data.label || "The network"} runs in this page: ${size} of packed ±1 weights and thresholds.`);
  }
  schedule(s);
}
