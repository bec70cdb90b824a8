// The dashboard: hash routes (#/ fleet, #/targets/<name>?range=6h or ?from=..&to=.., #/shadows),
// pages rendered from the API, refreshed when the service announces a change (server-sent events
// on /v1/stream) and by polling while that stream is down. Plain ES modules, no build step.
import { renderActing, syncActing } from './acting.js';
import { api, ApiError, maybe, setToken, token } from './api.js';
import { drawSeries } from './chart.js';
import { ago, esc, num, pct, when } from './format.js';
import { renderShadows } from './shadows.js';

const POLL_MS = 5000;
/** While the stream is up, a slow poll still catches anything it does not announce. */
const SAFETY_POLL_MS = 60_000;
const RANGES = ['1h', '6h', '24h', '3d', '7d'];
const main = document.getElementById('main');
const banner = document.getElementById('banner');
const live = document.getElementById('live');

const STATUS_CLASS = { succeeded: 'ok', submitted: 'warn', 'pending-approval': 'warn', failed: 'bad', rejected: 'muted', superseded: 'muted', 'no-action': 'muted' };

// ---- token -----------------------------------------------------------------------------------
const tokenInput = document.getElementById('token');
tokenInput.value = token();
tokenInput.addEventListener('change', () => setToken(tokenInput.value.trim()));
document.getElementById('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  setToken(tokenInput.value.trim());
});

// ---- dialogs ---------------------------------------------------------------------------------
const whyDialog = document.getElementById('why-dialog');
/** Asks for a reason; resolves to the text, or null when cancelled. */
function askWhy(what) {
  return new Promise((resolve) => {
    const input = document.getElementById('why-input');
    document.getElementById('why-what').textContent = what;
    input.value = '';
    const done = (value) => {
      whyDialog.removeEventListener('close', onClose);
      resolve(value);
    };
    const onClose = () => done(whyDialog.returnValue === 'ok' && input.value.trim() ? input.value.trim() : null);
    whyDialog.addEventListener('close', onClose);
    document.getElementById('why-cancel').onclick = () => whyDialog.close('cancel');
    whyDialog.showModal();
    input.focus();
  });
}

const recordDialog = document.getElementById('record-dialog');
/** Opens one DecisionRecord: a short summary, then the whole record as formatted JSON. */
async function openRecord(id) {
  let d;
  try {
    d = await api('GET', `/v1/decisions/${encodeURIComponent(id)}`);
  } catch (err) {
    return showError(err);
  }
  document.getElementById('record-title').textContent = `Decision ${d.id}`;
  const rec = d.recommendation;
  document.getElementById('record-summary').innerHTML = `<dl class="kv">
    <dt>Target</dt><dd>${esc(d.target)}</dd><dt>At</dt><dd>${esc(when(d.at))}</dd>
    <dt>Status</dt><dd><span class="badge ${STATUS_CLASS[d.status] ?? ''}">${esc(d.status)}</span> ${esc(d.reason)}</dd>
    <dt>Message</dt><dd>${esc(d.message)}</dd>
    <dt>Inputs</dt><dd>demand ${num(d.inputs.demand)} (${esc(d.inputs.signal)}), ${d.inputs.windows}/${d.inputs.minWindows} windows, ${d.inputs.ready} ready + ${d.inputs.booting} booting</dd>
    <dt>Forecast</dt><dd>${d.forecast ? `${esc(d.forecast.model)}, ${d.forecast.mean.length} steps` : 'none (data too thin or no forecast)'}</dd>
    <dt>Scores</dt><dd>${d.scores ? `anomaly ${num(d.scores.anomaly, 2)} (${esc(d.scores.anomalyKind)})${d.scores.anomalyReady ? '' : ', detector warming up'}` : '–'}</dd>
    <dt>Recommendation</dt><dd>${rec ? `${rec.currentUnits} → ${rec.desiredUnits} units, ${esc(rec.mode)}, ${esc(rec.reason)}` : '–'}</dd>
    <dt>Steps</dt><dd>${d.steps.length ? d.steps.map((s) => `${esc(s.step)} ${s.from}→${s.to}${s.note ? ` (${esc(s.note)})` : ''}`).join('<br>') : '–'}</dd>
    <dt>Outcome</dt><dd>${d.outcome ? `${esc(d.outcome.state)}: ${esc(d.outcome.reason)}` : '–'}</dd>
    ${d.review ? `<dt>Review</dt><dd>${esc(d.review.verdict)} by ${esc(d.review.actor)}: ${esc(d.review.why)}</dd>` : ''}
  </dl>`;
  document.getElementById('record-json').textContent = JSON.stringify(d, null, 2);
  recordDialog.showModal();
  document.getElementById('record-close').focus();
}

// ---- errors and live status -------------------------------------------------------------------
function showError(err) {
  banner.hidden = false;
  banner.textContent = err instanceof ApiError && err.status === 0
    ? `The service cannot be reached at ${location.origin}. Retrying every ${POLL_MS / 1000} s.`
    : `Error: ${err.message}`;
}
function clearError() {
  banner.hidden = true;
  banner.textContent = '';
}

