// The Shadows page (#/shadows): every shadow component the service knows, with the status it last
// read from the component's admin API, and the operator actions relayed through the service.
import { api } from './api.js';
import { ago, esc, num, pct, when } from './format.js';

const seg = encodeURIComponent;
const MIRROR_ERRORS = ['shadow_5xx', 'timeout', 'refused', 'reset', 'error'];
const MIRROR_DROPS = ['dropped_inflight', 'dropped_rate', 'oversized', 'breaker_open', 'unhealthy', 'aborted'];
const sum = (o, keys) => keys.reduce((a, k) => a + (o?.[k] ?? 0), 0);

/**
 * Renders the page into `main`. `change(what, send, msg)` asks why and sends a change (app.js).
 * The data list is redrawn on every refresh; the page keeps its status line, the values of its
 * selects, what was typed into its inputs and not yet sent, and the focus across redraws.
 */
export async function renderShadows(main, { change, isCurrent }) {
  const { shadows } = await api('GET', '/v1/shadows');
  if (!isCurrent()) return;
  if (!document.getElementById('shadow-list')) {
    main.innerHTML = `<h1>Shadows</h1>
      <p class="legend-note">Each component runs as its own process; the service reads its admin API on an interval and relays the actions below to it, recording who asked and why.</p>
      <p id="shadow-msg" class="msg" role="status"></p><div id="shadow-list"></div>`;
  }
  const list = document.getElementById('shadow-list');
  const kept = Object.fromEntries([...list.querySelectorAll('select[id], input[id][data-dirty]')].map((s) => [s.id, s.value]));
  const focused = document.activeElement?.id;
  list.innerHTML = shadows.length === 0
    ? '<p class="empty" id="no-shadows">No shadow components yet. Declare them under <code>shadows:</code> in the config file (kind, admin URL, optional token) or register one with <code>POST /v1/shadows</code>.</p>'
    : shadows.map(card).join('');
  for (const [id, value] of Object.entries(kept)) {
    const el = document.getElementById(id);
    if (!el) continue;
    el.value = value;
    if (el.tagName === 'INPUT') el.dataset.dirty = '1';
  }
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
  wire(list, change);
  main.dataset.ready = 'shadows';
}

function card(s) {
  const reach = s.reachable === null ? '<span class="badge muted">not read yet</span>'
    : s.reachable ? '<span class="badge ok">reachable</span>' : '<span class="badge bad">unreachable</span>';
  const target = s.target ? ` · shadows <a href="#/targets/${seg(s.target)}">${esc(s.target)}</a>` : '';
  let state = '';
  if (s.reachable === false) {
    state = `<p class="bad unreachable">Cannot read its status: ${esc(s.error)}. ${s.seenAt ? `Below is what it said ${ago(s.seenAt)} (${esc(when(s.seenAt))}).` : 'It has never answered.'}</p>`;
  }
  const body = s.status ? (BODIES[s.kind] ?? (() => ''))(s) : s.reachable === null ? '<p class="empty">Its status has not been read yet.</p>' : '';
  return `<section class="card shadow" data-shadow="${esc(s.name)}" data-kind="${esc(s.kind)}" data-reachable="${s.reachable}" aria-labelledby="sh-${esc(s.name)}">
    <h2 id="sh-${esc(s.name)}">${esc(s.name)} <span class="muted">${esc(KIND_NAMES[s.kind] ?? s.kind)}</span> ${reach}</h2>
    <p class="legend-note">${esc(s.url)}${target} · read every ${esc(s.interval)}${s.polledAt ? `, last ${ago(s.polledAt)}` : ''} · ${s.source === 'config' ? 'declared in the config file' : 'registered through the API'}</p>
    ${state}${body}</section>`;
}

const KIND_NAMES = { traffic: 'traffic proxy', partitions: 'stream partitions', volumes: 'block volumes', sql: 'PostgreSQL interceptor' };

