/**
 * The Shadows page, live updates and custom time ranges end to end: a real service (token, SQLite
 * in a temp dir, HTTP on port 0) that knows real components (test/api/shadow-components.ts: a
 * traffic proxy with a migration, a stream service with worker processes, a volume service, the
 * PostgreSQL interceptor) and one that is not running, driven through Debian's Chromium. The page
 * shows mirroring figures and mismatches, the migration's steps, partitions with their workers,
 * volumes with tier heat and placement; a promote, a fail-over, a pin, a migration started, a worker
 * forbidden and allowed again and the interceptor's rates, all made on the page, reach the real
 * components with the reason recorded, and bad input is refused naming the field; changes announced on /v1/stream reach the page while
 * polling is slowed to a minute, and the page falls back to polling when the stream drops.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { refusedOrigin } from '../shadows/traffic/helpers.js';
import { testService } from '../helpers/service.js';
import { PROXY_TOKEN, startComponents, type Components } from '../api/shadow-components.js';
import { chromiumAvailable, launchChromium, CHROMIUM } from './browser.js';

const TOKEN = 'dashboard-test-token-0123';

const missing = !chromiumAvailable();
if (missing && process.env.CI === 'true') {
  test('chromium is installed for the dashboard tests', () => assert.fail(`${CHROMIUM} is missing: apt-get install -y chromium`));
}

describe('Shadows page and live updates in headless Chromium', { skip: missing ? `${CHROMIUM} missing (apt-get install -y chromium)` : false }, () => {
  let c: Components;
  let env: Awaited<ReturnType<typeof testService>>;
  let base: string;
  let browser: Browser;
  let page: Page;
  const card = (name: string) => page.locator(`section.shadow[data-shadow="${name}"]`);
  const pollAll = () => Promise.all(env.service.shadows.list().map((s) => env.service.shadows.poll(s.name)));
  async function giveWhy(why: string) {
    await page.locator('#why-dialog[open]').waitFor();
    await page.fill('#why-input', why);
    await page.click('#why-ok');
  }

  before(async () => {
    c = await startComponents();
    env = await testService({
      server: { host: '127.0.0.1', port: 0, token: TOKEN },
      shadows: [
        { name: 'orders-proxy', kind: 'traffic', url: c.trafficAdmin, token: PROXY_TOKEN, target: 'orders-db' },
        { name: 'events', kind: 'partitions', url: c.streamAdmin },
        { name: 'disks', kind: 'volumes', url: c.volumeAdmin },
        { name: 'orders-sql', kind: 'sql', url: c.sqlAdmin },
        { name: 'gone', kind: 'traffic', url: await refusedOrigin() },
      ],
    });
    base = await env.service.start();
    await c.traffic(4);
    await c.startMigration();
    for (let i = 0; i < 9; i++) await c.volume.read(4096 * (i % 2), 4096);
    await pollAll();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('pageerror', (err) => assert.fail(`page error: ${err.message}`));
  });
  after(async () => {
    await browser?.close();
    await env?.cleanup();
    await c?.close();
  });

  test('every component with its status: mirroring and mismatches, migration steps, partitions and workers, tiers and heat, an unreachable one', async () => {
    await page.goto(`${base}/ui/#/shadows`);
    await page.locator('main[data-ready=shadows]').waitFor();
    const proxy = card('orders-proxy');
    const mirroring = await proxy.locator('.mirroring').innerText();
    assert.match(mirroring, /Reads mirrored\s+100 %/);
    assert.match(mirroring, /Mirrors sent\s+4/);
    assert.match(await proxy.locator('.comparison').innerText(), /Mismatch\s+4 \(100 %\)/);
    assert.match(await proxy.locator('table.mismatches').innerText(), /\/status\s+value\s+4/);
    assert.deepEqual(await proxy.locator('.steps li').evaluateAll((li) => li.map((l) => l.getAttribute('data-state'))), ['current', 'pending', 'pending']);
    assert.match(await proxy.locator('.migration').innerText(), /failure risk of the primary/);

    const events = card('events');
    assert.equal(await events.locator('table.partitions tbody tr').count(), 2);
    const owners = c.stream.table.owners;
    assert.match(await events.locator(`table.workers tbody`).innerText(), new RegExp(`${owners[0]}\\s+0`));

    const disks = card('disks');
    assert.deepEqual(await disks.locator('table.tiers tbody th').allInnerTexts(), ['live', 'shadow-hdd', 'nvme']);
    assert.match(await disks.locator('table.heat tbody tr').first().innerText(), /^\s*[01]\s+[45]/);
    assert.match(await card('orders-sql').innerText(), /sampleRate\s+1/);
    assert.match(await card('orders-sql').innerText(), /engine\s+(native|js)/);

    const gone = card('gone');
    assert.equal(await gone.getAttribute('data-reachable'), 'false');
    assert.match(await gone.locator('.unreachable').innerText(), /Cannot read its status: .*ECONNREFUSED.*never answered/);
  });

  test('a promote without the token is refused and says so; with it the real proxy moves and the reason is recorded', async () => {
    const promote = card('orders-proxy').locator('button.mig[data-command=promote]');
    await promote.click();
    await giveWhy('shadow error rate is fine');
    await page.locator('#shadow-msg.bad').waitFor();
    assert.match(await page.locator('#shadow-msg').innerText(), /API token/);
    assert.equal(c.proxy.route('orders')!.migration!.stepIndex, 0);

    await page.fill('#token', TOKEN);
    await page.press('#token', 'Enter');
    await promote.click();
    await giveWhy('shadow error rate is fine');
    await page.locator('#shadow-msg.ok').waitFor();
    assert.equal(c.proxy.route('orders')!.migration!.stepIndex, 1);
    assert.deepEqual(await card('orders-proxy').locator('.steps li').evaluateAll((li) => li.map((l) => l.getAttribute('data-state'))), ['passed', 'current', 'pending']);
    const audit = (await env.service.api.inject({ method: 'GET', url: '/v1/shadows/orders-proxy/audit?limit=1' })).json().audit[0];
    assert.deepEqual([audit.action, audit.why, audit.actor, audit.detail.outcome], ['migration-promote', 'shadow error rate is fine', 'token', 'done']);
  });

  test('a volume fails over and a partition is pinned from the page', async () => {
    await card('disks').locator('button.vol[data-command=failover]').click();
    await giveWhy('live device is erroring');
    await card('disks').locator('.volume[data-state=failed-over]').waitFor();
    assert.equal(c.volume.stats().failoverReason, 'live device is erroring');

    await card('events').locator('button.pin[data-partition="1"]').click();
    await giveWhy('keep it during the audit');
    await card('events').locator('tr[data-partition="1"] .badge', { hasText: 'pinned' }).waitFor();
    assert.equal(c.stream.partitions()[1].pinned, true);
  });

  test('a migration is aborted and a new one started from the page; bad steps are refused naming the field', async () => {
    const proxy = card('orders-proxy');
    assert.equal(await proxy.locator('button.start').count(), 0, 'no start while a migration runs');
    await proxy.locator('button.mig[data-command=abort]').click();
    await giveWhy('start over with bigger steps');
    await proxy.locator('.migration[data-status=aborted]').waitFor();

    await proxy.locator('.start-migration input').fill('0.5, 2');
    await proxy.locator('button.start').click();
    await giveWhy('the primary is failing');
    await page.locator('#shadow-msg.bad', { hasText: 'steps' }).waitFor();
    assert.match(await page.locator('#shadow-msg').innerText(), /\/body\/steps\/1: must be a share of live traffic above 0 and at most 1/);
    assert.equal(c.proxy.route('orders')!.migration!.status, 'aborted');

    await proxy.locator('.start-migration input').fill('0.2, 1');
    await proxy.locator('button.start').click();
    await giveWhy('the primary is failing');
    await proxy.locator('.migration[data-status=running]').waitFor();
    const m = c.proxy.route('orders')!.migration!.view();
    assert.deepEqual([m.steps, m.weight, m.reason], [[0.2, 1], 0.2, 'the primary is failing']);
    assert.deepEqual(await proxy.locator('.steps li').evaluateAll((li) => li.map((l) => l.getAttribute('data-state'))), ['current', 'pending']);
    const audit = (await env.service.api.inject({ method: 'GET', url: '/v1/shadows/orders-proxy/audit?limit=1' })).json().audit[0];
    assert.deepEqual([audit.action, audit.why, audit.detail.steps, audit.detail.outcome], ['migration-start', 'the primary is failing', [0.2, 1], 'done']);
  });

  test('a worker is forbidden for a partition and allowed again from the page', async () => {
    const row = card('events').locator('tr[data-partition="0"]');
    const other = 1 - c.stream.table.owners[0];
    assert.equal(await row.locator('select').inputValue(), String(other));
    await row.locator('button.forbid').click();
    await giveWhy('its disk is failing');
    await row.locator('.forbidden', { hasText: `not on ${other}` }).waitFor();
    assert.deepEqual(c.stream.partitions()[0].forbidden, [other]);
    assert.equal(await row.locator('button.move').isDisabled(), true, 'no worker left to move to');

    await row.locator('button.allow').click();
    await giveWhy('disk replaced');
    await row.locator('.forbidden').waitFor({ state: 'detached' });
    assert.deepEqual(c.stream.partitions()[0].forbidden, []);
  });

  test('the SQL interceptor\'s rates are set from the page; a rate out of range is refused naming the field', async () => {
    const sql = card('orders-sql');
    await sql.locator('#sampleRate-orders-sql').fill('0.3');
    await sql.locator('#readRate-orders-sql').fill('0.2');
    await sql.locator('button.rates').click();
    await giveWhy('less telemetry, more shadow reads');
    await page.locator('#shadow-msg.ok', { hasText: 'set the rates of orders-sql' }).waitFor();
    assert.deepEqual([c.pgProxy.getSampleRate(), c.sqlMirror.rates()], [0.3, { writeRate: 0.01, readRate: 0.2 }]);
    assert.match(await sql.locator('.sql').innerText(), /sampleRate\s+0\.3/);
    const audit = (await env.service.api.inject({ method: 'GET', url: '/v1/shadows/orders-sql/audit?limit=1' })).json().audit[0];
    assert.deepEqual([audit.action, audit.why, audit.detail.readRate], ['rates', 'less telemetry, more shadow reads', 0.2]);

    await sql.locator('#writeRate-orders-sql').fill('2');
    await sql.locator('button.rates').click();
    await giveWhy('replay every write');
    await page.locator('#shadow-msg.bad', { hasText: 'writeRate' }).waitFor();
    assert.match(await page.locator('#shadow-msg').innerText(), /\/body\/writeRate: must be a number between 0 and 1/);
    assert.equal(c.sqlMirror.rates().writeRate, 0.01);
    assert.equal(await sql.locator('#writeRate-orders-sql').inputValue(), '2', 'what was typed stays to be corrected');
  });

  test('changes announced on the stream reach the page: a command given to the proxy directly, a sampling change', async () => {
    await page.locator('#live[data-mode=stream]').waitFor();
    // Straight to the proxy, not through the service: the page learns of it from the registry's read.
    const res = await fetch(`${c.trafficAdmin}/v1/routes/orders/migration/pause`, { method: 'POST', headers: { authorization: `Bearer ${PROXY_TOKEN}` } });
    assert.equal(res.status, 200);
    await env.service.shadows.poll('orders-proxy');
    await card('orders-proxy').locator('.migration[data-status=paused]').waitFor();

    await page.goto(`${base}/ui/#/targets/orders-db`);
    await page.locator('main[data-ready=target]').waitFor();
    await page.locator('#live[data-mode=stream]').waitFor();
    const put = await env.service.api.inject({ method: 'PUT', url: '/v1/targets/orders-db/sampling', headers: { authorization: `Bearer ${TOKEN}` }, payload: { rate: 0.4, why: 'cheaper' } });
    assert.equal(put.statusCode, 200);
    await page.locator('#sampling-now', { hasText: '0.4' }).waitFor();
  });

  test('a custom time range comes from the URL and from the range inputs', async () => {
    await env.service.targets.update('orders-db', { samplingRate: 1 });
    for (let i = 0; i < 5; i++) {
      env.service.ingestor.ingestEvents([{ target: 'orders-db', op: 'read', table: 'orders', bytes: 10, latencyMs: 1, at: env.clock.now() }]);
      env.clock.advance(60_000);
    }
    env.clock.advance(3 * 60_000);
    await env.service.flush();
    const now = env.clock.now();
    const from = new Date(now - 2 * 3_600_000).toISOString();
    const to = new Date(now - 3_600_000).toISOString();
    await page.goto(`${base}/ui/#/targets/orders-db?from=${from}&to=${to}`);
    // Same page, new range: wait for the redraw that shows it.
    await page.locator('#custom-range:not([hidden])').waitFor();
    assert.equal(await page.locator('#range').inputValue(), 'custom');
    assert.match(await page.locator('#chart').innerText(), /No data in this range yet/);
    assert.equal(await page.locator('table[data-dim=table]').count(), 0, 'the event three minutes ago is outside the range');
    const fromShown = await page.locator('#from').inputValue();
    assert.equal(new Date(fromShown).getTime(), Date.parse(from) - (Date.parse(from) % 60_000));

    await page.fill('#from', fromShown);
    await page.fill('#to', await page.evaluate((ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16), now));
    await page.click('#range-apply');
    await page.locator('table[data-dim=table]', { hasText: 'orders' }).waitFor();
    assert.match(await page.locator('#chart-note').innerText(), /^.+ to .+\. Estimated request rate/);

    // Dragging across the chart shows that stretch: a narrower range in the URL.
    // A live update may be redrawing the chart just now: take the box of the one that is there.
    let box = null;
    for (let i = 0; i < 50 && !box; i++) box = await page.locator('#chart .u-over').boundingBox().catch(() => null);
    assert.ok(box, 'the chart is drawn');
    const before = new URL(page.url()).hash;
    await page.mouse.move(box.x + box.width * 0.9, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.95, box.y + box.height / 2, { steps: 5 });
    await page.mouse.move(box.x + box.width * 0.99, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.waitForURL((u) => u.hash !== before);
    const zoomed = new URLSearchParams(new URL(page.url()).hash.split('?')[1]);
    const [zf, zt] = [Date.parse(zoomed.get('from')!), Date.parse(zoomed.get('to')!)];
    assert.ok(zf > Date.parse(fromShown) && zt > zf && zt - zf < (now - Date.parse(fromShown)) / 5, `${zoomed}`);
    await page.locator('#custom-range:not([hidden])').waitFor();
  });

  test('when the stream drops the page polls, and the service going away is shown', async () => {
    await env.service.stop();
    await page.locator('#live[data-mode=polling]').waitFor();
    // While it stops, the service may still answer 503 on an open connection: shown the same way.
    await page.locator('#banner:not([hidden])', { hasText: 'The service cannot be reached' }).waitFor({ timeout: 15_000 });
  });
});