/** Runs a change: asks why, sends it, reports the outcome in `msg` and refreshes the page. */
async function change(what, send, msg) {
  const why = await askWhy(what);
  if (why === null) return;
  try {
    await send(why);
    await refresh();
    if (msg) {
      msg.textContent = `Done: ${what}.`;
      msg.className = 'msg ok';
    }
  } catch (err) {
    const text = err.status === 401 ? 'the service needs the API token (top right)' : err.message;
    if (msg) {
      msg.textContent = `Failed: ${text}`;
      msg.className = 'msg bad';
    } else showError(err);
  }
}

// ---- routing ---------------------------------------------------------------------------------
/** A time parameter of the URL as ms: ms since the epoch or an ISO-8601 date-time; NaN otherwise. */
const timeOf = (text) => (/^[0-9]+$/.test(text ?? '') ? Number(text) : Date.parse(text ?? ''));

function route() {
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query);
  if (path === '/shadows') return { page: 'shadows' };
  const m = /^\/targets\/([^/]+)$/.exec(path);
  if (!m) return { page: 'fleet' };
  const r = { page: 'target', name: decodeURIComponent(m[1]), range: RANGES.includes(params.get('range')) ? params.get('range') : '6h' };
  const from = timeOf(params.get('from'));
  const to = params.get('to') ? timeOf(params.get('to')) : NaN;
  // A custom range: from (and optionally to) in the URL, so it can be shared; to defaults to now.
  if (Number.isFinite(from) && (!params.get('to') || (Number.isFinite(to) && to > from))) Object.assign(r, { range: 'custom', from, to: Number.isFinite(to) ? to : null });
  return r;
}

let current = null;
let timer = null;
async function refresh() {
  if (whyDialog.open || recordDialog.open) return;
  const r = current;
  try {
    if (r.page === 'fleet') await renderFleet();
    else if (r.page === 'shadows') await renderShadows(main, { change, isCurrent: () => current.page === 'shadows' });
    else await renderTarget(r);
    clearError();
    showLive(`Updated ${new Date().toLocaleTimeString()}`);
  } catch (err) {
    showError(err);
    showLive('Not updated');
    // A page that never rendered says why in place of "Loading…" (a target that does not exist).
    if (!main.dataset.ready && current === r) {
      main.innerHTML = err instanceof ApiError && err.status === 404 && r.page === 'target'
        ? `<h1>${esc(r.name)}</h1><p class="empty" id="page-error">No target is called “${esc(r.name)}”. <a href="#/">Back to the fleet</a></p>`
        : `<p class="empty" id="page-error">This page cannot be shown: ${esc(err.message)}</p>`;
    }
  }
}

async function navigate() {
  const r = route();
  const samePage = current && current.page === r.page && current.name === r.name;
  current = r;
  if (!samePage) {
    main.innerHTML = '<p class="empty">Loading…</p>';
    main.dataset.page = r.page;
    delete main.dataset.ready;
    delete main.dataset.target;
  }
  document.querySelectorAll('nav a').forEach((a) => (a.getAttribute('href') === (r.page === 'shadows' ? '#/shadows' : '#/') ? a.setAttribute('aria-current', 'page') : a.removeAttribute('aria-current')));
  await refresh();
  poll();
}
window.addEventListener('hashchange', navigate);

// ---- live updates ------------------------------------------------------------------------------
let stream = null;
let streaming = false;
let lastUpdate = '';

/** The header's live line: how the page is kept fresh, and when it was last updated. */
function showLive(text = lastUpdate) {
  lastUpdate = text;
  live.dataset.mode = streaming ? 'stream' : 'polling';
  live.textContent = `${streaming ? 'Live' : `Polling every ${POLL_MS / 1000} s`} · ${text}`;
}

/** (Re)starts polling at the pace the stream's state calls for. */
function poll() {
  clearInterval(timer);
  timer = setInterval(refresh, streaming ? SAFETY_POLL_MS : POLL_MS);
}

/** Whether a notification concerns the page on screen. */
function concerns(type, e) {
  if (current.page === 'shadows') return type === 'shadow' || e.shadow !== undefined;
  if (current.page === 'target') return e.target === current.name;
  return type !== 'shadow' && e.shadow === undefined;
}

let soon = null;
/** Opens the stream; EventSource reconnects by itself, and polling covers the gaps. */
function connect() {
  if (!('EventSource' in window)) return;
  stream = new EventSource('/v1/stream');
  stream.addEventListener('open', () => {
    streaming = true;
    poll();
    showLive();
    refresh();
  });
  stream.addEventListener('error', () => {
    if (!streaming) return;
    streaming = false;
    poll();
    showLive();
  });
  for (const type of ['decision', 'audit', 'anomaly', 'target', 'shadow']) {
    stream.addEventListener(type, (msg) => {
      if (!current || !concerns(type, JSON.parse(msg.data))) return;
      clearTimeout(soon);
      soon = setTimeout(refresh, 150);
    });
  }
}

