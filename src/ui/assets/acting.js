// The target page's "Actuator and response rules" card: give an observed-only target an
// actuator, replace or remove it, and edit the target's response rules — each change with its
// reason, through the same API calls the CLI makes (PUT/DELETE /actuator, PUT /respond). The
// actuator's settings are not shown: they may hold secrets the API does not give back.
import { api } from './api.js';
import { esc } from './format.js';

const ACTUATOR_EXAMPLE = '{"type": "webhook", "url": "https://scaler.example/scale", "timeoutMs": 5000}';
const RULES_EXAMPLE = '[{"name": "migrate-on-risk", "when": {"risk": 0.8, "for": "5m"}, "do": {"migrate": {"shadow": "my-proxy", "route": "api"}}}]';

/** JSON text as a value, or a message naming what is wrong with it. */
function parse(text, what) {
  try {
    return { value: JSON.parse(text) };
  } catch (err) {
    return { error: `${what} is not JSON: ${err.message}` };
  }
}

/**
 * Builds the card in `el` for target `name` (once per page: the editors keep what is typed across
 * refreshes). `view` is the target's control view the page already read (null: observed only);
 * `change(what, send, msgElement)` asks the reason and runs the change, as every other control of
 * the page does.
 */
export async function renderActing(el, name, view, change) {
  const base = `/v1/targets/${encodeURIComponent(name)}`;
  const rules = await api('GET', `${base}/respond`);
  el.innerHTML = `<h2 id="act-h">Actuator and response rules</h2>
    <fieldset><legend>Actuator</legend>
      <p id="actuator-now" class="muted"></p>
      <label for="actuator-json">New actuator (JSON, as the config's <code>actuator</code>; docs/actuators.md)</label>
      <textarea id="actuator-json" rows="3" spellcheck="false" placeholder="${esc(ACTUATOR_EXAMPLE)}"></textarea>
      <div class="row"><button id="actuator-set">Set actuator</button><button id="actuator-remove">Remove actuator</button></div>
      <p id="actuator-msg" class="msg" role="status"></p></fieldset>
    <fieldset><legend>Response rules</legend>
      <p id="rules-source" class="muted"></p>
      <label for="rules-json">Rules (JSON list, as the config's <code>respond</code>; docs/control.md)</label>
      <textarea id="rules-json" rows="8" spellcheck="false" placeholder="${esc(RULES_EXAMPLE)}">${esc(rules.rules.length ? JSON.stringify(rules.rules, null, 2) : '')}</textarea>
      <div class="row"><button id="rules-save">Save rules</button></div>
      <p id="rules-msg" class="msg" role="status"></p></fieldset>`;
  const $ = (id) => document.getElementById(id);
  /** A new attempt clears what the last one said. */
  const clear = (msg) => {
    msg.textContent = '';
    msg.className = 'msg';
  };
  const refuse = (msg, text) => {
    msg.textContent = `Failed: ${text}`;
    msg.className = 'msg bad';
  };
  $('actuator-set').addEventListener('click', () => {
    clear($('actuator-msg'));
    const { value, error } = parse($('actuator-json').value, 'the actuator');
    if (error) return refuse($('actuator-msg'), error);
    change(`give ${name} the actuator ${value?.type ?? ''}`.trim(), (why) => api('PUT', `${base}/actuator`, { actuator: value, why }), $('actuator-msg'));
  });
  $('actuator-remove').addEventListener('click', () => {
    clear($('actuator-msg'));
    change(`remove the actuator of ${name} (observed only from the next tick)`, (why) => api('DELETE', `${base}/actuator`, { why }), $('actuator-msg'));
  });
  $('rules-save').addEventListener('click', () => {
    clear($('rules-msg'));
    const text = $('rules-json').value.trim();
    const { value, error } = text ? parse(text, 'the rules') : { value: [] };
    if (error) return refuse($('rules-msg'), error);
    change(`replace the response rules of ${name} (${Array.isArray(value) ? value.length : '?'} rules)`, (why) => api('PUT', `${base}/respond`, { rules: value, why }), $('rules-msg'));
  });
  syncActing(name, view, rules);
}

/**
 * Refreshes what the card says of the current actuator (from `view`, null for an observed-only
 * target) and rules (read unless given); not the editors' text.
 */
export async function syncActing(name, view, rules) {
  const now = document.getElementById('actuator-now');
  if (!now) return;
  const current = rules ?? (await api('GET', `/v1/targets/${encodeURIComponent(name)}/respond`));
  now.textContent = view?.actuator
    ? `Acting through a ${view.actuator} actuator (from ${view.actuatorSource}).`
    : 'No actuator: observed only (forecasts, anomalies and risk; no scaling).';
  document.getElementById('actuator-remove').disabled = !view?.actuator;
  const episodes = Object.entries(current.episodes ?? {}).map(([rule, e]) => `${rule}${e.fired ? ' (fired this episode)' : e.since ? ' (condition holding)' : ''}`);
  document.getElementById('rules-source').textContent = `${current.rules.length} rule${current.rules.length === 1 ? '' : 's'}, from ${current.source}${episodes.length ? `; ${episodes.join(', ')}` : ''}.`;
}
