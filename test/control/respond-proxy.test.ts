/**
 * The one-loop story end to end with real processes on the real clock: the shipped `shadowplane
 * proxy` as its own process in front of two real upstreams, client load through it, and a real
 * service (SQLite, listening on a port) that receives the proxy's request telemetry. The primary
 * starts failing; the target's failure risk on its error rate crosses the response rule; the rule
 * starts a gradual migration on the proxy over its admin API; the proxy verifies each step itself
 * and completes; its own steps reach the target's timeline beside the rule's firing; the rule does
 * not fire twice in the episode. One-second windows and steps make the
 * minutes of a real deployment seconds.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { validateConfig } from '../../src/config.js';
import type { DecisionRecord } from '../../src/model/decision.js';
import { ShadowplaneService } from '../../src/service.js';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';
import { freePort, waitFor } from '../helpers/wait.js';
import { upstream, type TestUpstream } from '../shadows/traffic/helpers.js';

const TOKEN = 'respond-proxy-admin-token';
const SERVICE_TOKEN = 'respond-proxy-service-token';
const RULE = { name: 'migrate-off-failing-primary', when: { risk: 0.8, for: '3s' }, do: { migrate: { shadow: 'checkout-proxy', route: 'api', steps: [0.5, 1] } } };

const dir = mkdtempSync(join(tmpdir(), 'sp-respond-proxy-'));
let service: ShadowplaneService;
let proxy: ProxyProcess;
let primary: TestUpstream;
let shadow: TestUpstream;
let primaryFails = false;
let load: NodeJS.Timeout | undefined;
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

/** One client request through the proxy; resolves with its status (0 when it failed). */
const send = (path: string) => new Promise<number>((resolve) => {
  http.get(`${proxy.url}${path}`, { agent }, (res) => {
    res.resume().on('end', () => resolve(res.statusCode ?? 0));
  }).on('error', () => resolve(0));
});
const decisions = async (): Promise<DecisionRecord[]> => service.controller.decisions('checkout', 500);

before(async () => {
  primary = await upstream((_s, res) => {
    res.statusCode = primaryFails ? 500 : 200;
    res.setHeader('content-type', 'application/json').end('{"ok":true}');
  });
  shadow = await upstream((_s, res) => res.setHeader('content-type', 'application/json').end('{"ok":true}'));
  // The proxy reports to the service's port, which is chosen first: each names the other.
  const servicePort = await freePort();
  proxy = await startProxyProcess(dir, {
    control: { url: `http://127.0.0.1:${servicePort}`, target: 'checkout', name: 'checkout-proxy', sampleRate: 1, flushIntervalMs: 200 },
    // The slack keeps a busy test machine's latency jitter from failing the p99 check of a step.
    routes: [{
      name: 'api', pathPrefix: '/', primary: primary.origin, shadow: shadow.origin,
      migration: { steps: [0.5, 1], minRequests: 10, minDurationMs: 1000, p99SlackMs: 1000 },
    }],
  }, TOKEN, { SHADOWPLANE_API_TOKEN: SERVICE_TOKEN });
  service = await ShadowplaneService.create(validateConfig({
    // A service with a token, as in production: the proxy's telemetry and timeline reports carry it.
    server: { port: servicePort, token: SERVICE_TOKEN },
    store: { dataDir: join(dir, 'data'), flushInterval: '1s', granularities: ['1s', '10s', '1m'], retention: { '1s': '1h' } },
    targets: [{
      name: 'checkout', kind: 'service', sampling: { rate: 1 },
      control: {
        interval: '1s', minWindows: 3, season: '0s', history: '1m', horizon: '10s', provisioningDelay: '2s', scaleUpLookahead: '2s',
        risk: { horizon: '10s', limits: [{ requests: 'errorRate', max: 0.05 }] },
      },
      respond: [RULE],
    }],
    shadows: [{ name: 'checkout-proxy', kind: 'traffic', url: proxy.adminUrl, token: TOKEN, target: 'checkout', interval: '1s' }],
  }));
  await service.start();
  // Steady client load: 50 requests a second through the proxy.
  load = setInterval(() => {
    for (let i = 0; i < 5; i++) void send(`/orders/${i}`);
  }, 100);
});

after(async () => {
  clearInterval(load);
  await proxy?.stop();
  agent.destroy();
  await service?.stop();
  await primary?.close();
  await shadow?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the primary fails: risk crosses the rule, the real proxy migrates step by step, verifies, and reports its steps on the timeline', async () => {
  // The healthy primary: the loop analyses the target, its risk warms up low, and nothing fires.
  const healthy = await waitFor('a tick with a ready failure risk', async () => (await decisions()).find((d) => d.scores?.riskReady), 90_000);
  assert.ok(healthy.scores!.risk! < 0.8, `a low risk while the primary is healthy: ${healthy.message}`);
  assert.equal((await decisions()).filter((d) => d.response).length, 0, 'no firing while the primary is healthy');

  primaryFails = true;
  const fired = await waitFor('the rule to fire on the failing primary', async () => (await decisions()).find((d) => d.reason === 'RuleFired'), 60_000);
  assert.match(fired.message, /failure risk [01]\.\d+ >= 0\.8/);
  assert.match(fired.message, /migrate route api of checkout-proxy/);

  const migration = await waitFor('the proxy to complete the migration it verified', async () => {
    const m = await proxy.migration('api');
    return m?.status === 'completed' && m;
  }, 30_000);
  assert.match(String(migration.reason), /migrate-off-failing-primary/, "the proxy keeps the rule's reason");
  assert.deepEqual(migration.history.filter((h) => h.event === 'verdict').map((h) => h.pass), [true, true], 'each step verified and passed');

  const timeline = await waitFor("the proxy's own migration events on the target's timeline", async () => {
    const own = (await decisions()).filter((d) => d.component?.name === 'checkout-proxy');
    return own.some((d) => d.message.includes('migration completed')) && own;
  }, 15_000);
  const actions = timeline.map((d) => d.message).reverse();
  assert.ok(actions.some((m) => /route api: migration to the shadow started/.test(m)), actions.join('\n'));
  assert.ok(actions.some((m) => /route api: the shadow now serves 50 % of traffic/.test(m)), actions.join('\n'));
  assert.ok(actions.some((m) => /route api: the shadow now serves 100 % of traffic, the step before verified/.test(m)), actions.join('\n'));

  // The primary keeps failing: the episode goes on, and the rule does not fire a second time.
  await new Promise((r) => setTimeout(r, 6000));
  assert.equal((await decisions()).filter((d) => d.reason === 'RuleFired').length, 1, 'one firing for the episode');
  const served = await Promise.all(Array.from({ length: 20 }, () => send('/orders/9')));
  assert.ok(served.every((s) => s === 200), `the shadow serves everything: ${served.join(',')}`);
});