// ---- fleet -----------------------------------------------------------------------------------
/** What the fleet page shows of one target; `problem` ranks problems first. */
async function targetSummary(t, controlled) {
  if (!controlled.has(t.name)) return { t, controlled: false, problem: 0 };
  const [conditions, view, decisions] = await Promise.all([
    maybe(`/v1/targets/${encodeURIComponent(t.name)}/conditions`),
    maybe(`/v1/targets/${encodeURIComponent(t.name)}/control`),
    maybe(`/v1/targets/${encodeURIComponent(t.name)}/decisions?limit=1`),
  ]);
  const conds = conditions?.conditions ?? [];
  const last = decisions?.decisions?.[0] ?? null;
  const bad = (type, status) => conds.some((c) => c.type === type && c.status === status);
  let problem = 0;
  if (bad('Ready', 'False')) problem += 8;
  if (last?.status === 'failed') problem += 6;
  if (last?.status === 'pending-approval') problem += 4;
  if (bad('DataComplete', 'False')) problem += 3;
  if (bad('Paused', 'True')) problem += 2;
  if ((last?.scores?.anomaly ?? 0) >= 0.5) problem += 2;
  return { t, controlled: true, conds, view, last, problem, ...utilisation(last, view) };
}

/** Current use (the policy's) and the use the forecast peak would need of the units there will be. */
function utilisation(last, view) {
  if (!last) return { use: null, forecastUse: null };
  const units = (view?.capacity?.ready ?? last.inputs.ready) + (view?.capacity?.booting ?? last.inputs.booting);
  const cap = units * last.inputs.capacityPerUnit;
  const peak = last.forecast ? Math.max(...last.forecast.mean) : null;
  return { use: last.recommendation?.currentUse ?? (last.inputs.ready > 0 ? last.inputs.demand / (last.inputs.ready * last.inputs.capacityPerUnit) : null), forecastUse: peak !== null && cap > 0 ? peak / cap : null };
}

function conditionBadges(conds) {
  if (!conds?.length) return '<span class="muted">no conditions yet</span>';
  // A condition is a problem when its status is the unhealthy one for its type.
  const unhealthy = { Ready: 'False', DataComplete: 'False', ScalingActive: 'False', ScalingLimited: 'True', Paused: 'True', DryRun: 'True' };
  return conds.map((c) => {
    const cls = c.status === unhealthy[c.type] ? (c.type === 'Ready' ? 'bad' : 'warn') : 'ok';
    return `<span class="badge ${cls}" title="${esc(c.message)}">${esc(c.type)}=${esc(c.status)} · ${esc(c.reason)}</span>`;
  }).join('');
}

async function renderFleet() {
  const [{ targets }, { targets: controlledNames }] = await Promise.all([api('GET', '/v1/targets'), api('GET', '/v1/control')]);
  const controlled = new Set(controlledNames);
  const rows = (await Promise.all(targets.map((t) => targetSummary(t, controlled)))).sort((a, b) => b.problem - a.problem || a.t.name.localeCompare(b.t.name));
  if (current.page !== 'fleet') return;
  main.innerHTML = `<h1>Fleet</h1>
  <section class="card" aria-labelledby="fleet-h">
    <h2 id="fleet-h">Targets <span class="muted">(problems first)</span></h2>
    ${rows.length === 0 ? '<p class="empty">No targets yet. Declare them in the config file or POST /v1/targets.</p>' : `
    <table id="fleet-table">
      <thead><tr><th scope="col">Target</th><th scope="col">Conditions</th><th scope="col" class="num">Use now</th><th scope="col" class="num">Forecast peak use</th><th scope="col" class="num">Anomaly risk</th><th scope="col">Units</th><th scope="col">Last decision</th></tr></thead>
      <tbody>${rows.map(fleetRow).join('')}</tbody>
    </table>`}
  </section>`;
  main.dataset.ready = 'fleet';
}

/** Units asked for and not ready yet. */
const booting = (r) => r.view?.capacity?.booting ?? r.last?.inputs.booting ?? 0;

/**
 * Use above 100 % while units boot is the expected wait for capacity already asked for, not a
 * failure: a warning then, and red only when nothing is on its way.
 */
function useClass(r, cls) {
  const c = cls(r.use);
  return c === 'bad' && booting(r) > 0 ? 'warn' : c;
}

function fleetRow(r) {
  const link = `<a href="#/targets/${encodeURIComponent(r.t.name)}">${esc(r.t.name)}</a> <span class="muted">${esc(r.t.kind)}</span>`;
  if (!r.controlled) return `<tr data-target="${esc(r.t.name)}"><th scope="row">${link}</th><td colspan="6" class="muted">observed only (no actuator: forecast, anomalies and risk, no action) · sampling ${pct(r.t.sampling.rate)}</td></tr>`;
  const d = r.last;
  const cls = (v) => (v === null ? '' : v > 1 ? 'bad' : v > 0.85 ? 'warn' : '');
  const anomaly = d?.scores ? (d.scores.anomalyReady ? num(d.scores.anomaly, 2) : 'warming up') : '–';
  return `<tr data-target="${esc(r.t.name)}">
    <th scope="row">${link}</th>
    <td>${conditionBadges(r.conds)}</td>
    <td class="num ${useClass(r, cls)}" title="Demand of the last step over the capacity of the ready units">${pct(r.use)}${booting(r) && r.use > 1 ? `<br><span class="muted use-note">over the ready units; ${booting(r)} more booting</span>` : ''}</td>
    <td class="num ${cls(r.forecastUse)}">${d && !d.forecast ? '<span class="muted">no forecast</span>' : pct(r.forecastUse)}</td>
    <td class="num">${anomaly}</td>
    <td>${r.view ? `${r.view.capacity.ready} ready${r.view.capacity.booting ? ` + ${r.view.capacity.booting} booting` : ''}` : '–'}</td>
    <td>${d ? `<span class="badge ${STATUS_CLASS[d.status] ?? ''}">${esc(d.status)}</span> ${esc(d.reason)}${d.action ? ` ${d.action.from}→${d.action.to}` : ''} <span class="muted">${ago(d.at)}</span>` : '<span class="muted">no decision yet</span>'}</td>
  </tr>`;
}

