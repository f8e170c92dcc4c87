// The workflow graph, drawn by Cytoscape.js (window.cytoscape, from its WebJar) with its
// breadth-first layout: layers from the start node down. The nodes and labelled edges come from
// GET /api/workflows/{id}/versions/{version}, which derives them from the engine's own model.

export const STATUS_COLOURS = {
  ran: '#2e9d57',
  failed: '#d64545',
  waiting: '#e0a100',
  cancelled: '#8795a8',
  'not reached': '#b8c0cc',
  none: '#5b7fbf',
};

/**
 * Draws `graph` into `el`. `statuses` maps node id to 'ran', 'failed', 'waiting', 'cancelled' or 'not reached'
 * (absent: the plain workflow view). The container's data-statuses attribute tells the same for
 * tests and screen readers, which cannot read a canvas.
 */
export function drawGraph(el, graph, statuses) {
  if (el._cy) {
    el._cy.destroy();
  }
  const elements = [];
  for (const n of graph.nodes) {
    const status = statuses ? (statuses[n.id] || 'not reached') : 'none';
    elements.push({ data: { id: n.id, label: n.id + '\n' + n.type, status } });
  }
  graph.edges.forEach((e, i) => elements.push({ data: { id: 'e' + i, source: e.from, target: e.to, label: e.label } }));
  const style = [
    {
      selector: 'node',
      style: {
        'shape': 'round-rectangle',
        'background-color': ele => STATUS_COLOURS[ele.data('status')],
        'label': 'data(label)',
        'text-wrap': 'wrap',
        'text-valign': 'center',
        'text-halign': 'center',
        'color': '#fff',
        'font-size': 11,
        'font-family': 'system-ui, sans-serif',
        'width': 112,
        'height': 40,
        'border-width': ele => ele.id() === graph.start ? 3 : 0,
        'border-color': '#1d2b3a',
      },
    },
    {
      selector: 'node[status = "not reached"]',
      style: { 'color': '#1d2b3a' },
    },
    {
      selector: 'edge',
      style: {
        'width': 1.5,
        'line-color': '#8795a8',
        'target-arrow-color': '#8795a8',
        'target-arrow-shape': 'triangle',
        'curve-style': 'bezier',
        'label': 'data(label)',
        'font-size': 10,
        'color': '#4a5668',
        'text-background-color': '#fff',
        'text-background-opacity': 1,
        'text-background-padding': 2,
      },
    },
  ];
  const cy = window.cytoscape({
    container: el,
    elements,
    style,
    layout: { name: 'breadthfirst', directed: true, roots: graph.start ? [graph.start] : undefined, spacingFactor: 1.1, padding: 16 },
    userZoomingEnabled: true,
    wheelSensitivity: 0.2,
    boxSelectionEnabled: false,
    autoungrabify: true,
  });
  cy.fit(undefined, 16);
  if (cy.zoom() > 1.4) {
    cy.zoom(1.4);
    cy.center();
  }
  el._cy = cy;
  el.dataset.statuses = JSON.stringify(Object.fromEntries(graph.nodes.map(n => [n.id, statuses ? (statuses[n.id] || 'not reached') : 'none'])));
  return cy;
}

/**
 * Each node's status in one execution, from its node runs: the latest attempt of each (node,
 * path) counts; a node failed if any of its latest runs failed, cancelled if any was cut short by
 * the execution's cancel, waiting if any waits or runs (a delay's timer, an http call's lease),
 * ran otherwise; a node with no run was not reached.
 */
export function nodeStatuses(runs) {
  const latest = new Map();
  for (const r of runs) {
    const k = r.node + '\u0000' + (r.path || '');
    const seen = latest.get(k);
    if (!seen || r.attempt > seen.attempt) {
      latest.set(k, r);
    }
  }
  const rank = { ran: 0, waiting: 1, cancelled: 2, failed: 3 };
  const out = {};
  for (const r of latest.values()) {
    const s = r.status === 'succeeded' ? 'ran' : r.status === 'failed' ? 'failed' : r.status === 'cancelled' ? 'cancelled' : 'waiting';
    if (out[r.node] === undefined || rank[s] > rank[out[r.node]]) {
      out[r.node] = s;
    }
  }
  return out;
}

/** A legend of the colours, as HTML. */
export function legend(withStatuses) {
  const keys = withStatuses ? ['ran', 'failed', 'waiting', 'cancelled', 'not reached'] : [];
  return keys.map(k => `<span class="legend"><i style="background:${STATUS_COLOURS[k]}"></i>${k}</span>`).join('');
}
