/**
 * The dashboard end to end: a real service (SQLite in a temp dir, real HTTP on port 0, a control
 * loop with the replay actuator on a VirtualClock driven by the test) and Debian's Chromium through
 * playwright-core. Pages render with the service's data; a sampling-rate change (with its reason in
 * the audit trail), a pause override and an approval in review mode round-trip through the API;
 * the token is required and sent; the service going down shows as such.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { DecisionRecord } from '../../src/model/decision.js';
import { testService } from '../helpers/service.js';
import { chromiumAvailable, launchChromium, CHROMIUM } from './browser.js';

const MIN = 60_000;
const TOKEN = 'dashboard-test-token-0123';
const CONTROL = { capacityPerUnit: 10, initialUnits: 2, minWindows: 2, season: '0s', history: '10m', provisioningDelay: '2m', horizon: '10m', scaleUpLookahead: '5m', metric: 'load' };
type Env = Awaited<ReturnType<typeof testService>>;

const missing = !chromiumAvailable();
if (missing && process.env.CI === 'true') {
  test('chromium is installed for the dashboard tests', () => assert.fail(`${CHROMIUM} is missing: apt-get install -y chromium`));
}

describe('dashboard in headless Chromium', { skip: missing ? `${CHROMIUM} missing (apt-get install -y chromium)` : false }, () => {
  let env: Env;
  let base: string;
  let browser: Browser;
  let page: Page;

  /** One minute of load and requests on `shop` (and requests on `plain`), then the loop's tick. */
  async function minute(load: number): Promise<DecisionRecord> {
    const at = env.clock.now();
    env.service.ingestor.ingestSamples([{ target: 'shop', metric: 'load', at, value: load }, { target: 'fresh', metric: 'load', at, value: 10 }]);
    env.service.ingestor.ingestEvents([
      { target: 'shop', op: 'read', table: 'orders', columns: ['id', 'total'], user: 'alice', route: '/checkout', bytes: 200, latencyMs: 3, at },
      { target: 'shop', op: 'write', table: 'payments', columns: ['amount'], user: 'bob', route: '/pay', bytes: 100, latencyMs: 5, at },
      { target: 'plain', op: 'read', table: 'logs', bytes: 50, latencyMs: 1, at },
    ]);
    env.clock.advance(MIN);
    await env.service.controller.idle();
    await new Promise((r) => setImmediate(r));
    return (await env.service.controller.decisions('shop', 1))[0];
  }
  const get = async (path: string) => (await env.service.api.inject({ method: 'GET', url: path })).json();
  /** Answers the reason dialog. */
  async function giveWhy(why: string) {
    await page.locator('#why-dialog[open]').waitFor();
    await page.fill('#why-input', why);
    await page.click('#why-ok');
  }

  before(async () => {
    env = await testService({
      server: { host: '127.0.0.1', port: 0, token: TOKEN },
      targets: [{ name: 'shop', kind: 'service', sampling: { rate: 1 }, actuator: { type: 'replay', provisioningDelayMs: 2 * MIN }, control: CONTROL },
        // A loop that never has enough windows: the thin-data state.
        { name: 'fresh', kind: 'service', actuator: { type: 'replay' }, control: { ...CONTROL, minWindows: 100 } },
        { name: 'plain', kind: 'database', sampling: { rate: 1 } },
        // Capacity settings but no captured SQL: a run started from the page ends failed, saying why.
        { name: 'cap', kind: 'database', capacity: { source: 'postgres://postgres@127.0.0.1:5432/sp_ui_cap_src', shadow: 'postgres://postgres@127.0.0.1:5432/sp_ui_cap_shadow' } }],
    });
    base = await env.service.start();
    // The online forecaster needs a few steps before the first forecast.
    for (let i = 0; i < 6; i++) await minute(50);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('pageerror', (err) => assert.fail(`page error: ${err.message}`));
  });
  after(async () => {
    await browser?.close();
    await env?.cleanup();
  });

  test('/ leads to the fleet page: every target with its conditions and last decision', async () => {
    await page.goto(`${base}/`);
    assert.match(page.url(), /\/ui\/$/);
    await page.locator('main[data-ready=fleet]').waitFor();
    const shop = page.locator('tr[data-target=shop]');
    assert.match(await shop.innerText(), /Ready=True/);
    const last = (await env.service.controller.decisions('shop', 1))[0];
    assert.match(await shop.innerText(), new RegExp(last.status));
    assert.match(await page.locator('tr[data-target=plain]').innerText(), /observed only/);
    const order = await page.locator('#fleet-table tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-target')));
    assert.deepEqual(order, ['fresh', 'cap', 'plain', 'shop'], 'problems (too little data, no data yet) first, then by name');
    assert.match(await page.locator('tr[data-target=fresh]').innerText(), /DataComplete=False/);
    // The assets come from this service only: uPlot from its package.
    const uplot = await page.evaluate(async () => (await fetch('/ui/vendor/uplot.js')).status);
    assert.equal(uplot, 200);
  });

  test('target page: chart with forecast, decision timeline opening its record, top tables', async () => {
    await page.click('tr[data-target=shop] a');
    await page.locator('main[data-ready=target]').waitFor();
    assert.match(page.url(), /#\/targets\/shop/);
    await page.locator('#chart .uplot canvas').first().waitFor();
    assert.match(await page.locator('#chart-note').innerText(), /Metric load.*Forecast of the decision/);
    const decisions = (await get('/v1/targets/shop/decisions?limit=300')).decisions as DecisionRecord[];
    assert.equal(await page.locator('#decisions tbody tr').count(), decisions.length);
    await page.locator('#decisions .open-record').first().click();
    await page.locator('#record-dialog[open]').waitFor();
    const shown = JSON.parse(await page.locator('#record-json').innerText()) as DecisionRecord;
    assert.equal(shown.id, decisions[0].id);
    assert.deepEqual(shown.inputs, decisions[0].inputs);
    await page.click('#record-close');
    assert.match(await page.locator('table[data-dim=table]').innerText(), /orders[\s\S]*payments|payments[\s\S]*orders/);
    assert.match(await page.locator('table[data-dim=route]').innerText(), /\/checkout/);
    assert.equal(await page.locator('table[data-dim=user]').innerText().then((t) => t.includes('alice')), false, 'users are pseudonyms');
    const learned = (await get('/v1/targets/shop/learned')) as { leadTime: { steps: number }; headroom: { value: number | null } };
    assert.match(await page.locator('#learned-lead').innerText(), new RegExp(`^${learned.leadTime.steps} steps`), 'the learned values are on the target page');
    assert.match(await page.locator('#learned-headroom').innerText(), learned.headroom.value === null ? /not yet/ : /%/);
  });

  test('the chart keeps to the range asked, its band stays at or above zero, the caption names the one band drawn', async () => {
    const at = env.clock.now() - MIN;
    const shown = async (target: string) => {
      await page.goto(`${base}/ui/#/`);
      await page.locator('main[data-ready=fleet]').waitFor();
      await page.goto(`${base}/ui/#/targets/${target}?from=${at}&to=${at + MIN}`);
      await page.locator(`main[data-ready=target][data-target=${target}]`).waitFor();
      const chart = page.locator('#chart[data-x-min]');
      await chart.waitFor();
      return Promise.all(['data-x-min', 'data-x-max', 'data-y-min'].map(async (a) => Number(await chart.getAttribute(a))));
    };
    // One point and no forecast (fresh never has enough windows): uPlot alone would span years.
    const [xMin, xMax] = await shown('fresh');
    assert.ok(Math.abs(xMin - at / 1000) <= 60 && xMax - xMin <= 120, `the axis is the minute asked: ${xMin}..${xMax} for ${at / 1000}`);
    // With a forecast: the axis runs on to its end; the band of a load stays at or above zero.
    const [fMin, fMax, yMin] = await shown('shop');
    assert.ok(Math.abs(fMin - at / 1000) <= 60 && fMax - fMin <= 3600, `a minute and the forecast's 10, not more: ${fMax - fMin} s`);
    assert.ok(yMin >= 0, `load is never negative, nor is its axis: ${yMin}`);
    const note = await page.locator('#chart-note').innerText();
    assert.match(note, /mean and its \d+ % interval as a band/);
    assert.doesNotMatch(note, /\d+ %, \d+ %/);
  });

  test('a target that does not exist says so instead of Loading…', async () => {
    await page.goto(`${base}/ui/#/targets/nope`);
    await page.locator('#page-error').waitFor();
    const text = await page.locator('main').innerText();
    assert.match(text, /No target is called “nope”/);
    assert.doesNotMatch(text, /Loading/);
  });

  test('thin data and observed-only targets say so; requests show as an estimated rate', async () => {
    await page.goto(`${base}/ui/#/targets/fresh`);
    await page.locator('main[data-ready=target][data-target=fresh]').waitFor();
    assert.match(await page.locator('#thin').innerText(), /Data too thin to forecast: \d+ of 100 windows/);
    assert.match(await page.locator('#chart-note').innerText(), /No forecast yet/);
    await page.goto(`${base}/ui/#/targets/plain?range=1h`);
    await page.locator('main[data-ready=target][data-target=plain]').waitFor();
    assert.match(await page.locator('#t-head').innerText(), /observed only/);
    assert.match(await page.locator('#timeline').innerText(), /ObserveOnly/, 'an observed-only target has its loop\'s steps on its timeline');
    assert.match(await page.locator('#chart-note').innerText(), /Estimated request rate/);
    assert.match(await page.locator('table[data-dim=table]').innerText(), /logs/);
    await page.goto(`${base}/ui/#/targets/shop?range=1h`);
    await page.locator('main[data-ready=target][data-target=shop]').waitFor();
  });

  test('a change without the token is refused and says so; with it the sampling rate round-trips', async () => {
    await page.fill('#rate', '0.25');
    await page.click('#rate-apply');
    await giveWhy('cheaper sampling');
    await page.locator('#rate-msg.bad').waitFor();
    assert.match(await page.locator('#rate-msg').innerText(), /API token/);
    assert.equal((await get('/v1/targets/shop/sampling')).rate, 1);

    await page.fill('#token', TOKEN);
    await page.press('#token', 'Enter');
    await page.click('#rate-apply');
    await giveWhy('cheaper sampling');
    await page.locator('#rate-msg.ok').waitFor();
    assert.equal((await get('/v1/targets/shop/sampling')).rate, 0.25);
    assert.equal(await page.locator('#sampling-now').innerText(), '0.25');
    const audit = (await get('/v1/targets/shop/audit')).audit as { action: string; why: string; detail: unknown }[];
    assert.deepEqual(audit.filter((a) => a.action === 'sampling').map((a) => [a.why, a.detail]), [['cheaper sampling', { from: 1, to: 0.25 }]], 'the reason is recorded; the refused attempt is not');
  });

  test('pause and resume round-trip through the API with the reason; the loop then decides Paused', async () => {
    assert.equal(await page.locator('#pause-toggle').innerText(), 'Pause');
    await page.click('#pause-toggle');
    await giveWhy('maintenance window');
    await page.locator('#pause-toggle[aria-pressed=true]').waitFor();
    const view = await get('/v1/targets/shop/control');
    assert.equal(view.overrides.pause.why, 'maintenance window');
    assert.equal(view.overrides.pause.actor, 'token');
    const audit = (await get('/v1/targets/shop/audit')).audit as { action: string; why: string }[];
    assert.equal(audit.find((a) => a.action === 'pause')?.why, 'maintenance window');
    // Demand above capacity: the policy wants more units, the pause holds them back.
    assert.equal((await minute(150)).reason, 'Paused');
    await page.reload();
    await page.locator('main[data-ready=target]').waitFor();
    assert.match(await page.locator('#override-list').innerText(), /paused by token .*maintenance window/);
    assert.match(await page.locator('#conditions').innerText(), /Paused=True/);

    await page.click('#pause-toggle');
    await giveWhy('maintenance over');
    await page.locator('#pause-toggle[aria-pressed=false]').waitFor();
    assert.equal((await get('/v1/targets/shop/control')).overrides.pause, undefined);
  });

  test('review mode: a pending decision approved on the page is carried out', async () => {
    await page.click('#review-toggle');
    await giveWhy('change freeze');
    await page.locator('#review-toggle[aria-pressed=true]').waitFor();
    let pending: DecisionRecord | undefined;
    for (let i = 0; i < 8 && !pending; i++) {
      const d = await minute(150);
      if (d.status === 'pending-approval') pending = d;
    }
    assert.ok(pending, 'the loop proposed an action under review');
    await page.reload();
    await page.locator(`#decisions tr[data-id="${pending.id}"] .approve`).click();
    await giveWhy('approved by the on-call');
    await page.locator(`#decisions tr[data-id="${pending.id}"]:not([data-status=pending-approval])`).waitFor();
    const done = (await get(`/v1/decisions/${pending.id}`)) as DecisionRecord;
    assert.ok(['submitted', 'succeeded'].includes(done.status), done.status);
    assert.equal(done.review?.verdict, 'approved');
    assert.equal(done.review?.why, 'approved by the on-call');
    const cap = (await get('/v1/targets/shop/control')).capacity;
    assert.equal(cap.ready + cap.booting, done.action!.to);
  });

  test('use above 100 % while units boot is explained and not red', async () => {
    const cap = (await get('/v1/targets/shop/control')).capacity;
    assert.ok(cap.booting > 0, 'units are booting after the approved scale-up');
    await page.goto(`${base}/ui/#/`);
    await page.locator('main[data-ready=fleet]').waitFor();
    const cell = page.locator('tr[data-target=shop] td.num').first();
    assert.match(await cell.innerText(), new RegExp(`over the ready units; ${cap.booting} more booting`));
    assert.equal(await cell.getAttribute('class'), 'num warn');
  });

  test('an observed-only target gets an actuator and response rules from its page; bad ones are refused naming the field', async () => {
    await page.goto(`${base}/ui/#/targets/plain?range=1h`);
    await page.locator('main[data-ready=target][data-target=plain]').waitFor();
    assert.match(await page.locator('#actuator-now').innerText(), /No actuator: observed only/);
    assert.equal(await page.locator('#actuator-remove').isDisabled(), true);

    await page.fill('#actuator-json', '{"type": "replay",');
    await page.click('#actuator-set');
    await page.locator('#actuator-msg.bad').waitFor();
    assert.match(await page.locator('#actuator-msg').innerText(), /the actuator is not JSON/);
    await page.fill('#actuator-json', '{"type": "replay", "provisioningDelayMs": -5}');
    await page.click('#actuator-set');
    await giveWhy('try it');
    await page.locator('#actuator-msg.bad', { hasText: 'provisioningDelayMs' }).waitFor();
    await page.fill('#actuator-json', '{"type": "replay", "provisioningDelayMs": 60000}');
    await page.click('#actuator-set');
    await giveWhy('take plain under control');
    await page.locator('#actuator-msg.ok', { hasText: 'actuator replay' }).waitFor();
    assert.equal((await get('/v1/targets/plain/control')).mode, 'controlled');
    await page.locator('#actuator-now', { hasText: 'replay actuator (from api)' }).waitFor();

    await page.fill('#rules-json', '[{"name": "tell", "when": {"risk": 2}, "do": {"notify": {}}}]');
    await page.click('#rules-save');
    await giveWhy('alert me');
    await page.locator('#rules-msg.bad', { hasText: '/body/rules/0/when/risk' }).waitFor();
    await page.fill('#rules-json', '[{"name": "tell", "when": {"risk": 0.9}, "do": {"notify": {}}}]');
    await page.click('#rules-save');
    await giveWhy('alert me');
    await page.locator('#rules-msg.ok').waitFor();
    assert.deepEqual((await get('/v1/targets/plain/respond')).rules.map((r: { name: string }) => r.name), ['tell']);
    await page.locator('#rules-source', { hasText: '1 rule, from api' }).waitFor();

    await page.click('#actuator-remove');
    await giveWhy('back to watching');
    await page.locator('#actuator-msg.ok', { hasText: 'remove the actuator' }).waitFor();
    assert.equal((await get('/v1/targets/plain/control')).mode, 'observe-only');
    const audit = (await get('/v1/targets/plain/audit')).audit as { action: string; why: string }[];
    assert.deepEqual(audit.slice(0, 3).map((a) => a.why), ['back to watching', 'alert me', 'take plain under control']);
  });

  test('capacity runs: the button starts one, the table shows how it ended; an unconfigured target says so', async () => {
    await page.goto(`${base}/ui/#/targets/plain`);
    await page.locator('main[data-ready=target][data-target=plain]').waitFor();
    assert.match(await page.locator('#capacity').innerText(), /Not configured/);
    assert.equal(await page.locator('#cap-run').isDisabled(), true);
    assert.match(await page.locator('#cap-in-force').innerText(), /from config/);

    await page.goto(`${base}/ui/#/targets/cap`);
    await page.locator('main[data-ready=target][data-target=cap]').waitFor();
    assert.match(await page.locator('#capacity').innerText(), /No run yet/);
    await page.click('#cap-run');
    await giveWhy('measure before the sale');
    await page.locator('#cap-msg.ok').waitFor();
    await page.locator('#cap-runs .badge.bad').waitFor();
    const row = await page.locator('#cap-runs tbody tr').first().innerText();
    assert.match(row, /manual/);
    assert.match(row, /no SQL statement was captured for target "cap"/);
    const [run] = (await get('/v1/targets/cap/capacity-runs')).runs as { status: string; actor: string }[];
    assert.deepEqual([run.status, run.actor], ['failed', 'token']);
  });

  test('the service going away is shown, not a blank page', async () => {
    await env.service.stop();
    await page.locator('#banner:not([hidden])', { hasText: 'The service cannot be reached' }).waitFor({ timeout: 15_000 });
  });
});
