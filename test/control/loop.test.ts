/**
 * The live control loop on a VirtualClock with a real service and a real store: proactive scale-up
 * ahead of a recurring ramp, reactive scale-up when the forecast misses, InsufficientWindows on
 * thin data, conditions written only on change, decision records persisted and queryable (SQLite
 * and PostgreSQL).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DecisionRecord } from '../../src/model/decision.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { ShadowStore } from '../../src/store/store.js';
import { TEST_PG_URL, postgresSkipReason, uniqueSchema } from '../helpers/postgres.js';
import { testService } from '../helpers/service.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MIN = 60_000;

/** Load per minute of the hour: 20 for 40 minutes, a ramp to 100 over 10, 100 for 10. */
function hourly(minute: number): number {
  const m = minute % 60;
  if (m < 40) return 20;
  if (m < 50) return 20 + (m - 40) * 8;
  return 100;
}

const SHOP = {
  name: 'shop',
  kind: 'service',
  actuator: { type: 'replay', provisioningDelayMs: 5 * MIN },
  control: {
    metric: 'load', capacityPerUnit: 10, provisioningDelay: '5m', initialUnits: 3, minUnits: 1, maxUnits: 20,
    season: '1h', history: '3h', horizon: '15m', scaleUpLookahead: '10m', scaleInStabilization: '5m', scaleInOnForecast: true, minWindows: 30,
  },
};

