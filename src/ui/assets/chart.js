// The demand chart (uPlot, served by the service from node_modules/uplot): observed series,
// forecast mean with its widest interval as a band, provisioned capacity as a step line, and
// anomaly and decision marks.
import uPlot from '/ui/vendor/uplot.js';

let chart = null;
// A live update must not replace the chart under a drag in progress: the redraw waits for the
// button to come up (the drag then usually navigates to the dragged range anyway).
let dragging = false;
let pendingDraw = null;
window.addEventListener('mouseup', () => {
  dragging = false;
  const draw = pendingDraw;
  pendingDraw = null;
  if (draw) setTimeout(draw);
});

/**
 * Draws into `el`, replacing the previous chart. `points` [[t s, v]], `forecast` [[t s, mean, lo,
 * hi]] or null, `anomalies` and `marks` (decisions that acted) [[t s, v]], `capacity` [[t s, v]]
 * (a step line; empty or absent: none). `range` [from s, to s] is the time axis (the page's range,
 * so one point does not stretch it over years). `nonNegative`: the quantity cannot go below zero
 * (a count, a rate), so neither does the forecast band. `onZoom(from s, to s)`, when given, is
 * called with the stretch the user drags across instead of zooming in place.
 */
export function drawSeries(el, { points, forecast, anomalies, marks = [], capacity = [], label, range, nonNegative, onZoom }) {
  if (dragging) {
    pendingDraw = () => drawSeries(el, { points, forecast, anomalies, marks, capacity, label, range, nonNegative, onZoom });
    return;
  }
  if (forecast && nonNegative) forecast = forecast.map(([t, ...v]) => [t, ...v.map((x) => (x === null ? null : Math.max(0, x)))]);
  const xs = [...new Set([points, forecast ?? [], anomalies, marks, capacity].flatMap((rows) => rows.map((p) => p[0])))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const column = (rows, j) => {
    const out = new Array(xs.length).fill(null);
    for (const r of rows) out[index.get(r[0])] = r[j] ?? null;
    return out;
  };
  const data = [xs, column(points, 1), column(forecast ?? [], 1), column(forecast ?? [], 2), column(forecast ?? [], 3), column(anomalies, 1), column(capacity, 1), column(marks, 1)];
  const opts = {
    width: Math.max(300, el.clientWidth),
    height: 300,
    title: '',
    scales: { x: { time: true, ...(range ? { range: () => range } : {}) }, ...(nonNegative ? { y: { range: (_u, min, max) => [0, max > 0 ? max * 1.05 : 1] } } : {}) },
    // Room for a label such as "7/1 12:00": uPlot's default spacing lets them overlap.
    axes: [{ space: 90 }, { label, size: 70 }],
    series: [
      {},
      { label: 'observed', stroke: '#0b57d0', width: 1.5, spanGaps: false },
      { label: 'forecast', stroke: '#8a4b00', width: 1.5, dash: [6, 4], spanGaps: true },
      { label: 'band low', stroke: 'rgba(138,75,0,0.35)', width: 1, spanGaps: true },
      { label: 'band high', stroke: 'rgba(138,75,0,0.35)', width: 1, spanGaps: true },
      { label: 'anomaly', stroke: '#b3261e', paths: () => null, points: { show: true, size: 10, fill: '#b3261e', stroke: '#b3261e' } },
      { label: 'capacity', stroke: '#1e7d32', width: 1.5, spanGaps: true, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } },
      { label: 'decision', stroke: '#1e7d32', paths: () => null, points: { show: true, size: 9, width: 2, fill: '#ffffff', stroke: '#1e7d32' } },
    ],
    bands: forecast ? [{ series: [4, 3], fill: 'rgba(245,166,35,0.22)' }] : [],
    cursor: { drag: { x: true, y: false, setScale: !onZoom } },
    hooks: {
      // The shown ranges, for scripts reading the page (x in seconds).
      draw: [(u) => Object.assign(el.dataset, { xMin: u.scales.x.min, xMax: u.scales.x.max, yMin: u.scales.y.min })],
      ...(onZoom ? {
        setSelect: [(u) => {
          if (u.select.width < 5) return;
          onZoom(u.posToVal(u.select.left, 'x'), u.posToVal(u.select.left + u.select.width, 'x'));
        }],
      } : {}),
    },
  };
  if (chart) chart.destroy();
  el.innerHTML = '';
  el.setAttribute('role', 'img');
  el.setAttribute('aria-label', `Chart of ${label}: ${points.length} observed points${forecast ? `, a forecast of ${forecast.length} steps` : ''}${capacity.length ? ', provisioned capacity' : ''}, ${anomalies.length} anomalies, ${marks.length} decisions that acted`);
  chart = new uPlot(opts, data, el);
  chart.over.addEventListener('mousedown', () => { dragging = true; });
}