// ---- target ----------------------------------------------------------------------------------
const SHOWN_DIMS = [['table', 'Tables'], ['column', 'Columns'], ['user', 'Users'], ['route', 'Routes']];

/** The range of a target page as the API's from/to parameters. */
function rangeParams(r) {
  return r.range === 'custom' ? { from: String(r.from), to: r.to === null ? 'now' : String(r.to) } : { from: `now-${r.range}`, to: 'now' };
}

/** A time as a datetime-local input value (local time, minutes). */
const localInput = (ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);

async function renderTarget(r) {
  const base = `/v1/targets/${encodeURIComponent(r.name)}`;
  const { from, to } = rangeParams(r);
  const span = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
  const target = await api('GET', base);
  const [controlledList, ...tops] = await Promise.all([api('GET', '/v1/control'), ...SHOWN_DIMS.map(([dim]) => api('GET', `${base}/top?dim=${dim}&${span}&limit=10`))]);
  const controlled = controlledList.targets.includes(r.name);
  // Every target has a loop (forecast, anomalies, risk); only a controlled one has controls.
  const [conditions, view, decisions, capacity, learned] = await Promise.all([
    api('GET', `${base}/conditions`),
    controlled ? api('GET', `${base}/control`) : null,
    api('GET', `${base}/decisions?limit=300${r.range === 'custom' && r.to !== null ? `&before=${r.to}` : ''}`),
    api('GET', `${base}/capacity-runs?limit=10`),
    api('GET', `${base}/learned`),
  ]);
  const list = decisions.decisions;
  // The loop's own latest record (a component's report carries no demand or forecast).
  const last = list.find((d) => !d.component) ?? null;
  const signal = last?.inputs.signal ?? 'requests';
  const step = stepFor(r);
  const seriesUrl = signal === 'requests'
    ? `${base}/series?dim=total&metric=estimatedCount&${span}&step=${step}`
    : `${base}/series?dim=metric&key=${encodeURIComponent(signal)}&metric=mean&${span}&step=${step}`;
  const series = await api('GET', seriesUrl);
  if (current.page !== 'target' || current.name !== r.name) return;

  // The controls keep their inputs across refreshes: only the data sections are redrawn.
  if (main.dataset.target !== r.name || !document.getElementById('controls')) {
    main.dataset.target = r.name;
    main.innerHTML = `<p><a href="#/">← Fleet</a></p><h1 id="target-h">${esc(r.name)}</h1>
      <div id="t-head"></div>
      <div class="grid"><div>
        <section class="card" aria-labelledby="chart-h"><div class="toolbar"><h2 id="chart-h">Demand</h2>
          <label for="range">Range</label><select id="range">${RANGES.map((x) => `<option>${x}</option>`).join('')}<option value="custom">custom…</option></select>
          <span id="custom-range" class="row" hidden><label for="from">From</label><input id="from" type="datetime-local">
            <label for="to">To</label><input id="to" type="datetime-local"><button id="range-apply">Show</button></span></div>
          <div id="chart" class="chart-wrap"></div><p id="chart-note" class="legend-note"></p></section>
        <section class="card" aria-labelledby="tl-h"><h2 id="tl-h">Decisions</h2><div id="timeline" class="timeline"></div></section>
        <section class="card" aria-labelledby="top-h"><h2 id="top-h">Top of the Shadow Store</h2><div id="tops" class="tops"></div></section>
      </div><div>
        <section class="card controls" id="controls" aria-labelledby="ctl-h"><h2 id="ctl-h">Controls</h2></section>
        <section class="card" aria-labelledby="ov-h"><h2 id="ov-h">Overrides and settings</h2><div id="overrides"></div></section>
        <section class="card" aria-labelledby="cap-h"><div class="toolbar"><h2 id="cap-h">Capacity runs</h2><button id="cap-run">Run capacity measurement</button></div>
          <p id="cap-msg" class="msg" role="status"></p><div id="capacity"></div></section>
        <section class="card" aria-labelledby="learn-h"><h2 id="learn-h">Learned</h2><div id="learned"></div></section>
        <section class="card controls" id="acting" aria-labelledby="act-h"><h2 id="act-h">Actuator and response rules</h2></section>
      </div></div>`;
    const page = `#/targets/${encodeURIComponent(r.name)}`;
    document.getElementById('range').addEventListener('change', (e) => {
      if (e.target.value !== 'custom') location.hash = `${page}?range=${e.target.value}`;
      else document.getElementById('custom-range').hidden = false;
    });
    document.getElementById('range-apply').addEventListener('click', () => {
      const f = Date.parse(document.getElementById('from').value);
      const t = Date.parse(document.getElementById('to').value);
      if (Number.isFinite(f)) location.hash = `${page}?from=${new Date(f).toISOString()}${Number.isFinite(t) ? `&to=${new Date(t).toISOString()}` : ''}`;
    });
    renderControls(r.name, target, view);
    document.getElementById('cap-run').addEventListener('click', () => change('run a capacity measurement on the shadow', (why) => api('POST', `${base}/capacity-runs`, { why }), document.getElementById('cap-msg')));
    await renderActing(document.getElementById('acting'), r.name, view, change);
  } else await syncActing(r.name, view);
  document.getElementById('range').value = r.range;
  document.getElementById('custom-range').hidden = r.range !== 'custom' && document.getElementById('range').value !== 'custom';
  if (document.activeElement?.id !== 'from' && document.activeElement?.id !== 'to') {
    document.getElementById('from').value = localInput(series.from);
    document.getElementById('to').value = localInput(series.to);
  }
  document.getElementById('t-head').innerHTML = `<p>${esc(target.kind)} · sampling rate <strong id="sampling-now">${target.sampling.rate}</strong>
    ${view ? ` · ${view.capacity.ready} ready${view.capacity.booting ? ` + ${view.capacity.booting} booting` : ''} units · actuator ${esc(view.actuator)}` : ' · observed only (no actuator: forecast, anomalies and risk, no action)'}</p>
    <div id="conditions">${conditionBadges(conditions.conditions)}</div>${thinNote(last)}`;
  renderChart(series, list, signal, r);
  renderTimeline(list);
  renderTops(tops);
  renderOverrides(view);
  renderCapacity(capacity);
  renderLearned(learned);
  syncControls(view, target);
  main.dataset.ready = 'target';
}