/** Counts condition writes of a store. */
function counting(store: ShadowStore) {
  const writes: string[] = [];
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'putCondition') {
        return async (name: string, c: { type: string; status: string; reason: string }) => {
          writes.push(`${c.type}=${c.status}/${c.reason}`);
          return target.putCondition(name, c as never);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { store: proxy, writes };
}

/** Runs `minutes` minutes: one sample per minute at its start, then the tick at its end. */
async function run(env: Awaited<ReturnType<typeof testService>>, from: number, minutes: number, load: (m: number) => number) {
  for (let m = from; m < from + minutes; m++) {
    env.service.ingestor.ingestSamples([{ target: 'shop', metric: 'load', at: env.clock.now(), value: load(m) }]);
    env.clock.advance(MIN);
    await env.service.controller.idle();
    // let executor continuations (verification polls) run between minutes
    await new Promise((r) => setImmediate(r));
  }
}

function scenario(name: string, open: () => Promise<ShadowStore | string>, close: (s: ShadowStore) => Promise<void>) {
  describe(`control loop scenario on ${name}`, () => {
    let env: Awaited<ReturnType<typeof testService>>;
    let writes: string[];
    let skip: string | undefined;
    let inner: ShadowStore;
    before(async () => {
      const opened = await open();
      if (typeof opened === 'string') {
        skip = opened;
        return;
      }
      inner = opened;
      const c = counting(opened);
      writes = c.writes;
      env = await testService({ targets: [SHOP] }, c.store);
      env.service.controller.start();
    });
    after(async () => {
      if (env) await env.cleanup();
      if (inner) await close(inner);
    });

    test('thin data: DataComplete=False InsufficientWindows and reactive decisions, then the forecast takes over', async (t) => {
      if (skip) return t.skip(skip);
      await run(env, 0, 10, hourly);
      const conditions = await env.service.controller.conditions('shop');
      const dc = conditions.find((c) => c.type === 'DataComplete')!;
      assert.equal(dc.status, 'False');
      assert.equal(dc.reason, 'InsufficientWindows');
      const [latest] = await env.service.controller.decisions('shop', 1);
      assert.equal(latest.recommendation?.reason, 'InsufficientData');
      assert.equal(latest.forecast, null);
      assert.equal(latest.inputs.windows, 10);
      await run(env, 10, 170, hourly);
      const after = (await env.service.controller.conditions('shop')).find((c) => c.type === 'DataComplete')!;
      assert.equal(after.status, 'True');
      assert.equal(after.reason, 'EnoughWindows');
    });

    test('proactive: the units rise ahead of the recurring ramp, before demand does', async (t) => {
      if (skip) return t.skip(skip);
      const hourStart = env.clock.now();
      await run(env, 180, 60, hourly);
      const decisions = (await env.service.controller.decisions('shop', 60)).reverse();
      const ups = decisions.filter((d) => d.action && d.action.to > d.action.from);
      assert.ok(ups.length > 0, 'no scale-up in the fourth hour');
      const first = ups[0];
      assert.equal(first.action!.mode, 'proactive', JSON.stringify(first.recommendation));
      assert.match(first.reason, /^ProactiveForecastAboveThreshold/);
      // decided before the ramp starts (minute 40): demand was still the low plateau
      assert.ok(first.at <= hourStart + 40 * MIN, `first scale-up at minute ${(first.at - hourStart) / MIN}`);
      assert.equal(first.inputs.demand, 20);
      assert.ok(first.forecast && first.forecast.intervals[0].hi.length >= 6);
      assert.ok(first.scores && first.scores.anomaly >= 0 && first.scores.anomaly <= 1);
      // its task was carried out and verified on the fleet
      const stored = await env.service.controller.decision(first.id);
      assert.equal(stored.status, 'succeeded', JSON.stringify(stored.outcome));
      assert.match(stored.outcome!.reason, /observed/);
    });

    test('reactive: a spike no forecast saw is met on observed use', async (t) => {
      if (skip) return t.skip(skip);
      // minute 240 + 10 is on the low plateau; push demand far above it
      await run(env, 240, 10, hourly);
      await run(env, 250, 2, () => 150);
      const [latest] = await env.service.controller.decisions('shop', 1);
      const recent = await env.service.controller.decisions('shop', 2);
      const reactive = recent.find((d) => d.recommendation?.mode === 'reactive');
      assert.ok(reactive, JSON.stringify(recent.map((d) => d.recommendation)));
      assert.equal(reactive.recommendation!.reason, 'ReactiveUtilisationAbove90');
      assert.ok(latest.inputs.demand === 150);
    });

    test('conditions are written only when they change; records are queryable by id and page', async (t) => {
      if (skip) return t.skip(skip);
      const ticks = 252;
      // Ready, DataComplete x2, Paused, DryRun, ScalingActive and ScalingLimited change a few times: far fewer writes than ticks
      assert.ok(writes.length < ticks / 4, `${writes.length} condition writes for ${ticks} ticks: ${writes.join(' ')}`);
      assert.equal(writes.filter((w) => w.startsWith('Ready=')).length, 1);
      assert.deepEqual(writes.filter((w) => w.startsWith('DataComplete=')), ['DataComplete=False/InsufficientWindows', 'DataComplete=True/EnoughWindows']);
      const page1 = await env.service.controller.decisions('shop', 5);
      const page2 = await env.service.controller.decisions('shop', 5, page1.at(-1)!.at);
      assert.equal(page1.length, 5);
      assert.ok(page2[0].at < page1.at(-1)!.at);
      const byId: DecisionRecord = await env.service.controller.decision(page1[0].id);
      assert.deepEqual(byId, page1[0]);
      const all = await inner.listDecisions({ target: 'shop', limit: 1000 });
      assert.equal(all.length, ticks);
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'sp-ctl-'));
scenario('SQLite', async () => new SqliteStore(join(dir, 'ctl.db')), async (s) => {
  await s.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});
scenario(
  'PostgreSQL',
  async () => (await postgresSkipReason()) ?? new PostgresStore({ url: TEST_PG_URL, schema: uniqueSchema('sp_ctl') }),
  async (s) => {
    const pg = new PostgresStore({ url: TEST_PG_URL, schema: (s as unknown as { options: { schema: string } }).options.schema });
    await pg.dropSchema();
    await pg.close();
  },
);
