/** A fleet's loops tick at phases of their own within each step (control.tickSpread), not all at the boundary. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCoded } from '../../src/core/errors.js';
import { validateConfig } from '../../src/config.js';
import { tickOffsetMs } from '../../src/control/loop.js';
import { T0, testService } from '../helpers/service.js';

const MIN = 60_000;

test('a target keeps its tick offset, below the spread and the step, and a fleet spreads over the spread', () => {
  const names = Array.from({ length: 1000 }, (_, i) => `fleet-${i}`);
  const offsets = names.map((n) => tickOffsetMs(n, 30_000, MIN));
  assert.deepEqual(names.map((n) => tickOffsetMs(n, 30_000, MIN)), offsets, 'the same name gets the same offset');
  assert.ok(offsets.every((o) => Number.isInteger(o) && o >= 0 && o < 30_000));
  // spread over the 30 s: every 3 s bucket holds some of 1,000 targets
  const buckets = new Set(offsets.map((o) => Math.floor(o / 3000)));
  assert.equal(buckets.size, 10);
  assert.ok(names.every((n) => tickOffsetMs(n, 10 * MIN, MIN) < MIN), 'a spread beyond the step stays within the step');
  assert.ok(names.every((n) => tickOffsetMs(n, 0, MIN) === 0), 'no spread: on the boundary');
});

test('a loop ticks at its offset after each step boundary', async () => {
  const env = await testService({ control: { tickSpread: '45s' }, targets: [{ name: 'orders-db', kind: 'database', sampling: { rate: 1 } }] });
  try {
    const offset = tickOffsetMs('orders-db', 45_000, MIN);
    assert.ok(offset > 0);
    const loop = env.service.controller.loop('orders-db');
    env.service.controller.start();
    env.service.engine.addEvent('orders-db', { op: 'read', bytes: 1, latencyMs: 1, at: T0 + 1000 }, 1);
    const ticks: number[] = [];
    for (const step of [offset - 1, 1, MIN - 1, 1]) {
      env.clock.advance(step);
      await env.service.controller.idle();
      const at = loop.latestDecision()?.at;
      if (at !== undefined && at !== ticks.at(-1)) ticks.push(at);
    }
    assert.deepEqual(ticks, [T0 + offset, T0 + MIN + offset]);
  } finally {
    await env.cleanup();
  }
});

test('control.tickSpread must be a duration, and the error names it', () => {
  assert.throws(
    () => validateConfig({ control: { tickSpread: 'soon' } }),
    (err: unknown) => isCoded(err, 'SHADOWPLANE_ERR_CONFIG_INVALID') && err.problems.some((p: { path: string; message: string }) => p.path === '/control/tickSpread' && /duration/.test(p.message)),
  );
  assert.equal(validateConfig({}).control.tickSpread, '30s');
});

test('with control.concurrentTicks 1 every loop of a fleet still ticks once a step, one after another', async () => {
  const names = Array.from({ length: 6 }, (_, i) => `db-${i}`);
  const env = await testService({ control: { tickSpread: '0s', concurrentTicks: 1 }, targets: names.map((name) => ({ name, kind: 'database', sampling: { rate: 1 } })) });
  try {
    env.service.controller.start();
    for (const name of names) env.service.engine.addEvent(name, { op: 'read', bytes: 1, latencyMs: 1, at: T0 + 1000 }, 1);
    for (const step of [MIN, MIN]) {
      env.clock.advance(step);
      for (let i = 0; i < names.length; i++) await env.service.controller.idle();
    }
    assert.deepEqual(names.map((n) => env.service.controller.loop(n).latestDecision()?.at), names.map(() => T0 + 2 * MIN));
  } finally {
    await env.cleanup();
  }
});

test('control.concurrentTicks must be a whole number of at least 1, and the error names it', () => {
  for (const bad of [0, 2.5, 'four']) {
    assert.throws(
      () => validateConfig({ control: { concurrentTicks: bad } }),
      (err: unknown) => isCoded(err, 'SHADOWPLANE_ERR_CONFIG_INVALID') && err.problems.some((p: { path: string }) => p.path === '/control/concurrentTicks'),
    );
  }
  assert.equal(validateConfig({}).control.concurrentTicks, 4);
});
