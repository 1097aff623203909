// The Train page's live chart: one Plotly graph updated in place.
//
// st.plotly_chart derives its element id from the figure, so new data mounts a new chart and
// Plotly draws it from scratch at every refresh, CPU taken from training on a small machine.
// This component keeps one graph and updates it only when the run has new points: the lines
// alone (Plotly.animate, no redraw) while they stay inside the axes, which the server fixes to
// the whole run where it can; everything (Plotly.react) when an axis must grow. The graph
// lives in its own iframe document: Plotly measures text while it draws, and each measurement
// would otherwise lay out the whole Streamlit page again.
// Python side: ui.live_chart.live_plotly_chart and preload_live_chart.
//
// data: {figure: {data: [traces without x/y, each with a uid], layout}, series: {uid: [xs, ys]},
//        version, config (Plotly's), has_plotly, plotly_js (until has_plotly), preload}
// state: has_plotly, set once this tab holds the plotly.js source, so the server stops sending it;
//        needs_plotly, set when the server believes the tab has it but it does not.

function runIn(frame, source) {
  const doc = frame.contentDocument;
  doc.open();
  doc.write('<!doctype html><html><body style="margin:0; font-family: sans-serif"><div id="graph"></div></body></html>');
  doc.close();
  const script = doc.createElement("script");
  script.textContent = source;
  doc.head.appendChild(script);
}

function chartFrame(host, source) {
  let frame = host.querySelector("iframe");
  if (frame && frame.contentWindow && frame.contentWindow.Plotly) return frame;
  if (!frame) {
    host.textContent = "";
    host.style.height = "100%";
    frame = document.createElement("iframe");
    frame.title = "live training chart";
    // color-scheme as the frame's document (normal): with the page's dark scheme Chromium would paint the
    // frame opaque white, behind a chart drawn for the dark theme (ui.live_chart.theme_template)
    frame.style.cssText = "border: 0; width: 100%; display: block; color-scheme: normal;";
    host.appendChild(frame);
  }
  runIn(frame, source);
  return frame;
}

// Plotly builds CSS selectors from trace uids (".cb" + uid when a trace goes away), and ours
// ("loss/test set") hold characters a selector cannot: escape each such character as _<hex>.
function selectorSafe(uid) {
  return uid === undefined ? uid : uid.replace(/[^A-Za-z0-9-]/g, (c) => `_${c.charCodeAt(0).toString(16)}_`);
}

// "x2" -> "xaxis2": a trace's axis reference as the layout names the axis.
function axisName(ref) {
  return ref.replace(/^x/, "xaxis").replace(/^y/, "yaxis");
}

// The axis ranges to draw with: the ranges drawn last (or the layout's fixed ones) while every
// point falls inside them, else the points' extent with headroom (from 0 when no point is
// negative). Log axes are handled in log10 units, as Plotly's ranges are.
function fitRanges(layout, traces, drawn) {
  const extent = {};
  for (const trace of traces) {
    for (const [ref, values] of [[trace.xaxis || "x", trace.x], [trace.yaxis || "y", trace.y]]) {
      const name = axisName(ref);
      const log = (layout[name] || {}).type === "log";
      for (const value of values || []) {
        if (value === null || !Number.isFinite(value) || (log && value <= 0)) continue;
        const unit = log ? Math.log10(value) : value;
        const span = extent[name] || (extent[name] = { low: unit, high: unit, log });
        span.low = Math.min(span.low, unit);
        span.high = Math.max(span.high, unit);
      }
    }
  }
  const ranges = { ...drawn };
  let changed = false;
  for (const [name, { low, high, log }] of Object.entries(extent)) {
    const current = drawn[name] || (layout[name] || {}).range;
    if (current && low >= current[0] && high <= current[1]) {
      ranges[name] = current;
      continue;
    }
    const span = high - low || Math.abs(high) || 1;
    const fitted = [!log && low >= 0 ? 0 : low - 0.1 * span, high + 0.15 * span];
    ranges[name] = current ? [Math.min(current[0], fitted[0]), Math.max(current[1], fitted[1])] : fitted;
    changed = true;
  }
  return { ranges, changed };
}

const PRELOAD_WAIT_MS = 3000; // how long a chart waits for the preload of the same page to bring plotly.js

export default function render(args) {
  const { data, parentElement, setStateValue } = args;
  const host = parentElement.querySelector(".bnn-live-chart");
  if (data.plotly_js) window.bnnPlotlySource = data.plotly_js;
  if (data.preload) return; // never reports back: see ui.live_chart.preload_live_chart
  host.dataset.wanted = data.version;
  if (!window.bnnPlotlySource) {
    host.textContent = "Loading the chart library …";
    if (!data.has_plotly) return;
    // The server has sent it to this tab: in the preload of this page, which may mount after this chart.
    const waited = host.bnnWaitedMs || 0;
    if (waited >= PRELOAD_WAIT_MS) {
      setStateValue("needs_plotly", Date.now()); // the preload never arrived
      return;
    }
    host.bnnWaitedMs = waited + 50;
    setTimeout(() => host.dataset.wanted === data.version && render(args), 50);
    return;
  }
  if (!data.has_plotly) setStateValue("has_plotly", true);
  if (host.dataset.version === data.version) return; // nothing new to draw
  const frame = chartFrame(host, window.bnnPlotlySource);
  const traces = data.figure.data.map((trace) => {
    const line = data.series[trace.uid];
    return { ...trace, uid: selectorSafe(trace.uid), ...(line ? { x: line[0], y: line[1] } : {}) };
  });
  host.dataset.version = data.version;
  frame.style.height = `${data.figure.layout.height}px`;
  const graph = frame.contentDocument.getElementById("graph");
  const Plotly = frame.contentWindow.Plotly;
  const shape = JSON.stringify([traces.map((trace) => trace.uid), data.figure.layout]); // the lines and their axes
  const fresh = !graph.data || graph.bnnShape !== shape;
  const { ranges, changed } = fitRanges(data.figure.layout, traces, fresh ? {} : graph.bnnRanges);
  if (fresh || changed) {
    // Plotly.react redraws everything: axes, ticks, labels, legend (~60 ms and a repaint).
    const layout = { ...data.figure.layout };
    for (const [name, range] of Object.entries(ranges)) layout[name] = { ...layout[name], range, autorange: false };
    Object.assign(graph, { bnnShape: shape, bnnRanges: ranges });
    try {
      Plotly.react(graph, traces, layout, data.config);
    } catch (error) {
      console.warn("live chart: drawn afresh after", error); // a chart, not an error box, in any case
      Plotly.purge(graph);
      Plotly.newPlot(graph, traces, layout, data.config);
    }
  } else {
    // Every point inside the drawn axes: move the lines only (Plotly.animate without a redraw
    // takes ~2.5x less of the browser's CPU than Plotly.react, measured in headless Chromium).
    Plotly.animate(
      graph,
      { data: traces.map((trace) => ({ x: trace.x, y: trace.y })), traces: traces.map((_, index) => index) },
      { transition: { duration: 0 }, frame: { duration: 0, redraw: false }, mode: "immediate" },
    );
  }
}