// ---- traffic -----------------------------------------------------------------------------------
function trafficBody(s) {
  const routes = s.status.routes ?? [];
  if (routes.length === 0) return '<p class="empty">The proxy has no routes.</p>';
  return routes.map((r) => {
    const c = r.comparison ?? {};
    const up = (name, u) => (u ? `<span class="badge ${u.available ? 'ok' : 'bad'}" title="${esc(u.origin)}">${name} ${u.available ? 'up' : u.ejected ? 'ejected' : 'down'}</span>` : '');
    const kinds = Object.entries(c.kinds ?? {}).filter(([, n]) => n > 0);
    return `<div class="route" data-route="${esc(r.name)}">
      <h3>Route ${esc(r.name)} <span class="muted">${esc(r.host ?? '*')}${esc(r.pathPrefix)}</span></h3>
      <p>${up('primary', r.upstreams?.primary)}${up('shadow', r.upstreams?.shadow)}${up('secondary', r.upstreams?.secondary)}
        ${r.mirrorState?.breakerOpen ? '<span class="badge bad">mirror breaker open</span>' : ''}</p>
      <div class="tops">
        <dl class="kv mirroring"><dt>Live traffic on the shadow</dt><dd>${pct(r.weight)}</dd><dt>Reads mirrored</dt><dd>${pct(r.mirrorFraction)}</dd>
          <dt>Mirrors sent</dt><dd class="num">${r.mirror?.sent ?? 0}</dd><dt>Answered</dt><dd>${r.mirror?.ok ?? 0}</dd>
          <dt>Failed</dt><dd>${sum(r.mirror, MIRROR_ERRORS)}</dd><dt>Dropped</dt><dd>${sum(r.mirror, MIRROR_DROPS)}</dd><dt>In flight</dt><dd>${r.mirrorState?.inFlight ?? 0}</dd></dl>
        <dl class="kv comparison"><dt>Compared</dt><dd>${c.compared ?? 0}</dd><dt>Match</dt><dd>${c.matches ?? 0}</dd>
          <dt>Mismatch</dt><dd class="${c.mismatches ? 'warn' : ''}">${c.mismatches ?? 0} (${pct(c.mismatchRate)})</dd><dt>Noise</dt><dd>${c.noise ?? 0}</dd>
          <dt>By kind</dt><dd>${kinds.length ? kinds.map(([k, n]) => `${esc(k)} ${n}`).join(', ') : '–'}</dd></dl>
      </div>
      ${c.examples?.length ? `<table class="mismatches"><caption>Response mismatches, most frequent first</caption><thead><tr><th scope="col">Where</th><th scope="col">Kind</th><th scope="col" class="num">Count</th></tr></thead><tbody>
        ${c.examples.slice(0, 8).map((e) => `<tr><td><code>${esc(e.path || '/')}</code></td><td>${esc(e.kind)}</td><td class="num">${e.count}</td></tr>`).join('')}</tbody></table>` : '<p class="empty">No response mismatches.</p>'}
      ${migration(s, r)}
    </div>`;
  }).join('');
}

const MIGRATION_CLASS = { running: 'warn', paused: 'warn', completed: 'ok', rolled_back: 'bad', aborted: 'muted' };

function migration(s, r) {
  const m = r.migration;
  if (!m) return `<p class="muted">No migration on this route.</p>${startMigration(s, r)}`;
  const active = m.status === 'running' || m.status === 'paused';
  const done = (i) => m.status === 'completed' || i < m.stepIndex;
  const steps = m.steps.map((w, i) => {
    const state = done(i) ? 'passed' : i === m.stepIndex && active ? 'current' : 'pending';
    return `<li class="step ${state}" data-state="${state}"${state === 'current' ? ' aria-current="step"' : ''}>${pct(w)} <span class="muted">${state}</span></li>`;
  }).join('');
  const history = m.history.slice(-6).reverse().map((h) => `<li>${esc(when(h.at))} · ${esc(h.event)} at ${pct(h.weight)}${h.pass === undefined ? '' : h.pass ? ' · passed' : ' · failed'}${h.reasons?.length ? `: ${esc(h.reasons.join('; '))}` : ''}</li>`).join('');
  const b = (cmd, label, enabled, cls = '') => `<button class="mig ${cls}" data-shadow="${esc(s.name)}" data-route="${esc(r.name)}" data-command="${cmd}"${enabled ? '' : ' disabled'}>${label}</button>`;
  return `<div class="migration" data-status="${esc(m.status)}">
    <h4>Migration ${esc(m.id)} <span class="badge ${MIGRATION_CLASS[m.status] ?? ''}">${esc(m.status.replace('_', ' '))}</span></h4>
    <p>${esc(m.reason)} · weight on the shadow ${pct(m.weight)}, last good ${pct(m.lastGoodWeight)}</p>
    <ol class="steps" aria-label="Migration steps">${steps}</ol>
    <div class="row">${b('promote', 'Promote', active, 'primary')}${m.status === 'paused' ? b('resume', 'Resume', true) : b('pause', 'Pause', m.status === 'running')}${b('rollback', 'Roll back', active || m.status === 'completed')}${b('abort', 'Abort', active || m.status === 'completed', 'danger')}</div>
    <details><summary>Recent events</summary><ul class="history">${history}</ul></details>
  </div>${active ? '' : startMigration(s, r)}`;
}