/** What the loop has learned (GET /v1/targets/{t}/learned): each value, its source, its recent history. */
function renderLearned(l) {
  const lead = l.leadTime;
  const levels = Object.entries(l.alarm.levels);
  const rows = l.history.slice(0, 10).map((c) => `<li>${esc(new Date(c.at).toISOString().slice(0, 16).replace('T', ' '))} <strong>${esc(c.key)}</strong> ${c.from === null ? '–' : esc(String(round(c.from)))} → ${c.to === null ? '–' : esc(String(round(c.to)))}: ${esc(c.why)}${c.actor ? ` (${esc(c.actor)})` : ''}</li>`);
  document.getElementById('learned').innerHTML = `<dl>
    <dt>Headroom</dt><dd id="learned-headroom">${l.headroom.value === null ? 'not yet' : pct(l.headroom.value)} (max ${pct(l.headroom.max)})</dd>
    <dt>Lead time</dt><dd id="learned-lead">${lead.steps} steps (${lead.seconds} s), ${lead.source === 'learned' ? `measured: p90 of ${lead.measuredScaleUpsMs.length} scale-ups` : `configured ${esc(lead.configured)}; ${lead.measuredScaleUpsMs.length} of ${lead.needed} scale-ups measured`}</dd>
    <dt>Alarm levels</dt><dd id="learned-alarm">${levels.length === 0 ? `threshold ${l.alarm.threshold} for every driver` : levels.map(([k, v]) => `${esc(k)} ${round(v)}`).join(', ')}</dd></dl>
    ${rows.length ? `<ul class="history">${rows.join('')}</ul>` : '<p class="empty">Nothing learned yet.</p>'}`;
}

function round(x) {
  return Math.round(x * 1000) / 1000;
}

/**
 * The fixed ranges are read at 1-minute steps (7 days = 10 080 points, within the API's 20 000 and
 * easy for uPlot): coarser granularities exist only after compaction has rolled them up, so reading
 * them early would show an empty chart over data that is there. A longer custom range takes whole
 * minutes per point, at most about 10 000 points.
 */
function stepFor(r) {
  if (r.range !== 'custom') return '1m';
  const minutes = ((r.to ?? Date.now()) - r.from) / 60_000;
  return `${Math.max(1, Math.ceil(minutes / 10_000))}m`;
}

function thinNote(last) {
  if (!last) return '';
  if (last.inputs.windows < last.inputs.minWindows) return `<p class="warn" id="thin">Data too thin to forecast: ${last.inputs.windows} of ${last.inputs.minWindows} windows; the loop decides on observed demand only.</p>`;
  return '';
}

