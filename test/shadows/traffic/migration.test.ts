import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../../src/core/clock.js';
import { isCoded } from '../../../src/core/errors.js';
import { validate, MigrationPolicySchema, type MigrationPolicy } from '../../../src/shadows/traffic/config.js';
import { Migration } from '../../../src/shadows/traffic/migration.js';
import { RequestWindow } from '../../../src/shadows/traffic/stats.js';
import { request, startProxy, until, upstream } from './helpers.js';

/** A migration on a virtual clock whose windows the test fills. */
function harness(policy: Partial<MigrationPolicy>, initial = 0) {
  const clock = new VirtualClock(1_000_000);
  const primary = new RequestWindow();
  const shadow = new RequestWindow();
  const state = { weight: initial, mismatchRate: 0, recovered: false };
  const m = new Migration('r', validate(MigrationPolicySchema, policy), {
    clock,
    setWeight: (w) => (state.weight = w),
    window: () => ({ primary: primary.summary(), shadow: shadow.summary(), mismatchRate: state.mismatchRate, compared: 10 }),
    resetWindow: () => {
      primary.reset();
      shadow.reset();
    },
    primaryRecovered: () => state.recovered,
  }, initial, 'test', 100);
  const feed = (n: number, p: { latency: number; error?: boolean }, s: { latency: number; error?: boolean }) => {
    for (let i = 0; i < n; i++) {
      primary.record(p.latency, p.error ?? false);
      shadow.record(s.latency, s.error ?? false);
    }
  };
  return { clock, m, state, feed };
}

describe('migration state machine', () => {
  test('walks 1, 5, 25, 50, 100 % when every step verifies, recording each step and verdict', () => {
    const { clock, m, state, feed } = harness({ minRequests: 50, minDurationMs: 1000 });
    assert.equal(state.weight, 0.01);
    for (const expected of [0.05, 0.25, 0.5, 1]) {
      feed(50, { latency: 10 }, { latency: 11 });
      clock.advance(500);
      assert.notEqual(state.weight, expected, 'a step lasts at least minDurationMs');
      clock.advance(600);
      assert.equal(state.weight, expected);
    }
    feed(50, { latency: 10 }, { latency: 11 });
    clock.advance(1100);
    assert.equal(m.status, 'completed');
    const events = m.history.map((h) => h.event);
    assert.deepEqual(events.filter((e) => e === 'step').length, 5);
    assert.deepEqual(events.filter((e) => e === 'verdict').length, 5);
    assert.equal(events.at(-1), 'complete');
    assert.ok(m.history.filter((h) => h.event === 'verdict').every((h) => h.pass && h.evidence!.shadow.requests === 50));
  });

  test('waits for the minimum request count', () => {
    const { clock, state, feed } = harness({ minRequests: 100, minDurationMs: 0 });
    feed(99, { latency: 10 }, { latency: 10 });
    clock.advance(10_000);
    assert.equal(state.weight, 0.01);
    feed(1, { latency: 10 }, { latency: 10 });
    clock.advance(100);
    assert.equal(state.weight, 0.05);
  });

  test('a shadow error rate beyond tolerance rolls back to the last good weight', () => {
    const { clock, m, state, feed } = harness({ minRequests: 20, minDurationMs: 0 });
    feed(20, { latency: 10 }, { latency: 10 });
    clock.advance(100);
    feed(20, { latency: 10 }, { latency: 10 });
    clock.advance(100);
    assert.equal(state.weight, 0.25);
    feed(20, { latency: 10 }, { latency: 10, error: true });
    clock.advance(100);
    assert.equal(m.status, 'rolled_back');
    assert.equal(state.weight, 0.05);
    const verdict = m.history.findLast((h) => h.event === 'verdict')!;
    assert.equal(verdict.pass, false);
    assert.match(verdict.reasons![0]!, /shadow error rate 1.0000 > primary 0.0000/);
    assert.equal(m.history.at(-1)!.event, 'rollback');
  });

  test('a slow shadow p99 fails the step; rollbackTo zero goes all the way', () => {
    const { clock, m, state, feed } = harness({ minRequests: 20, minDurationMs: 0, rollbackTo: 'zero', p99Tolerance: 0.5, p99SlackMs: 2 });
    feed(20, { latency: 10 }, { latency: 16 });
    clock.advance(100);
    assert.equal(state.weight, 0.05);
    feed(20, { latency: 10 }, { latency: 18 });
    clock.advance(100);
    assert.equal(m.status, 'rolled_back');
    assert.equal(state.weight, 0);
    assert.match(m.history.findLast((h) => h.event === 'verdict')!.reasons![0]!, /shadow p99 18.0 ms > primary 10.0 ms/);
  });

  test('a high mismatch rate fails the step', () => {
    const { clock, m, state, feed } = harness({ minRequests: 5, minDurationMs: 0, maxMismatchRate: 0.1 });
    state.mismatchRate = 0.3;
    feed(5, { latency: 1 }, { latency: 1 });
    clock.advance(100);
    assert.equal(m.status, 'rolled_back');
    assert.equal(state.weight, 0);
  });

  test('a recovered primary rolls back when the policy says so', () => {
    const { clock, m, state } = harness({ rollbackOnPrimaryRecovery: true });
    clock.advance(100);
    assert.equal(m.status, 'running');
    state.recovered = true;
    clock.advance(100);
    assert.equal(m.status, 'rolled_back');
    assert.equal(state.weight, 0);
    assert.deepEqual(m.history.at(-1)!.reasons, ['primary recovered']);
  });

  test('operator commands: pause holds, resume continues, promote advances, abort ends; finished migrations refuse commands', () => {
    const { clock, m, state, feed } = harness({ minRequests: 5, minDurationMs: 0 });
    m.pause();
    feed(5, { latency: 1 }, { latency: 1 });
    clock.advance(1000);
    assert.equal(state.weight, 0.01);
    m.resume();
    feed(5, { latency: 1 }, { latency: 1 });
    clock.advance(100);
    assert.equal(state.weight, 0.05);
    m.promote();
    assert.equal(state.weight, 0.25);
    assert.equal(m.lastGoodWeight, 0.05);
    m.rollback();
    assert.equal(state.weight, 0.05);
    assert.throws(() => m.promote(), (e) => isCoded(e, 'SHADOWPLANE_ERR_MIGRATION_STATE'));
    const h2 = harness({});
    h2.m.abort();
    assert.equal(h2.state.weight, 0);
    assert.equal(h2.m.status, 'aborted');
    assert.throws(() => h2.m.resume(), (e) => isCoded(e, 'SHADOWPLANE_ERR_MIGRATION_STATE'));
  });
});