function startMigration(s, r) {
  if (!r.upstreams?.shadow) return '<p class="muted">The route has no shadow to migrate to.</p>';
  const id = `steps-${s.name}-${r.name}`;
  return `<div class="row start-migration"><label for="${esc(id)}">Steps: shares of live traffic (optional)</label>
    <input id="${esc(id)}" placeholder="the route's policy, e.g. 0.1, 0.5, 1" size="28">
    <button class="start" data-shadow="${esc(s.name)}" data-route="${esc(r.name)}" data-input="${esc(id)}">Start a migration</button></div>`;
}

// ---- partitions --------------------------------------------------------------------------------
function partitionsBody(s) {
  const { partitions = [], workers = [] } = s.status;
  const workerIds = [...new Set([...workers.map((w) => w.worker), ...partitions.flatMap((p) => p.forbidden ?? [])])].sort((a, b) => a - b);
  const standby = (p) => (p.standby ? `${p.standby.role === 'shadow' ? 'shadow' : 'former primary'} on worker ${p.standby.worker}, ${p.standby.behind} behind${p.standby.caughtUpAt ? '' : ' (catching up)'}` : '–');
  return `<table class="workers"><caption>Workers (as the routing table shows them)</caption><thead><tr><th scope="col">Worker</th><th scope="col">Owns partitions</th><th scope="col">Hosts standbys of</th></tr></thead><tbody>
      ${workers.map((w) => `<tr><th scope="row">${w.worker}</th><td>${w.owns.join(', ') || '–'}</td><td>${w.standbys.join(', ') || '–'}</td></tr>`).join('')}</tbody></table>
    <table class="partitions"><caption>Partitions</caption><thead><tr><th scope="col">Partition</th><th scope="col">Worker</th><th scope="col" class="num">Epoch</th><th scope="col" class="num">End</th><th scope="col" class="num">Backlog</th><th scope="col">Shadow / standby</th><th scope="col">Overrides</th><th scope="col">Actions</th></tr></thead><tbody>
      ${partitions.map((p) => {
        const id = `worker-${s.name}-${p.partition}`;
        const forbidden = p.forbidden ?? [];
        const others = workerIds.filter((w) => w !== p.worker && !forbidden.includes(w));
        const act = `data-shadow="${esc(s.name)}" data-partition="${p.partition}"`;
        return `<tr data-partition="${p.partition}"><th scope="row">${p.partition}</th><td>${p.worker}</td><td class="num">${p.epoch}</td><td class="num">${p.end}</td><td class="num">${p.end - p.committed}</td><td>${esc(standby(p))}</td>
        <td>${p.pinned ? '<span class="badge warn">pinned</span>' : ''}${forbidden.map((w) => `<span class="forbidden"><span class="badge muted">not on ${w}</span><button class="allow" ${act} data-worker="${w}" aria-label="Allow worker ${w} for partition ${p.partition} again">Allow</button></span>`).join('')}</td>
        <td><button class="pin" ${act} data-pinned="${!p.pinned}">${p.pinned ? 'Unpin' : 'Pin'}</button>
          ${others.length ? `<label for="${esc(id)}" class="sr">Worker for partition ${p.partition}</label><select id="${esc(id)}">${others.map((w) => `<option value="${w}">worker ${w}</option>`).join('')}</select>` : '<span class="muted">no other worker</span>'}
          <button class="move" ${act} data-select="${esc(id)}"${p.pinned || others.length === 0 ? ' disabled' : ''}>Move</button>
          <button class="forbid" ${act} data-select="${esc(id)}"${others.length === 0 ? ' disabled' : ''}>Forbid</button></td></tr>`;
      }).join('')}</tbody></table>`;
}

