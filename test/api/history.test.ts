/**
 * POST /v1/targets/{name}/history refuses a batch that could split a window or reach the live
 * rollup, naming each field and rule; a good batch is written as closed windows and kept the
 * second time. (The `shadowplane import` command over it: test/cli/import.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sketchIndex } from '../../src/store/sketch.js';
import { Window } from '../../src/store/window.js';
import { testService, T0 } from '../helpers/service.js';

const HOUR = 3_600_000;
let env: Awaited<ReturnType<typeof testService>>;
before(async () => {
  env = await testService({});
  env.clock.advance(5 * HOUR);
});
after(() => env.cleanup());

const post = async (body: Record<string, unknown>) => {
  const res = await env.service.api.inject({ method: 'POST', url: '/v1/targets/orders-db/history', payload: { source: 'test', why: 'backfill', ...body } });
  return { status: res.statusCode, body: JSON.parse(res.body) };
};

test('a batch is aligned to the coarsest window and stops before the live rollup', async () => {
  const limits = JSON.parse((await env.service.api.inject({ method: 'GET', url: '/v1/targets/orders-db/history' })).body);
  assert.deepEqual(limits, { target: 'orders-db', granularities: [60, 300, 3600], alignMs: HOUR, importableBefore: T0 + 4 * HOUR });
  const bad = await post({ from: T0 + 1, to: T0 + 5 * HOUR, series: [{ metric: 'cpu', points: [[T0 + 1, 1], [T0 - 1, 2]] }, { metric: 'cpu', points: [] }] });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.body.problems, [
    { path: '/body/from', message: `must be aligned to the coarsest granularity (a multiple of ${HOUR} ms)` },
    { path: '/body/to', message: `must be at most ${T0 + 4 * HOUR} (${new Date(T0 + 4 * HOUR).toISOString()}): later windows may still be open in the live rollup` },
    { path: '/body/series/0/points/1', message: 'time must lie in [from, to)' },
    { path: '/body/series/1', message: 'repeats the series cpu of series 0' },
  ]);
  const shape = await post({ from: T0, to: T0 + HOUR, series: [{ metric: 'cpu load', points: [[T0, 1]] }] });
  assert.equal(shape.status, 400);
  assert.equal(shape.body.problems[0].path, '/body/series/0/metric');
});

test('a good batch is written once, and leaves requests recorded in the same windows alone', async () => {
  const live = new Window(T0, 60);
  live.addRequest(T0, 5, sketchIndex(5), 100, 1, false, 1, 1);
  await env.service.store.writeWindows([live.toRow('orders-db', 'total', '', true)]);
  const points = Array.from({ length: 120 }, (_, i) => [T0 + i * 60_000, i]);
  const one = await post({ from: T0, to: T0 + 2 * HOUR, series: [{ metric: 'cpu', labels: { core: '0' }, points }] });
  assert.equal(one.status, 200, JSON.stringify(one.body));
  assert.deepEqual({ ...one.body, kept: one.body.kept.length }, { target: 'orders-db', from: T0, to: T0 + 2 * HOUR, series: 1, points: 120, windows: 120 + 24 + 2, kept: 0 });
  const two = await post({ from: T0, to: T0 + 2 * HOUR, series: [{ metric: 'cpu', labels: { core: '0' }, points }] });
  assert.deepEqual(two.body.kept, ['cpu{core="0"}']);
  assert.equal(two.body.windows, 0);
  const [total] = await env.service.store.queryWindows({ target: 'orders-db', granularity: 60, dim: 'total', key: '', from: T0, to: T0 + 60_000 });
  assert.equal(total.count, 1);
});
