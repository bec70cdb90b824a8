/**
 * Response rules end to end on a real service (VirtualClock, SQLite) and the shipped traffic proxy
 * as its own process, with two real upstreams, driven through its admin API: the target's disk fills, its failure risk crosses the
 * rule's level for the rule's time, and the rule starts a gradual migration on the proxy — once per
 * episode, recorded as a decision with its evidence; when the risk clears, its undo sends the
 * traffic back to the primary. In review mode the firing waits for approval; in dry-run it is only recorded;
 * a failing shadow makes the proxy's own verification roll the migration back. Bad rules are
 * refused naming the field.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DecisionRecord } from '../../src/model/decision.js';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';
import { request, upstream, type TestUpstream } from '../shadows/traffic/helpers.js';
import { testService } from '../helpers/service.js';

const MIN = 60_000;
const TOKEN = 'respond-test-admin-token';
const CONTROL = { minWindows: 2, season: '0s', history: '10m', provisioningDelay: '2m', horizon: '10m', scaleUpLookahead: '5m', metric: 'load', risk: { horizon: '30m', limits: [{ metric: 'disk_used', max: 0.95 }] } };
const RULE = {
  name: 'move-off-failing-disk',
  when: { risk: 0.8, for: '2m' },
  do: { migrate: { shadow: 'checkout-proxy', route: 'api', steps: [0.5, 1] } },
  undo: { abort: { shadow: 'checkout-proxy', route: 'api' } },
};

type Env = Awaited<ReturnType<typeof testService>>;

describe('response rules act through a traffic shadow', () => {
  let env: Env;
  let proxy: ProxyProcess;
  const migration = async () => (await proxy.migration('api'))!;
  let primary: TestUpstream;
  let shadow: TestUpstream;
  let shadowFails = false;
  let proxyDir: string | undefined;
  let disk = 0.5;
  const call = async (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: unknown) => {
    const res = await env.service.api.inject({ method, url, payload: payload as never });
    return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as Record<string, any>) : {} };
  };
  /** One minute of load and disk samples, then the tick; returns the decisions that tick wrote, oldest first. */
  const minute = async (diskStep = 0): Promise<DecisionRecord[]> => {
    disk = Math.min(0.999, disk + diskStep);
    const at = env.clock.now();
    env.service.ingestor.ingestSamples([{ target: 'checkout', metric: 'load', at, value: 50 }, { target: 'checkout', metric: 'disk_used', at, value: disk }]);
    env.clock.advance(MIN);
    await env.service.controller.idle();
    await new Promise((r) => setImmediate(r));
    return (await env.service.controller.decisions('checkout', 10)).filter((d) => d.at === env.clock.now()).reverse();
  };
  const firings = async () => (await env.service.controller.decisions('checkout', 500)).filter((d) => d.response);
  const settledDecision = async (id: string) => {
    let d: DecisionRecord | undefined;
    const end = Date.now() + 5000;
    while (Date.now() < end) {
      d = await env.service.controller.decision(id);
      if (d.status !== 'submitted') return d;
      await new Promise((r) => setTimeout(r, 20));
    }
    return d!;
  };
  /** Minutes of a filling disk until a tick fires the rule; returns that firing. */
  const fillUntilFired = async (): Promise<DecisionRecord> => {
    for (let m = 0; m < 30; m++) {
      const fired = (await minute(0.03)).find((d) => d.response?.phase === 'do');
      if (fired) return fired;
    }
    const [last] = await env.service.controller.decisions('checkout', 1);
    assert.fail(`the rule never fired while the disk filled: ${JSON.stringify(last.scores)}`);
  };
  const drainUntilUndone = async (): Promise<DecisionRecord | undefined> => {
    disk = 0.5;
    for (let m = 0; m < 20; m++) {
      const undone = (await minute()).find((d) => d.response?.phase === 'undo');
      if (undone) return undone;
    }
    return undefined;
  };

  before(async () => {
    primary = await upstream((_s, res) => res.setHeader('content-type', 'application/json').end('{"ok":true}'));
    shadow = await upstream((_s, res) => {
      res.statusCode = shadowFails ? 500 : 200;
      res.setHeader('content-type', 'application/json').end('{"ok":true}');
    });
    proxyDir = mkdtempSync(join(tmpdir(), 'sp-respond-proxy-'));
    proxy = await startProxyProcess(proxyDir, {
      routes: [{ name: 'api', pathPrefix: '/', primary: primary.origin, shadow: shadow.origin, migration: { steps: [0.5, 1], minRequests: 5, minDurationMs: 0 } }],
    }, TOKEN);
    env = await testService({
      targets: [{ name: 'checkout', kind: 'service', control: CONTROL, respond: [RULE] }],
      shadows: [{ name: 'checkout-proxy', kind: 'traffic', url: proxy.adminUrl, token: TOKEN, target: 'checkout' }],
    });
    env.service.controller.start();
    for (let m = 0; m < 15; m++) await minute();
  });
  after(async () => {
    await env?.cleanup();
    await proxy?.stop();
    if (proxyDir) rmSync(proxyDir, { recursive: true, force: true });
    await primary?.close();
    await shadow?.close();
  });

  test('risk held above the level starts a migration on the proxy, once per episode; its clearing sends the traffic back', async () => {
    assert.equal((await firings()).length, 0, 'no firing while the disk is steady');
    const fired = await fillUntilFired();
    assert.equal(fired.reason, 'RuleFired');
    assert.match(fired.message, /failure risk [01]\.\d+ >= 0\.8, holding since/);
    assert.match(fired.message, /migrate route api of checkout-proxy/);
    assert.equal(fired.response!.condition, 'risk >= 0.8 for 2m');
    const done = await settledDecision(fired.id);
    assert.equal(done.status, 'succeeded', done.message);
    const m = await migration();
    assert.equal(m.status, 'running');
    assert.deepEqual(m.steps, [0.5, 1]);
    assert.match(m.reason ?? '', /move-off-failing-disk/, 'the proxy keeps the rule\'s reason');

    for (let i = 0; i < 3; i++) await minute(0.001);
    assert.equal((await firings()).filter((d) => d.response!.phase === 'do').length, 1, 'no second firing in the same episode');
    assert.ok((await call('GET', '/v1/targets/checkout/respond')).body.episodes['move-off-failing-disk'].fired);

    const undone = await drainUntilUndone();
    assert.ok(undone, 'the undo runs when the risk clears');
    assert.equal(undone.reason, 'RuleUndone');
    assert.equal((await settledDecision(undone.id)).status, 'succeeded');
    assert.equal((await migration()).status, 'aborted');
    const audit = (await call('GET', '/v1/shadows/checkout-proxy/audit')).body.audit;
    assert.deepEqual(audit.slice(0, 2).map((a: { action: string; actor: string }) => [a.action, a.actor]), [['migration-abort', 'rule:move-off-failing-disk'], ['migration-start', 'rule:move-off-failing-disk']]);
  });

  test('in review mode the firing waits for approval; dry-run only records it', async () => {
    await call('PUT', '/v1/targets/checkout/overrides/review', { why: 'change freeze' });
    const waiting = await fillUntilFired();
    assert.equal(waiting.status, 'pending-approval');
    const before = (await migration()).id;
    await minute(0.001);
    assert.equal((await env.service.controller.decision(waiting.id)).status, 'pending-approval', 'a later tick does not supersede it');
    assert.equal((await migration()).id, before, 'nothing happened before approval');
    assert.equal((await call('POST', `/v1/decisions/${waiting.id}/approve`, { why: 'go', actor: 'ann' })).status, 200);
    assert.equal((await settledDecision(waiting.id)).status, 'succeeded');
    assert.notEqual((await migration()).id, before, 'approved: the migration started');
    await call('DELETE', '/v1/targets/checkout/overrides/review', { why: 'done' });
    await drainUntilUndone();

    await call('PUT', '/v1/targets/checkout/overrides/dry-run', { why: 'just watch' });
    const migrations = (await migration()).id;
    const dry = await fillUntilFired();
    assert.equal(dry.status, 'no-action');
    assert.match(dry.message, /not carried out \(forecast-only mode\)/);
    assert.equal((await migration()).id, migrations, 'dry-run touched nothing');
    await call('DELETE', '/v1/targets/checkout/overrides/dry-run', { why: 'done' });
    await drainUntilUndone();
  });

  test('a failing shadow: the proxy\'s verification rolls the migration the rule started back', async () => {
    shadowFails = true;
    const fired = await fillUntilFired();
    assert.equal((await settledDecision(fired.id)).status, 'succeeded');
    // The proxy judges a step on its own timer once the step has its requests: send until it has.
    const deadline = Date.now() + 15_000;
    while ((await migration()).status === 'running' && Date.now() < deadline) await request(`${proxy.url}/checkout`).catch(() => undefined);
    assert.equal((await migration()).status, 'rolled_back');
    shadowFails = false;
    await drainUntilUndone();
  });

  test('bad rules are refused naming the field; good ones replace the config\'s and are audited', async () => {
    const both = await call('PUT', '/v1/targets/checkout/respond', { rules: [{ name: 'x', when: { risk: 0.5, anomaly: {} }, do: { notify: {} } }], why: 'x' });
    assert.equal(both.status, 400);
    assert.equal(both.body.problems[0].path, '/body/rules/0/when');
    const level = await call('PUT', '/v1/targets/checkout/respond', { rules: [{ name: 'x', when: { risk: 2 }, do: { notify: {} } }], why: 'x' });
    assert.equal(level.body.problems[0].path, '/body/rules/0/when/risk');
    const twice = await call('PUT', '/v1/targets/checkout/respond', { rules: [{ name: 'x', when: { risk: 0.5 }, do: { notify: {} } }, { name: 'x', when: { risk: 0.6 }, do: { notify: {} } }], why: 'x' });
    assert.equal(twice.body.problems[0].path, '/body/rules/1/name');
    const ok = await call('PUT', '/v1/targets/checkout/respond', { rules: [{ name: 'tell', when: { risk: 0.5 }, do: { notify: {} } }], why: 'only tell', actor: 'ann' });
    assert.equal(ok.status, 200);
    const view = (await call('GET', '/v1/targets/checkout/respond')).body;
    assert.equal(view.source, 'api');
    assert.deepEqual(view.rules.map((r: { name: string }) => r.name), ['tell']);
    assert.equal((await call('GET', '/v1/targets/checkout/audit')).body.audit[0].action, 'respond');
    const told = await fillUntilFired();
    assert.equal(told.status, 'succeeded');
    assert.equal(told.outcome!.reason, 'recorded (notify)');
  });

  test('a command action runs the program with the firing (diagnostics), as the command actuator does', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sp-respond-cmd-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'ran.txt');
    const script = "require('fs').writeFileSync(process.argv[1], process.env.SHADOWPLANE_RULE + '\\n' + process.env.SHADOWPLANE_EVIDENCE + '\\n' + require('fs').readFileSync(0, 'utf8'))";
    const rules = [{ name: 'diagnose', when: { risk: 0.5 }, do: { command: { command: process.execPath, args: ['-e', script, out] } } }];
    assert.equal((await call('PUT', '/v1/targets/checkout/respond', { rules, why: 'collect diagnostics' })).status, 200);
    const fired = await fillUntilFired();
    const done = await settledDecision(fired.id);
    assert.equal(done.status, 'succeeded', done.message);
    const [rule, evidence, action] = readFileSync(out, 'utf8').split('\n');
    assert.equal(rule, 'diagnose');
    assert.match(evidence, /rule "diagnose" \(risk >= 0\.5\): failure risk/);
    assert.equal((JSON.parse(action) as { target: string }).target, 'checkout');
    const bad = await call('PUT', '/v1/targets/checkout/respond', { rules: [{ name: 'x', when: { risk: 0.5 }, do: { command: { command: '' } } }], why: 'x' });
    assert.equal(bad.body.problems[0].path, '/body/rules/0/do/command/command');
  });
});