// ---- volumes -----------------------------------------------------------------------------------
function volumesBody(s) {
  const vols = s.status.volumes ?? [];
  if (vols.length === 0) return '<p class="empty">The service has no volumes.</p>';
  return vols.map((v) => {
    const top = v.hottest?.[0]?.reads ?? 0;
    return `<div class="volume" data-volume="${esc(v.name)}" data-state="${esc(v.state)}">
      <h3>Volume ${esc(v.name)} <span class="badge ${v.state === 'live' ? 'ok' : 'bad'}">${v.state === 'live' ? 'on the live device' : 'failed over to the shadow'}</span></h3>
      ${v.failoverReason ? `<p class="warn">Failed over: ${esc(v.failoverReason)}</p>` : ''}
      <dl class="kv"><dt>Reads / writes</dt><dd>${v.reads} / ${v.writes}</dd><dt>Reads served by</dt><dd>${Object.entries(v.readsServedBy ?? {}).map(([t, n]) => `${esc(t)} ${n}`).join(', ') || '–'}</dd>
        <dt>Live latency</dt><dd>${num(v.liveLatencyEwmaMs, 2)} ms (baseline ${v.liveLatencyBaselineMs === null ? 'learning' : `${num(v.liveLatencyBaselineMs, 2)} ms`}), ${v.liveErrors} errors</dd>
        <dt>Copies up</dt><dd>${v.promotions} promoted, ${v.copiesDone} done, ${v.copiesDiscarded} discarded, ${v.copiesDropped} dropped</dd></dl>
      <div class="tops">
        <table class="tiers"><caption>Tiers and placement</caption><thead><tr><th scope="col">Tier</th><th scope="col" class="num">Blocks held</th><th scope="col">Fill</th><th scope="col" class="num">Cost / month</th></tr></thead><tbody>
          ${v.tiers.map((t) => `<tr><th scope="row">${esc(t.name)}</th><td class="num">${t.validBlocks}${t.capacityBlocks === null ? ` of ${v.blocks}` : ` of ${t.capacityBlocks}`}</td>
            <td><meter min="0" max="1" value="${t.validBlocks / (t.capacityBlocks ?? v.blocks)}" aria-label="${esc(t.name)} fill">${pct(t.validBlocks / (t.capacityBlocks ?? v.blocks))}</meter></td><td class="num">${num(t.costPerMonth, 4)}</td></tr>`).join('')}</tbody></table>
        <table class="heat"><caption>Heat: hottest blocks</caption><thead><tr><th scope="col" class="num">Block</th><th scope="col" class="num">Reads</th><th scope="col">Heat</th></tr></thead><tbody>
          ${(v.hottest ?? []).length ? v.hottest.map((h) => `<tr><td class="num">${h.block}</td><td class="num">${h.reads}</td><td><span class="heatbar" style="width:${Math.round((100 * h.reads) / Math.max(1, top))}%"></span></td></tr>`).join('') : '<tr><td colspan="3" class="empty">No reads yet.</td></tr>'}</tbody></table>
      </div>
      <div class="row"><button class="vol danger" data-shadow="${esc(s.name)}" data-volume="${esc(v.name)}" data-command="failover"${v.state === 'live' ? '' : ' disabled'}>Fail over to the shadow</button>
        <button class="vol" data-shadow="${esc(s.name)}" data-volume="${esc(v.name)}" data-command="failback"${v.state === 'live' ? ' disabled' : ''}>Fail back</button></div>
    </div>`;
  }).join('');
}

// ---- sql ---------------------------------------------------------------------------------------
function sqlBody(s) {
  const { rates = {}, engine, proxy = {}, sink = {}, mirror } = s.status;
  const group = (title, o) => `<div><h3>${title}</h3><dl class="kv">${Object.entries(o).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl></div>`;
  const input = (key, label) => {
    const id = `${key}-${s.name}`;
    return `<label for="${esc(id)}">${label}</label><input id="${esc(id)}" class="rate" data-rate="${key}" type="number" min="0" max="1" step="0.01" value="${esc(rates[key])}">`;
  };
  return `<div class="tops sql">${group('Rates', rates)}${group('Interceptor', engine ? { engine, ...proxy } : proxy)}${group('Event sink', sink)}${mirror ? group('Shadow feed', mirror) : '<div><h3>Shadow feed</h3><p class="muted">No shadow instance is fed.</p></div>'}</div>
    <div class="row rates-form">${input('sampleRate', 'Sampling rate (0–1)')}${mirror ? `${input('writeRate', 'Writes replayed on the shadow (0–1)')}${input('readRate', 'Reads replayed on the shadow (0–1)')}` : ''}
      <button class="rates" data-shadow="${esc(s.name)}">Apply rates</button></div>`;
}

