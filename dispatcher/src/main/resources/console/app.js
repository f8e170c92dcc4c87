// The Onceflow console: a hash-routed page over the admin API. Pages: executions (#/executions),
// one execution (#/executions/<key>), workflows (#/workflows[/<id>/<version>]), dead letters
// (#/dlq), fleet and figures (#/fleet). Each page polls while it is shown.

import { api, get, post, token, setToken, onAuth, takeTokenFromFragment, ApiError } from './api.js';
import { drawGraph, nodeStatuses, legend } from './graph.js';
import { lineChart } from './charts.js';

const main = document.getElementById('main');
const flashEl = document.getElementById('flash');
let timers = [];
let generation = 0;

// ---- helpers ------------------------------------------------------------------------------------

function esc(v) {
  return String(v ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function time(iso) {
  if (!iso) {
    return '';
  }
  const d = new Date(iso);
  const pad = n => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function duration(fromIso, toIso) {
  if (!fromIso || !toIso) {
    return '';
  }
  const ms = new Date(toIso) - new Date(fromIso);
  if (ms < 1000) {
    return ms + ' ms';
  }
  if (ms < 60000) {
    return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
  }
  return Math.floor(ms / 60000) + ' min ' + Math.round((ms % 60000) / 1000) + ' s';
}

function badge(status) {
  return `<span class="status status-${esc(status)}">${esc(status)}</span>`;
}

function json(v) {
  return esc(JSON.stringify(v, null, 2));
}

function flash(message, kind = 'ok') {
  flashEl.textContent = message;
  flashEl.className = 'flash flash-' + kind;
  flashEl.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { flashEl.hidden = true; }, kind === 'error' ? 12000 : 6000);
}

function showError(e) {
  if (e instanceof ApiError && e.status === 401) {
    return; // the auth banner says it
  }
  flash(e.message, 'error');
}

function stopPolling() {
  generation++;
  timers.forEach(clearInterval);
  timers = [];
}

/** Runs `fn` now and every `ms` while the page that asked is shown. */
function every(ms, fn) {
  const g = generation;
  const run = async () => {
    if (g !== generation) {
      return;
    }
    try {
      await fn();
    } catch (e) {
      showError(e);
    }
  };
  run();
  timers.push(setInterval(run, ms));
}

/** Asks in the page's dialog; resolves true when confirmed. */
function confirmAction(title, text, yes) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-yes').textContent = yes;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise(resolve => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true }));
}

function hashQuery() {
  const i = location.hash.indexOf('?');
  return new URLSearchParams(i < 0 ? '' : location.hash.slice(i + 1));
}

// ---- token --------------------------------------------------------------------------------------

const auth = document.getElementById('auth');
const authMessage = document.getElementById('auth-message');
const tokenState = document.getElementById('token-state');
const signOut = document.getElementById('sign-out');

onAuth((state, message) => {
  signOut.hidden = state !== 'set';
  if (state === 'set') {
    auth.hidden = true;
    auth.className = 'auth';
    tokenState.textContent = 'token set';
    tokenState.className = 'token-state ok';
  } else if (state === 'refused') {
    stopPolling();
    main.innerHTML = '';
    auth.hidden = false;
    auth.className = 'auth refused';
    authMessage.textContent = 'Token refused (401): ' + (message || 'the server did not accept it') + '. Enter the api.token of this dispatcher.';
    tokenState.textContent = 'token refused (401)';
    tokenState.className = 'token-state refused';
    signOut.hidden = false;
  } else {
    auth.hidden = false;
    auth.className = 'auth';
    authMessage.textContent = 'Enter the API token (onceflow dev prints a console URL that carries it).';
    tokenState.textContent = 'no token';
    tokenState.className = 'token-state';
  }
});

document.getElementById('login').addEventListener('submit', e => {
  e.preventDefault();
  const input = document.getElementById('token-input');
  setToken(input.value.trim());
  input.value = '';
  route();
});

signOut.addEventListener('click', () => {
  setToken(null);
  main.innerHTML = '';
});

// ---- executions ---------------------------------------------------------------------------------

const SINCE = { '15m': 15 * 60e3, '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3 };
// The one status vocabulary of the API, for executions and node runs alike (ShownStatus).
const STATUSES = ['running', 'waiting', 'succeeded', 'failed', 'cancelled'];
const UNFINISHED = new Set(['running', 'waiting', 'queued']);

/**
 * The first thing the page shows: per workflow, its executions counted by status, each count a
 * link to the list filtered so; a workflow whose schedule fires every few seconds is one row here,
 * however many executions it has. Disabled workflows are shown muted.
 */
function countsTable(workflows, selected) {
  const rows = workflows.filter(w => w.executions).map(w => {
    const cells = STATUSES.map(s => {
      const n = w.executions[s] || 0;
      const href = `#/executions?workflow=${encodeURIComponent(w.id)}&status=${s}`;
      return `<td class="num" data-status="${s}">${n ? `<a href="${href}">${n}</a>` : '<span class="muted">0</span>'}</td>`;
    }).join('');
    return `<tr data-workflow="${esc(w.id)}" class="${w.id === selected ? 'selected' : ''}${w.enabled ? '' : ' disabled'}">
      <td><a href="#/executions?workflow=${encodeURIComponent(w.id)}">${esc(w.id)}</a>${w.enabled ? '' : ' <span class="muted">disabled</span>'}
        <span class="muted">${esc(w.trigger)}</span></td>${cells}</tr>`;
  }).join('');
  return rows || '<tr><td colspan="6" class="muted">no workflow deployed</td></tr>';
}

async function executionsPage() {
  const q = hashQuery();
  main.innerHTML = `
    <h1>Executions</h1>
    <table class="grid counts" id="workflow-counts">
      <thead><tr><th>Workflow</th>${STATUSES.map(s => `<th class="num">${badge(s)}</th>`).join('')}</tr></thead>
      <tbody></tbody>
    </table>
    <form id="exec-filters" class="filters">
      <label>Workflow <select id="f-workflow"><option value="">all</option></select></label>
      <label>Status <select id="f-status">
        <option value="">all</option>${STATUSES.map(s => `<option>${s}</option>`).join('')}
      </select></label>
      <label>Created <select id="f-since">
        <option value="">any time</option><option value="15m">last 15 min</option><option value="1h">last hour</option>
        <option value="24h">last 24 h</option><option value="7d">last 7 days</option>
      </select></label>
      <span class="live" title="refreshed every 2 s">live</span>
    </form>
    <table class="grid" id="executions">
      <thead><tr><th>Event key</th><th>Workflow</th><th>Status</th><th>Created</th><th>Took</th><th>Error</th></tr></thead>
      <tbody></tbody>
    </table>
    <p class="muted" id="exec-count"></p>`;
  const wf = document.getElementById('f-workflow');
  const st = document.getElementById('f-status');
  const since = document.getElementById('f-since');
  const counts = document.querySelector('#workflow-counts tbody');
  try {
    const workflows = await get('/api/workflows');
    for (const w of workflows.items) {
      wf.insertAdjacentHTML('beforeend', `<option>${esc(w.id)}</option>`);
    }
    counts.innerHTML = countsTable(workflows.items, q.get('workflow'));
  } catch (e) {
    showError(e);
  }
  if (q.get('workflow') && ![...wf.options].some(o => o.value === q.get('workflow'))) {
    wf.insertAdjacentHTML('beforeend', `<option>${esc(q.get('workflow'))}</option>`); // a link to a workflow not deployed (any more)
  }
  wf.value = q.get('workflow') || '';
  st.value = q.get('status') || '';
  since.value = q.get('since') || '';
  const changed = () => {
    const p = new URLSearchParams();
    if (wf.value) p.set('workflow', wf.value);
    if (st.value) p.set('status', st.value);
    if (since.value) p.set('since', since.value);
    const s = p.toString();
    location.hash = '#/executions' + (s ? '?' + s : '');
  };
  [wf, st, since].forEach(s => s.addEventListener('change', changed));
  const body = document.querySelector('#executions tbody');
  // The counts scan the executions table: refreshed less often than the list.
  let first = true;
  every(10000, async () => {
    if (first) {
      first = false; // just read above
      return;
    }
    counts.innerHTML = countsTable((await get('/api/workflows')).items, wf.value);
  });
  every(2000, async () => {
    const p = new URLSearchParams({ limit: '100' });
    if (wf.value) p.set('workflow', wf.value);
    if (st.value) p.set('status', st.value);
    if (since.value) p.set('since', new Date(Date.now() - SINCE[since.value]).toISOString());
    const page = await get('/api/executions?' + p);
    body.innerHTML = page.items.map(e => `
      <tr data-key="${esc(e.eventKey)}" data-status="${esc(e.status)}">
        <td><a class="exec-link" href="#/executions/${encodeURIComponent(e.eventKey)}">${esc(e.eventKey)}</a></td>
        <td><a href="#/workflows/${encodeURIComponent(e.workflow)}/${e.version}">${esc(e.workflow)}</a> <span class="muted">v${e.version}</span></td>
        <td>${badge(e.status)}</td>
        <td>${esc(time(e.createdAt))}</td>
        <td>${esc(duration(e.createdAt, e.finishedAt))}</td>
        <td class="error-cell" title="${esc(e.error)}">${esc(e.error)}</td>
      </tr>`).join('') || '<tr><td colspan="6" class="muted">no executions match</td></tr>';
    document.getElementById('exec-count').textContent =
      `${page.items.length} shown, newest first${page.nextCursor ? ' (more: narrow the filters)' : ''}; updated ${time(new Date().toISOString())}`;
  });
}

// ---- one execution ------------------------------------------------------------------------------

const graphs = new Map(); // "id/version" -> graph, versions never change

async function graphOf(id, version) {
  const k = id + '/' + version;
  if (!graphs.has(k)) {
    graphs.set(k, await get(`/api/workflows/${encodeURIComponent(id)}/versions/${version}`));
  }
  return graphs.get(k);
}

async function executionPage(key) {
  main.innerHTML = `
    <p class="crumbs"><a href="#/executions">Executions</a> ›</p>
    <h1 class="key">${esc(key)}</h1>
    <div class="exec-head">
      <span id="exec-status"></span>
      <span id="exec-meta" class="muted"></span>
      <span class="spacer"></span>
      <button id="btn-cancel" type="button" class="danger" disabled>Cancel</button>
      <button id="btn-retry" type="button" disabled>Retry from failed node</button>
    </div>
    <p id="exec-error" class="error-box" hidden></p>
    <div class="two">
      <section class="card"><h2>Workflow graph <span class="legends">${legend(true)}</span></h2><div id="graph" class="graph"></div></section>
      <section class="card"><h2>Trigger data</h2><pre id="trigger" class="json"></pre>
        <h2>Variables</h2><pre id="vars" class="json"></pre></section>
    </div>
    <section class="card"><h2>Timeline of node runs</h2>
      <table class="grid" id="timeline">
        <thead><tr><th>Node</th><th>Path</th><th>Attempt</th><th>Status</th><th>Started</th><th>Took</th><th class="bar-col"></th><th>Output or error</th></tr></thead>
        <tbody></tbody>
      </table>
    </section>`;
  let current = null;
  let drawn = '';
  const load = async () => {
    const e = await get('/api/executions/' + encodeURIComponent(key));
    current = e;
    document.getElementById('exec-status').innerHTML = badge(e.status);
    document.getElementById('exec-meta').innerHTML =
      `<a href="#/workflows/${encodeURIComponent(e.workflow)}/${e.version}">${esc(e.workflow)} v${e.version}</a> · created ${esc(time(e.createdAt))}`
      + (e.finishedAt ? ` · finished ${esc(time(e.finishedAt))} · took ${esc(duration(e.createdAt, e.finishedAt))}` : '');
    const err = document.getElementById('exec-error');
    err.hidden = !e.error;
    err.textContent = e.error || '';
    document.getElementById('btn-cancel').disabled = !UNFINISHED.has(e.status);
    document.getElementById('btn-retry').disabled = e.status !== 'failed';
    document.getElementById('trigger').innerHTML = json(e.trigger);
    document.getElementById('vars').innerHTML = json(e.vars);
    const g = await graphOf(e.workflow, e.version);
    // In the order they ran, as the API gives them (and the CLI prints them).
    const runs = e.nodes || [];
    const t0 = runs.length ? Math.min(...runs.map(r => new Date(r.startedAt))) : 0;
    const t1 = runs.length ? Math.max(...runs.map(r => new Date(r.finishedAt || r.startedAt))) : 0;
    const span = Math.max(1, t1 - t0);
    document.querySelector('#timeline tbody').innerHTML = runs.map(r => {
      const left = Math.min(99, ((new Date(r.startedAt) - t0) / span) * 100);
      const width = Math.max(0.8, ((new Date(r.finishedAt || r.startedAt) - new Date(r.startedAt)) / span) * 100);
      const detail = r.error ? `<span class="error-text">${esc(r.error)}</span>`
        : r.output == null ? '' : `<code>${esc(JSON.stringify(r.output)).slice(0, 400)}</code>`;
      return `<tr data-node="${esc(r.node)}" data-status="${esc(r.status)}" data-attempt="${r.attempt}">
        <td>${esc(r.node)}</td><td class="muted">${esc(r.path)}</td><td>${r.attempt}</td><td>${badge(r.status)}</td>
        <td>${esc(time(r.startedAt))}</td><td>${esc(duration(r.startedAt, r.finishedAt))}</td>
        <td class="bar-col"><div class="bar bar-${esc(r.status)}" style="margin-left:${left.toFixed(1)}%;width:${Math.min(width, 100 - left).toFixed(1)}%"></div></td>
        <td class="detail">${detail}</td></tr>`;
    }).join('') || '<tr><td colspan="8" class="muted">no node ran yet</td></tr>';
    const statuses = nodeStatuses(runs);
    const signature = JSON.stringify(statuses);
    if (signature !== drawn) {
      drawGraph(document.getElementById('graph'), g.graph, statuses);
      drawn = signature;
    }
  };
  // Until then the page reads the execution again although it is finished: a command was sent.
  let pendingUntil = 0;
  document.getElementById('btn-cancel').addEventListener('click', async () => {
    if (!await confirmAction('Cancel this execution?', `${key} becomes cancelled when the engine reaches the command. A node running now finishes; nothing after it runs.`, 'Cancel execution')) {
      return;
    }
    try {
      await post('/api/executions/' + encodeURIComponent(key) + '/cancel', { reason: 'through the console' });
      // A command the engine applies in its own batch (ADR 0025): the page reads the execution until it shows.
      flash('Cancel requested');
      pendingUntil = Date.now() + 15000;
      await load();
    } catch (e) {
      showError(e);
    }
  });
  document.getElementById('btn-retry').addEventListener('click', async () => {
    if (!await confirmAction('Retry this execution?', `${key} continues from its failed node as the next attempt; the nodes that succeeded do not run again.`, 'Retry')) {
      return;
    }
    try {
      const r = await post('/api/executions/' + encodeURIComponent(key) + '/retry');
      flash(`Retry requested from node '${r.node}' (attempt ${r.attempt})`);
      pendingUntil = Date.now() + 15000;
      await load();
    } catch (e) {
      showError(e);
    }
  });
  every(2000, async () => {
    if (!current || UNFINISHED.has(current.status) || !drawn || Date.now() < pendingUntil) {
      await load();
    }
  });
}

// ---- workflows ----------------------------------------------------------------------------------

async function workflowsPage(id, version) {
  main.innerHTML = `
    <h1>Workflows</h1>
    <table class="grid" id="workflows">
      <thead><tr><th>Workflow</th><th>Trigger</th><th>Enabled</th><th>Versions</th><th>Actions</th></tr></thead>
      <tbody></tbody>
    </table>
    <section class="card" id="wf-view" hidden>
      <h2 id="wf-title"></h2>
      <div class="two"><div id="wf-graph" class="graph"></div><pre id="wf-definition" class="json"></pre></div>
    </section>`;
  const body = document.querySelector('#workflows tbody');
  const load = async () => {
    const list = await get('/api/workflows');
    body.innerHTML = list.items.map(w => `
      <tr data-id="${esc(w.id)}" class="${w.id === id ? 'selected' : ''}">
        <td><a href="#/workflows/${encodeURIComponent(w.id)}/${w.latest}">${esc(w.id)}</a></td>
        <td>${esc(w.trigger)}</td>
        <td>${w.enabled ? '<span class="status status-succeeded">enabled</span>' : '<span class="status status-cancelled">disabled</span>'}</td>
        <td class="versions">${w.versions.map(v => `<a class="chip ${w.id === id && v === version ? 'on' : ''}"
              href="#/workflows/${encodeURIComponent(w.id)}/${v}">v${v}</a>`).join(' ')}</td>
        <td class="actions">
          <button type="button" data-act="${w.enabled ? 'disable' : 'enable'}">${w.enabled ? 'Disable' : 'Enable'}</button>
          ${w.versions.length < 2 ? '' : `<label class="muted">to v<select data-rollback>${w.versions.filter(v => v !== w.latest)
            .map(v => `<option>${v}</option>`).join('')}</select></label>
          <button type="button" data-act="rollback">Roll back</button>`}
        </td>
      </tr>`).join('') || '<tr><td colspan="5" class="muted">no workflow deployed</td></tr>';
  };
  body.addEventListener('click', async ev => {
    const b = ev.target.closest('button[data-act]');
    if (!b) {
      return;
    }
    const row = b.closest('tr');
    const wid = row.dataset.id;
    const act = b.dataset.act;
    try {
      if (act === 'rollback') {
        const v = row.querySelector('select[data-rollback]').value;
        if (!await confirmAction('Roll back ' + wid + '?', `Version ${v}'s definition is deployed again as the next version.`, 'Roll back')) {
          return;
        }
        const r = await post(`/api/workflows/${encodeURIComponent(wid)}/rollback?version=${v}`);
        flash(`${wid}: version ${r.version} deployed with version ${v}'s definition`);
      } else {
        if (!await confirmAction((act === 'enable' ? 'Enable ' : 'Disable ') + wid + '?',
            act === 'enable' ? 'Its trigger starts executions again.' : 'Its trigger stops starting executions; running ones go on.', act === 'enable' ? 'Enable' : 'Disable')) {
          return;
        }
        await post(`/api/workflows/${encodeURIComponent(wid)}/${act}`);
        flash(`${wid} ${act}d`);
      }
      await load();
    } catch (e) {
      showError(e);
    }
  });
  await load();
  if (id && version) {
    const v = await graphOf(id, version);
    document.getElementById('wf-view').hidden = false;
    document.getElementById('wf-title').textContent = `${id} v${version}` + (v.graph.trigger ? ` · trigger ${v.graph.trigger}` : '');
    document.getElementById('wf-definition').innerHTML = json(v.definition);
    drawGraph(document.getElementById('wf-graph'), v.graph, null);
  }
}

// ---- dead letters -------------------------------------------------------------------------------

async function dlqPage() {
  const reason = hashQuery().get('reason') || '';
  main.innerHTML = `
    <h1>Dead letters</h1>
    <form class="filters">
      <label>Reason <select id="f-reason"><option value="">all</option></select></label>
      <button id="btn-redrive" type="button" disabled>Redrive selected</button>
      <span class="muted">a redriven record keeps its key: whatever already ran for it is absorbed</span>
    </form>
    <table class="grid" id="dlq">
      <thead><tr><th><input type="checkbox" id="dl-all" title="select all"></th><th>Time</th><th>Reason</th><th>Message</th><th>Source</th><th>Key</th><th>Value</th></tr></thead>
      <tbody></tbody>
    </table>`;
  const select = document.getElementById('f-reason');
  const button = document.getElementById('btn-redrive');
  const body = document.querySelector('#dlq tbody');
  const all = await get('/api/dlq?limit=1000');
  const reasons = [...new Set(all.items.map(d => d.reason).filter(Boolean))].sort();
  reasons.forEach(r => select.insertAdjacentHTML('beforeend', `<option>${esc(r)}</option>`));
  select.value = reason;
  select.addEventListener('change', () => { location.hash = '#/dlq' + (select.value ? '?reason=' + encodeURIComponent(select.value) : ''); });
  const selected = () => [...body.querySelectorAll('input.dl-select:checked')];
  const update = () => {
    const n = selected().length;
    button.disabled = n === 0;
    button.textContent = n ? `Redrive selected (${n})` : 'Redrive selected';
  };
  body.addEventListener('change', update);
  document.getElementById('dl-all').addEventListener('change', ev => {
    body.querySelectorAll('input.dl-select').forEach(c => { c.checked = ev.target.checked; });
    update();
  });
  const items = reason ? (await get('/api/dlq?limit=1000&reason=' + encodeURIComponent(reason))).items : all.items;
  body.innerHTML = items.map(d => `
    <tr data-partition="${d.partition}" data-offset="${d.offset}" data-key="${esc(d.key)}">
      <td><input type="checkbox" class="dl-select" data-partition="${d.partition}" data-offset="${d.offset}"></td>
      <td>${esc(time(d.time))}</td><td>${badge(d.reason)}</td><td class="detail">${esc(d.message)}</td>
      <td class="muted">${esc(d.sourceTopic)}-${esc(d.sourcePartition)}@${esc(d.sourceOffset)}${d.redrivenFrom ? '<br>redriven from ' + esc(d.redrivenFrom) : ''}</td>
      <td>${esc(d.key)}</td><td class="detail"><code>${esc((d.value || '').slice(0, 200))}</code></td>
    </tr>`).join('') || '<tr><td colspan="7" class="muted">no dead letters</td></tr>';
  button.addEventListener('click', async () => {
    const chosen = selected().map(c => ({ partition: Number(c.dataset.partition), offset: Number(c.dataset.offset) }));
    if (!await confirmAction(`Redrive ${chosen.length} dead letter${chosen.length > 1 ? 's' : ''}?`,
        'Each record is published again, same key and value, to the topic it came from.', 'Redrive')) {
      return;
    }
    const done = [];
    try {
      for (const c of chosen) {
        const r = await post('/api/dlq/redrive', c);
        done.push(...r.redriven.map(x => `${x.from} → ${x.to}`));
      }
      flash('Redriven: ' + done.join(', '));
      body.querySelectorAll('input.dl-select:checked').forEach(c => { c.checked = false; c.closest('tr').classList.add('redriven'); });
      update();
    } catch (e) {
      showError(e);
    }
  });
}

// ---- fleet and figures --------------------------------------------------------------------------

function groupTable(g, withLag) {
  if (!g) {
    return '';
  }
  const rows = g.members.map(m => {
    const parts = m.partitions.map(p => withLag && g.lag && g.lag[p] !== undefined ? `${p} <span class="lag">lag ${g.lag[p]}</span>` : p);
    return `<tr><td>${esc(m.clientId)}</td><td>${esc(m.host)}</td><td class="parts">${parts.join(', ') || '<span class="muted">none</span>'}</td></tr>`;
  }).join('');
  return `<p class="muted">group <b>${esc(g.group)}</b> · ${esc(g.state)} · ${g.members.length} member${g.members.length === 1 ? '' : 's'}`
    + (withLag ? ` · total lag <b id="total-lag">${g.totalLag}</b>` : '') + `</p>
    <table class="grid"><thead><tr><th>Member</th><th>Host</th><th>Partitions${withLag ? ' and lag' : ''}</th></tr></thead><tbody>${rows}</tbody></table>`;
}

async function fleetPage() {
  main.innerHTML = `
    <h1>Fleet and figures</h1>
    <div class="two top">
      <div><section class="card"><h2>Engines</h2><div id="engines"></div></section>
        <section class="card"><h2>Row-change capture</h2><div id="capture"></div></section></div>
      <section class="card"><h2>Dispatchers</h2><div id="dispatchers"></div></section>
    </div>
    <section class="card"><h2>Figures over the last <select id="f-minutes"><option value="15">15 min</option>
        <option value="30">30 min</option><option value="60" selected>hour</option></select>
        <span class="muted" id="figures-note"></span></h2>
      <div class="charts">
        <div id="chart-rate" class="chart"></div>
        <div id="chart-latency" class="chart"></div>
        <div id="chart-dups" class="chart"></div>
      </div>
    </section>`;
  const minutes = document.getElementById('f-minutes');
  minutes.value = hashQuery().get('minutes') || '60';
  minutes.addEventListener('change', () => { location.hash = '#/fleet?minutes=' + minutes.value; });
  every(5000, async () => {
    const f = await get('/api/fleet');
    document.getElementById('engines').innerHTML = groupTable(f.engines, true);
    document.getElementById('dispatchers').innerHTML = groupTable(f.dispatchers, false);
    const c = f.capture || {};
    const r = c.thisReplica || {};
    document.getElementById('capture').innerHTML = `<table class="grid kv"><tbody>
      <tr><th>Slot</th><td>${esc(c.slot)}</td></tr>
      <tr><th>Slot active</th><td>${c.slotActive == null ? '<span class="muted">no slot</span>' : c.slotActive ? 'yes' : '<b class="error-text">no: its WAL piles up</b>'}</td></tr>
      <tr><th>Slot lag</th><td id="slot-lag">${c.slotRetainedWalBytes == null ? '–' : (c.slotRetainedWalBytes / 1024).toFixed(1) + ' KiB retained WAL'}</td></tr>
      <tr><th>This replica</th><td>${esc(r.state || 'no capture')}${r.streaming ? ' · streaming' : ''}
        · tables: ${esc((r.tables || []).join(', ') || 'none')} · ${r.changes ?? 0} changes, ${r.events ?? 0} events published${r.problem ? ` · <span class="error-text">${esc(r.problem)}</span>` : ''}</td></tr>
    </tbody></table>`;
  });
  every(10000, async () => {
    const fig = await get('/api/figures?minutes=' + minutes.value);
    const b = fig.buckets;
    const xs = b.map(x => x.t);
    const per = v => v / fig.stepSeconds;
    lineChart(document.getElementById('chart-rate'), 'Executions finished /s', '/s', xs, [
      { label: 'succeeded', values: b.map(x => per(x.succeeded)) },
      { label: 'failed', values: b.map(x => per(x.failed)) },
      { label: 'cancelled', values: b.map(x => per(x.cancelled)), colour: '#8795a8' },
    ]);
    lineChart(document.getElementById('chart-latency'), 'Latency, published → finished', 'ms', xs, [
      { label: 'p50', values: b.map(x => x.latencyMs ? x.latencyMs.p50 : null), colour: '#3b7dd8' },
      { label: 'p95', values: b.map(x => x.latencyMs ? x.latencyMs.p95 : null), colour: '#e0a100' },
      { label: 'p99', values: b.map(x => x.latencyMs ? x.latencyMs.p99 : null), colour: '#d64545' },
    ]);
    lineChart(document.getElementById('chart-dups'), 'Duplicates absorbed /s, by layer', '/s', xs, [
      { label: 'dispatcher', values: b.map(x => x.duplicates ? per(x.duplicates.dispatcher) : null), colour: '#3b7dd8' },
      { label: 'execution_key', values: b.map(x => x.duplicates ? per(x.duplicates.execution_key) : null), colour: '#8a63d2' },
      { label: 'processed_key', values: b.map(x => x.duplicates ? per(x.duplicates.processed_key) : null), colour: '#2e9d57' },
    ]);
    const t = fig.duplicatesTotal;
    document.getElementById('figures-note').textContent = t
      ? `· duplicates absorbed in all: dispatcher ${t.dispatcher}, execution_key ${t.execution_key}, processed_key ${t.processed_key}`
        + ` (sampled since ${time(fig.duplicatesSampledSince)})`
      : '· duplicates: no sample yet';
  });
}

// ---- router -------------------------------------------------------------------------------------

const ROUTES = [
  [/^#\/executions\/([^?]+)$/, m => executionPage(decodeURIComponent(m[1])), 'executions'],
  [/^#\/executions(\?.*)?$/, () => executionsPage(), 'executions'],
  [/^#\/workflows\/([^/]+)\/(\d+)$/, m => workflowsPage(decodeURIComponent(m[1]), Number(m[2])), 'workflows'],
  [/^#\/workflows$/, () => workflowsPage(null, null), 'workflows'],
  [/^#\/dlq(\?.*)?$/, () => dlqPage(), 'dlq'],
  [/^#\/fleet(\?.*)?$/, () => fleetPage(), 'fleet'],
];

async function route() {
  stopPolling();
  flashEl.hidden = true;
  const hash = takeTokenFromFragment() || '#/executions'; // also a "#token=..." typed into the address bar later
  const found = ROUTES.map(([re, page, nav]) => [re.exec(hash), page, nav]).find(([m]) => m);
  if (!found) {
    location.hash = '#/executions';
    return;
  }
  const [m, page, nav] = found;
  document.querySelectorAll('#nav a').forEach(a => a.classList.toggle('on', a.dataset.page === nav));
  document.body.dataset.page = nav;
  if (!token()) {
    setToken(null);
    main.innerHTML = '';
    return;
  }
  try {
    await page(m);
  } catch (e) {
    showError(e);
  }
}

setToken(token());
window.addEventListener('hashchange', route);
route();
