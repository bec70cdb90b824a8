/**
 * The utilisation risk of the live loop (real service, VirtualClock, SQLite): steps replayed from
 * the history read at start are measured against the units that served them, not today's. History
 * from before the loop ever ran has no known units, so it does not count; a restarted loop replays
 * its history against the units its stored decisions recorded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite.js';
import { Window } from '../../src/store/window.js';
import { testService } from '../helpers/service.js';

const MIN = 60_000;
const CONTROL = {
  metric: 'load', capacityPerUnit: 100, initialUnits: 2, minUnits: 2, maxUnits: 2, minWindows: 2, season: '0s', history: '30m',
  provisioningDelay: '2m', horizon: '10m', scaleUpLookahead: '5m',
};
const TARGET = { name: 'shop', kind: 'service', actuator: { type: 'replay', provisioningDelayMs: 2 * MIN }, control: CONTROL };

type Env = Awaited<ReturnType<typeof testService>>;

/** Writes closed one-minute load windows for the `minutes` before the clock's current minute (as the demo does). */
async function history(env: Env, minutes: number, load: (m: number) => number): Promise<void> {
  const now = env.clock.now();
  const start = now - (now % MIN) - minutes * MIN;
  await env.service.store.writeWindows(Array.from({ length: minutes }, (_, m) => {
    const w = new Window(start + m * MIN, 60);
    w.addSample(start + m * MIN, load(m));
    return w.toRow('shop', 'metric', 'load', true);
  }));
}

async function tick(env: Env, load: number) {
  env.service.ingestor.ingestSamples([{ target: 'shop', metric: 'load', at: env.clock.now(), value: load }]);
  env.clock.advance(MIN);
  await env.service.controller.idle();
  await new Promise((r) => setImmediate(r));
  const [latest] = await env.service.controller.decisions('shop', 1);
  return latest;
}

test('history from before the loop ran does not count against today\'s units: the risk is right from the first tick', async () => {
  const env = await testService({ targets: [TARGET] });
  try {
    // Yesterday's busy half hour (load 300: 1.5 x today's 2 units of 100), then today's 130 (0.65).
    await history(env, 30, (m) => (m < 29 ? 300 : 130));
    env.service.controller.start();
    const first = await tick(env, 130);
    assert.equal(first.inputs.ready, 2);
    assert.ok(first.inputs.windows >= 30, `history read: ${first.inputs.windows} steps`);
    const util = first.scores?.riskDrivers?.find((d) => d.signal === 'utilisation');
    assert.equal(util, undefined, `utilisation driver ${JSON.stringify(util)}`);
    assert.ok((first.scores?.risk ?? 1) < 0.5, `risk ${first.scores?.risk}`);
    // Live steps do count: a load past today's capacity is reported as such.
    let last = first;
    for (let m = 0; m < 5; m++) last = await tick(env, 260);
    const past = last.scores?.riskDrivers?.find((d) => d.signal === 'utilisation');
    assert.ok(past && past.probability > 0.9, `utilisation driver ${JSON.stringify(past)}`);
  } finally {
    await env.cleanup();
  }
});

test('after a restart the history is replayed against the units the stored decisions recorded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-util-'));
  const path = join(dir, 'store.db');
  try {
    const first = await testService({ targets: [TARGET] }, new SqliteStore(path));
    try {
      first.service.controller.start();
      for (let m = 0; m < 10; m++) await tick(first, 120);
    } finally {
      await first.service.stop();
      rmSync(first.dataDir, { recursive: true, force: true });
    }
    // The same store, a new service (a restart) whose fleet has 1 unit: the replayed steps were
    // served by 2 units each (0.6 of their capacity), not by today's 1 (1.2: past the limit).
    const one = { ...TARGET, control: { ...CONTROL, initialUnits: 1, minUnits: 1, maxUnits: 1 } };
    const second = await testService({ targets: [one] }, new SqliteStore(path));
    try {
      second.clock.advance(10 * MIN);
      second.service.controller.start();
      const d = await tick(second, 70);
      assert.equal(d.inputs.ready, 1);
      assert.ok(d.inputs.windows >= 10, `history read: ${d.inputs.windows} steps`);
      const util = d.scores?.riskDrivers?.find((x) => x.signal === 'utilisation');
      assert.ok(!util || util.probability < 0.5, `utilisation driver ${JSON.stringify(util)}`);
    } finally {
      await second.cleanup();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