function renderChart(series, decisions, signal, r) {
  const el = document.getElementById('chart');
  const note = document.getElementById('chart-note');
  const stepS = series.step / 1000;
  // Estimated counts per step become requests per second; a metric is shown as it is.
  const scale = signal === 'requests' ? 1 / stepS : 1;
  const pts = series.points.filter((p) => p.v !== null);
  const latest = decisions.find((d) => d.forecast);
  if (pts.length === 0 && !latest) {
    el.innerHTML = '<p class="empty">No data in this range yet.</p>';
    note.textContent = '';
    return;
  }
  const anomalies = decisions.filter((d) => d.scores?.anomalyReady && d.scores.anomaly >= 0.5);
  const forecast = latest ? forecastPoints(latest) : null;
  const observed = pts.map((p) => [p.t / 1000, p.v * scale]);
  // Decisions that did something (units, a rule, a component's own action), marked on the demand
  // at their time; provisioned capacity (ready units x capacity per unit) as a step line.
  const acted = decisions.filter((d) => d.action || d.response || d.component);
  const marks = acted.map((d) => [d.at / 1000, valueAt(observed, d.at / 1000)]);
  const capacity = decisions.filter((d) => !d.component && d.inputs.ready > 0 && d.inputs.capacityPerUnit > 0).map((d) => [d.at / 1000, d.inputs.ready * d.inputs.capacityPerUnit]).reverse();
  drawSeries(el, {
    points: observed,
    forecast,
    marks,
    capacity,
    // The axis spans the page's range (and the forecast past its end), whatever the points.
    range: [series.from / 1000, Math.max(series.to / 1000, forecast?.at(-1)?.[0] ?? 0)],
    // Requests, and a metric never seen below zero, are not forecast below zero either.
    nonNegative: signal === 'requests' || pts.every((p) => p.v >= 0),
    anomalies: anomalies.map((d) => [(d.at - d.inputs.stepSeconds * 1000) / 1000, d.inputs.demand]),
    label: signal === 'requests' ? 'estimated requests/s' : signal,
    // Dragging across the chart shows that stretch as a custom range (a link that can be shared).
    onZoom: (fromS, toS) => (location.hash = `#/targets/${encodeURIComponent(r.name)}?from=${new Date(fromS * 1000).toISOString()}&to=${new Date(toS * 1000).toISOString()}`),
  });
  note.textContent = `${r.range === 'custom' ? `${when(series.from)} to ${when(series.to)}. ` : ''}${signal === 'requests' ? 'Estimated request rate (requests/s)' : `Metric ${signal} (mean per step)`}, step ${stepS}s.`
    + (latest ? ` Forecast of the decision at ${when(latest.at)} (${latest.forecast.model}): mean${latest.forecast.intervals.length ? ` and its ${latest.forecast.intervals.at(-1).level} % interval as a band` : ''}.` : ' No forecast yet.')
    + ` ${anomalies.length} anomal${anomalies.length === 1 ? 'y' : 'ies'} marked (score ≥ 0.5), ${acted.length} decision${acted.length === 1 ? '' : 's'} that acted`
    + `${capacity.length ? '; the step line is the provisioned capacity (ready units × capacity per unit)' : ''}.`;
}

/** The observed value at or just before time `t` (s), else the first one; 0 without points. */
function valueAt(points, t) {
  let v = points[0]?.[1] ?? 0;
  for (const [x, y] of points) {
    if (x > t) break;
    v = y;
  }
  return v;
}

/** The forecast of a decision on the chart's time axis: step h starts (h-1) steps after the tick. */
function forecastPoints(d) {
  const stepS = d.inputs.stepSeconds;
  const band = d.forecast.intervals.at(-1);
  return d.forecast.mean.map((m, i) => [d.at / 1000 + i * stepS, m, band ? band.lo[i] : null, band ? band.hi[i] : null]);
}

/** What a decision did, in a few words: units, a response rule's action, a component's own action. */
function actionText(d) {
  if (d.action) return `${d.action.from} → ${d.action.to} (${esc(d.action.mode)})`;
  if (d.response) return `rule ${esc(d.response.rule)}${d.response.phase === 'undo' ? ' (undo)' : ''}: ${esc(Object.keys(d.response.action)[0] ?? '')}`;
  if (d.component) return `${esc(d.component.name)}: ${esc(d.component.action)}`;
  return '–';
}

function renderTimeline(list) {
  const el = document.getElementById('timeline');
  if (list.length === 0) return void (el.innerHTML = '<p class="empty">No decisions yet: the loop decides once per interval (1 min by default).</p>');
  el.innerHTML = `<table id="decisions"><thead><tr><th scope="col">When</th><th scope="col">Status</th><th scope="col">Reason</th><th scope="col">Action</th><th scope="col" class="num">Anomaly</th><th scope="col">Review</th></tr></thead><tbody>
    ${list.slice(0, 100).map((d) => `<tr data-id="${esc(d.id)}" data-status="${esc(d.status)}">
      <td><button class="link open-record" data-id="${esc(d.id)}" aria-label="Open decision of ${esc(when(d.at))}">${esc(when(d.at))}</button></td>
      <td><span class="badge ${STATUS_CLASS[d.status] ?? ''}">${esc(d.status)}</span></td>
      <td>${esc(d.reason)}</td>
      <td title="${esc(d.message)}">${actionText(d)}</td>
      <td class="num">${d.scores?.anomalyReady ? num(d.scores.anomaly, 2) : '–'}</td>
      <td>${d.status === 'pending-approval' ? `<button class="primary approve" data-id="${esc(d.id)}">Approve</button> <button class="danger reject" data-id="${esc(d.id)}">Reject</button>` : d.review ? `${esc(d.review.verdict)} by ${esc(d.review.actor)}` : ''}</td>
    </tr>`).join('')}</tbody></table><p id="verdict-msg" class="msg" role="status"></p>`;
  el.querySelectorAll('.open-record').forEach((b) => b.addEventListener('click', () => openRecord(b.dataset.id)));
  const msg = () => document.getElementById('verdict-msg');
  el.querySelectorAll('.approve').forEach((b) => b.addEventListener('click', () => change('approve this decision', (why) => api('POST', `/v1/decisions/${b.dataset.id}/approve`, { why }), msg())));
  el.querySelectorAll('.reject').forEach((b) => b.addEventListener('click', () => change('reject this decision', (why) => api('POST', `/v1/decisions/${b.dataset.id}/reject`, { why }), msg())));
}