describe('migration through the proxy with real servers', () => {
  // Generous p99 slack: the machine is shared, and these tests are about the mechanism, not latency.
  const policy = { steps: [0.2, 0.6, 1], minRequests: 15, minDurationMs: 0, p99SlackMs: 2000 };

  async function drive(url: string, done: () => boolean, max = 3000): Promise<{ byServer: Map<string, number>; statuses: number[] }> {
    const byServer = new Map<string, number>();
    const statuses: number[] = [];
    for (let i = 0; i < max && !done(); i += 4) {
      const batch = await Promise.all(Array.from({ length: 4 }, () => request(`${url}/m`)));
      for (const a of batch) {
        statuses.push(a.status);
        byServer.set(a.body, (byServer.get(a.body) ?? 0) + 1);
      }
    }
    return { byServer, statuses };
  }

  test('a healthy shadow takes all traffic step by step; every client request succeeds', async () => {
    const primary = await upstream((_s, res) => res.end('primary'));
    const shadow = await upstream((_s, res) => res.end('shadow'));
    const { proxy, url } = await startProxy({ routes: [{ name: 'r', primary: primary.origin, shadow: shadow.origin, migration: policy }] });
    const r = proxy.route('r')!;
    const m = r.startMigration(r.cfg.migration, 'risk threshold crossed', 50);
    const run = await drive(url, () => m.status !== 'running');
    assert.equal(m.status, 'completed', JSON.stringify(m.history.map((h) => [h.event, h.weight, h.reasons])));
    assert.ok(run.statuses.every((s) => s === 200));
    assert.deepEqual(m.history.filter((h) => h.event === 'step').map((h) => h.weight), [0.2, 0.6, 1]);
    const after = await Promise.all(Array.from({ length: 10 }, () => request(`${url}/m`)));
    assert.ok(after.every((a) => a.body === 'shadow'));
    await proxy.close(0);
    await primary.close();
    await shadow.close();
  });

  test('a shadow that fails verification is rolled back automatically', async () => {
    const primary = await upstream((_s, res) => res.end('primary'));
    const shadow = await upstream((_s, res) => {
      res.statusCode = 503;
      res.end('shadow broken');
    });
    const { proxy, url } = await startProxy({ routes: [{ name: 'r', primary: primary.origin, shadow: shadow.origin, migration: policy, health: { outlierConsecutiveFailures: 1000 } }] });
    const r = proxy.route('r')!;
    const m = r.startMigration(r.cfg.migration, 'manual', 50);
    await drive(url, () => m.status !== 'running');
    assert.equal(m.status, 'rolled_back');
    assert.equal(r.weight, 0);
    const after = await Promise.all(Array.from({ length: 10 }, () => request(`${url}/m`)));
    assert.ok(after.every((a) => a.body === 'primary' && a.status === 200));
    await proxy.close(0);
    await primary.close();
    await shadow.close();
  });

  test('a degraded primary that recovers brings the traffic back', async () => {
    let primaryOk = false;
    const primary = await upstream((s, res) => {
      res.statusCode = primaryOk ? 200 : 503;
      res.end(s.url === '/health' ? '' : 'primary');
    });
    const shadow = await upstream((_s, res) => res.end('shadow'));
    const { proxy, url } = await startProxy({
      routes: [{
        name: 'r', primary: primary.origin, shadow: shadow.origin,
        migration: { ...policy, rollbackOnPrimaryRecovery: true, recoveryMaxP99Ms: 1000 },
        health: { path: '/health', intervalMs: 30, unhealthyThreshold: 1, healthyThreshold: 2, outlierEjectMs: 200 },
      }],
    });
    const r = proxy.route('r')!;
    try {
      const m = r.startMigration(r.cfg.migration, 'primary degraded', 50);
      await drive(url, () => m.status !== 'running');
      assert.equal(m.status, 'completed', JSON.stringify(m.history.map((h) => [h.event, h.weight, h.reasons])));
      primaryOk = true;
      await until(() => r.weight === 0, 10_000, 'rollback after primary recovery');
      assert.deepEqual(m.history.at(-1)!.reasons, ['primary recovered']);
    } finally {
      await proxy.close(0);
      await primary.close();
      await shadow.close();
    }
  });
});
