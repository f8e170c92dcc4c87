// Time-series charts of GET /api/figures, drawn by uPlot (window.uPlot, from its WebJar).

const COLOURS = ['#2e9d57', '#d64545', '#8a63d2', '#3b7dd8', '#e0a100'];

/**
 * Draws (or redraws with new data) one chart in `el`: x is the buckets' start in epoch seconds,
 * `series` is a list of {label, values}. Keeps the uPlot instance on the element.
 */
export function lineChart(el, title, unit, xs, series) {
  const data = [xs, ...series.map(s => s.values)];
  const width = Math.max(280, el.clientWidth - 4);
  if (el._plot && el._plot.series.length === series.length + 1 && el._plotWidth === width) {
    el._plot.setData(data);
    return el._plot;
  }
  if (el._plot) {
    el._plot.destroy();
  }
  const opts = {
    title,
    width,
    height: 200,
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    axes: [
      { stroke: '#4a5668', grid: { stroke: '#eef1f5' } },
      { stroke: '#4a5668', grid: { stroke: '#eef1f5' }, label: unit, size: 60 },
    ],
    series: [
      {},
      ...series.map((s, i) => ({
        label: s.label,
        stroke: s.colour || COLOURS[i % COLOURS.length],
        width: 1.6,
        spanGaps: false,
        points: { show: false },
        value: (u, v) => v == null ? '–' : (Math.round(v * 100) / 100) + ' ' + unit,
      })),
    ],
  };
  el._plot = new window.uPlot(opts, data, el);
  el._plotWidth = width;
  return el._plot;
}