const BODIES = { traffic: trafficBody, partitions: partitionsBody, volumes: volumesBody, sql: sqlBody };

// ---- actions -----------------------------------------------------------------------------------
function wire(list, change) {
  const msg = document.getElementById('shadow-msg');
  const base = (name) => `/v1/shadows/${seg(name)}`;
  list.querySelectorAll('input[id]').forEach((i) => i.addEventListener('input', () => (i.dataset.dirty = '1')));
  // Once sent, an input shows what the component reports again (by id: a redraw may have replaced it).
  const sent = (ids) => (result) => {
    for (const id of ids) if (document.getElementById(id)) delete document.getElementById(id).dataset.dirty;
    return result;
  };
  list.querySelectorAll('button.start').forEach((b) => b.addEventListener('click', () => {
    const { shadow, route, input } = b.dataset;
    const text = document.getElementById(input).value.trim();
    const steps = text ? text.split(/[\s,;]+/).filter(Boolean).map(Number) : undefined;
    change(`start a migration of route ${route} on ${shadow}${steps ? ` in steps ${steps.join(', ')}` : ''}`, (why) => api('POST', `${base(shadow)}/routes/${seg(route)}/migrations`, { why, steps }).then(sent([input])), msg);
  }));
  list.querySelectorAll('button.forbid').forEach((b) => b.addEventListener('click', () => {
    const { shadow, partition } = b.dataset;
    const worker = Number(document.getElementById(b.dataset.select).value);
    change(`forbid worker ${worker} for partition ${partition} on ${shadow}`, (why) => api('POST', `${base(shadow)}/partitions/${partition}/forbid`, { worker, forbidden: true, why }), msg);
  }));
  list.querySelectorAll('button.allow').forEach((b) => b.addEventListener('click', () => {
    const { shadow, partition } = b.dataset;
    const worker = Number(b.dataset.worker);
    change(`allow worker ${worker} for partition ${partition} on ${shadow} again`, (why) => api('POST', `${base(shadow)}/partitions/${partition}/forbid`, { worker, forbidden: false, why }), msg);
  }));
  list.querySelectorAll('button.rates').forEach((b) => b.addEventListener('click', () => {
    const { shadow } = b.dataset;
    const inputs = [...b.closest('.rates-form').querySelectorAll('input.rate')];
    const rates = Object.fromEntries(inputs.map((i) => [i.dataset.rate, i.value === '' ? null : Number(i.value)]));
    const what = Object.entries(rates).map(([k, v]) => `${k} ${v}`).join(', ');
    change(`set the rates of ${shadow}: ${what}`, (why) => api('PUT', `${base(shadow)}/rates`, { ...rates, why }).then(sent(inputs.map((i) => i.id))), msg);
  }));
  list.querySelectorAll('button.mig').forEach((b) => b.addEventListener('click', () => {
    const { shadow, route, command } = b.dataset;
    change(`${command} the migration of route ${route} on ${shadow}`, (why) => api('POST', `${base(shadow)}/routes/${seg(route)}/migration/${command}`, { why }), msg);
  }));
  list.querySelectorAll('button.pin').forEach((b) => b.addEventListener('click', () => {
    const { shadow, partition } = b.dataset;
    const pinned = b.dataset.pinned === 'true';
    change(`${pinned ? 'pin' : 'unpin'} partition ${partition} on ${shadow}`, (why) => api('POST', `${base(shadow)}/partitions/${partition}/pin`, { pinned, why }), msg);
  }));
  list.querySelectorAll('button.move').forEach((b) => b.addEventListener('click', () => {
    const { shadow, partition } = b.dataset;
    const worker = Number(document.getElementById(b.dataset.select).value);
    change(`move partition ${partition} on ${shadow} to worker ${worker}`, (why) => api('POST', `${base(shadow)}/partitions/${partition}/move`, { worker, why }), msg);
  }));
  list.querySelectorAll('button.vol').forEach((b) => b.addEventListener('click', () => {
    const { shadow, volume, command } = b.dataset;
    change(`${command === 'failover' ? 'fail over' : 'fail back'} volume ${volume} on ${shadow}`, (why) => api('POST', `${base(shadow)}/volumes/${seg(volume)}/${command}`, { why }), msg);
  }));
}