function renderTops(tops) {
  document.getElementById('tops').innerHTML = SHOWN_DIMS.map(([dim, title], i) => {
    const keys = tops[i].keys;
    return `<div><h3>${title}</h3>${keys.length === 0 ? '<p class="empty">None in this range.</p>' : `<table data-dim="${dim}"><thead><tr><th scope="col">${title.slice(0, -1)}</th><th scope="col" class="num">Est. requests</th><th scope="col" class="num">Errors</th></tr></thead><tbody>
      ${keys.map((k) => `<tr><td>${esc(k.key)}</td><td class="num">${Math.round(k.estimatedCount)}</td><td class="num">${k.errors}</td></tr>`).join('')}</tbody></table>`}</div>`;
  }).join('');
}

function renderOverrides(view) {
  const el = document.getElementById('overrides');
  if (!view) return void (el.innerHTML = '<p class="empty">No control loop.</p>');
  const o = view.overrides;
  const line = (name, v, extra = '') => `<li><strong>${name}</strong>${extra} by ${esc(v.actor)} ${ago(v.at)}: “${esc(v.why)}”${v.until ? ` until ${esc(when(v.until))}` : ''}</li>`;
  const items = [o.pause && line('paused', o.pause), o.dryRun && line('dry-run', o.dryRun), o.review && line('review', o.review),
    o.pin && line('pinned', o.pin, ` ${['min', 'max', 'exact'].filter((k) => o.pin[k] !== undefined).map((k) => `${k} ${o.pin[k]}`).join(', ')}`)].filter(Boolean);
  const s = view.settings;
  el.innerHTML = `${items.length ? `<ul id="override-list">${items.join('')}</ul>` : '<p class="muted" id="override-list">No overrides: the loop acts on its own.</p>'}
    <dl class="kv"><dt>Settings from</dt><dd>${esc(view.settingsSource)}</dd><dt>Interval</dt><dd>${esc(s.interval)}</dd><dt>Target utilisation</dt><dd>${pct(s.targetUtilisation)}</dd>
    <dt>Reactive above</dt><dd>${pct(s.reactiveAboveUse)}</dd><dt>Units</dt><dd>${s.minUnits} – ${s.maxUnits}</dd><dt>Quantile</dt><dd>${s.quantile}</dd><dt>Capacity per unit</dt><dd>${s.capacityPerUnit}</dd></dl>`;
}

const RUN_CLASS = { succeeded: 'ok', running: 'warn', failed: 'bad' };

/** The capacity in force and the target's capacity runs with their figures, newest first. */
function renderCapacity(c) {
  const button = document.getElementById('cap-run');
  button.disabled = !c.configured || c.runs.some((x) => x.status === 'running');
  button.title = c.configured ? '' : 'the target has no capacity settings (targets[].capacity in the config)';
  const f = c.inForce;
  const tuned = f.tuned ? ` · reactive above ${pct(f.tuned.reactiveAboveUse)}, proactive below ${pct(f.tuned.proactiveBelowUse)}, target utilisation ${pct(f.tuned.targetUtilisation)}` : '';
  const head = `<p id="cap-in-force">Capacity per unit in force: <strong>${num(f.capacityPerUnit)}</strong> from <code>${esc(f.source)}</code>${tuned}</p>`;
  if (c.runs.length === 0) return void (document.getElementById('capacity').innerHTML = `${head}<p class="empty">${c.configured ? 'No run yet.' : 'Not configured: set targets[].capacity (source and shadow) in the config.'}</p>`);
  const row = (x) => {
    const g = x.figures;
    const cpu = g?.atKnee?.cpuCores;
    return `<tr data-run="${esc(x.id)}"><td>${esc(when(x.at))}</td><td>${esc(x.trigger)}</td><td><span class="badge ${RUN_CLASS[x.status] ?? ''}">${esc(x.status)}</span></td>
      <td class="num">${g ? num(g.kneeRate, 0) : '–'}</td><td class="num">${g ? num(g.capacityPerUnit) : '–'}</td><td class="num">${g ? pct(g.sloUtilisation) : '–'}</td>
      <td class="num">${cpu === null || cpu === undefined ? '–' : num(cpu, 2)}</td><td>${g ? esc(g.confidence.level) : '–'}</td><td>${esc(x.status === 'succeeded' ? (g.confidence.reasons.join('; ') || '') : x.phase)}</td></tr>`;
  };
  document.getElementById('capacity').innerHTML = `${head}<table id="cap-runs"><thead><tr><th scope="col">Started</th><th scope="col">Trigger</th><th scope="col">Status</th>
    <th scope="col" class="num">Knee (stmt/s)</th><th scope="col" class="num">Capacity / unit</th><th scope="col" class="num">SLO broke at</th><th scope="col" class="num">CPU at knee</th><th scope="col">Confidence</th><th scope="col">Notes</th></tr></thead>
    <tbody>${c.runs.map(row).join('')}</tbody></table>`;
}

