// The Train page's live chart: one Plotly graph updated in place with Plotly.react.
//
// st.plotly_chart derives its element id from the figure, so new data mounts a new chart and
// Plotly draws it from scratch at every refresh, CPU taken from training on a small machine.
// This component keeps one graph and redraws it only when the run has new points. The graph
// lives in its own iframe document: Plotly measures text while it draws, and each measurement
// would otherwise lay out the whole Streamlit page again.
// Python side: ui.live_plotly_chart and ui.preload_live_chart.
//
// data: {figure: {data: [traces without x/y, each with a uid], layout}, series: {uid: [xs, ys]},
//        version, config (Plotly's), has_plotly, plotly_js (until has_plotly), preload}
// state: has_plotly, set once this tab holds the plotly.js source, so the server stops sending it.

function runIn(frame, source) {
  const doc = frame.contentDocument;
  doc.open();
  doc.write('<!doctype html><html><body style="margin:0; font-family: sans-serif"><div id="graph"></div></body></html>');
  doc.close();
  const script = doc.createElement("script");
  script.textContent = source;
  doc.head.appendChild(script);
}

// Parsing plotly.js takes ~1.5 s of CPU the first time and ~0.1 s in the next document of the
// same tab (V8 keeps the compiled script while some document holds it): parse it once in a
// hidden frame kept for the tab's lifetime, when the page opens, not when a run starts.
function warmUp(source) {
  if (window.bnnPlotlyWarmFrame) return;
  const frame = document.createElement("iframe");
  frame.setAttribute("aria-hidden", "true");
  frame.tabIndex = -1;
  frame.style.display = "none";
  document.body.appendChild(frame);
  runIn(frame, source);
  window.bnnPlotlyWarmFrame = frame;
}

function chartFrame(host, source) {
  let frame = host.querySelector("iframe");
  if (frame && frame.contentWindow && frame.contentWindow.Plotly) return frame;
  if (!frame) {
    host.textContent = "";
    host.style.height = "100%";
    frame = document.createElement("iframe");
    frame.title = "live training chart";
    frame.style.cssText = "border: 0; width: 100%; display: block;";
    host.appendChild(frame);
  }
  runIn(frame, source);
  return frame;
}

export default function ({ data, parentElement, setStateValue }) {
  const host = parentElement.querySelector(".bnn-live-chart");
  if (data.plotly_js) window.bnnPlotlySource = data.plotly_js;
  if (window.bnnPlotlySource) warmUp(window.bnnPlotlySource);
  if (!window.bnnPlotlySource) {
    if (!data.preload) host.textContent = "Loading the chart library …";
    return;
  }
  if (!data.has_plotly) setStateValue("has_plotly", true);
  if (data.preload || host.dataset.version === data.version) return; // nothing new to draw
  const frame = chartFrame(host, window.bnnPlotlySource);
  const traces = data.figure.data.map((trace) => {
    const line = data.series[trace.uid];
    return line ? { ...trace, x: line[0], y: line[1] } : trace;
  });
  host.dataset.version = data.version;
  frame.style.height = `${data.figure.layout.height}px`;
  const graph = frame.contentDocument.getElementById("graph");
  frame.contentWindow.Plotly.react(graph, traces, data.figure.layout, data.config);
}