/** The controls form: built once per target page, kept in sync with the overrides on refresh. */
function renderControls(name, target, view) {
  const el = document.getElementById('controls');
  const base = `/v1/targets/${encodeURIComponent(name)}`;
  el.innerHTML = `<h2 id="ctl-h">Controls</h2>
    <fieldset><legend>Sampling</legend><div class="row">
      <label for="rate">Sampling rate (0–1)</label><input id="rate" type="number" min="0" max="1" step="0.01" value="${target.sampling.rate}">
      <button id="rate-apply">Apply</button></div><p id="rate-msg" class="msg" role="status"></p></fieldset>
    ${view ? `
    <fieldset><legend>Loop</legend>
      <div class="row"><button id="pause-toggle"></button><button id="dryrun-toggle"></button><button id="review-toggle"></button></div>
      <div class="row"><label for="for">For (optional)</label><input id="for" placeholder="e.g. 2h" size="6" pattern="[0-9]+(ms|s|m|h|d)"></div>
      <p id="loop-msg" class="msg" role="status"></p></fieldset>
    <fieldset><legend>Pin units</legend><div class="row">
      <label for="pin-min">min</label><input id="pin-min" type="number" min="0">
      <label for="pin-max">max</label><input id="pin-max" type="number" min="0">
      <label for="pin-exact">exact</label><input id="pin-exact" type="number" min="0"></div>
      <div class="row"><button id="pin-apply">Pin</button><button id="pin-clear">Unpin</button></div><p id="pin-msg" class="msg" role="status"></p></fieldset>
    <fieldset><legend>Thresholds</legend><div class="row">
      <label for="tu">Target utilisation</label><input id="tu" type="number" min="0.01" max="1" step="0.01" value="${view.settings.targetUtilisation}">
      <label for="ra">Reactive above</label><input id="ra" type="number" min="0.01" max="2" step="0.01" value="${view.settings.reactiveAboveUse}">
      <button id="thr-apply">Apply</button></div><p id="thr-msg" class="msg" role="status"></p></fieldset>` : ''}`;
  const msg = (id) => document.getElementById(id);
  msg('rate-apply').addEventListener('click', () => {
    const rate = Number(msg('rate').value);
    change(`set the sampling rate to ${rate}`, (why) => api('PUT', `${base}/sampling`, { rate, why }), msg('rate-msg'));
  });
  if (!view) return;
  const forBody = () => (msg('for').value.trim() ? { for: msg('for').value.trim() } : {});
  const toggle = (id, kind, key, onWords, offWords) => msg(id).addEventListener('click', () => {
    const on = msg(id).getAttribute('aria-pressed') === 'true';
    change(on ? offWords : onWords, (why) => api(on ? 'DELETE' : 'PUT', `${base}/overrides/${kind}`, on ? { why } : { why, ...forBody() }), msg('loop-msg'));
  });
  toggle('pause-toggle', 'pause', 'pause', 'pause the loop', 'resume the loop');
  toggle('dryrun-toggle', 'dry-run', 'dryRun', 'switch to dry-run (forecast only)', 'leave dry-run');
  toggle('review-toggle', 'review', 'review', 'require approval of each action (review)', 'leave review mode');
  msg('pin-apply').addEventListener('click', () => {
    const pin = {};
    for (const k of ['min', 'max', 'exact']) if (msg(`pin-${k}`).value !== '') pin[k] = Number(msg(`pin-${k}`).value);
    change(`pin the units (${JSON.stringify(pin)})`, (why) => api('PUT', `${base}/overrides/pin`, { why, ...pin, ...forBody() }), msg('pin-msg'));
  });
  msg('pin-clear').addEventListener('click', () => change('unpin', (why) => api('DELETE', `${base}/overrides/pin`, { why }), msg('pin-msg')));
  msg('thr-apply').addEventListener('click', () => {
    const settings = { targetUtilisation: Number(msg('tu').value), reactiveAboveUse: Number(msg('ra').value) };
    change('change the thresholds', (why) => api('PUT', `${base}/control`, { settings, why }), msg('thr-msg'));
  });
}

function syncControls(view, target) {
  const now = document.getElementById('sampling-now');
  if (now) now.textContent = target.sampling.rate;
  if (!view) return;
  const set = (id, on, onText, offText) => {
    const b = document.getElementById(id);
    b.setAttribute('aria-pressed', String(on));
    b.textContent = on ? onText : offText;
  };
  set('pause-toggle', Boolean(view.overrides.pause), 'Resume', 'Pause');
  set('dryrun-toggle', Boolean(view.overrides.dryRun), 'Leave dry-run', 'Dry-run');
  set('review-toggle', Boolean(view.overrides.review), 'Leave review', 'Review mode');
}

navigate();
connect();
