/** One suite, both Shadow Store backends: SQLite (a temporary file) and the real PostgreSQL. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PostgresStore } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { ShadowStore, TargetRecord } from '../../src/store/store.js';
import type { CapacityRun } from '../../src/model/capacity.js';
import type { DecisionRecord } from '../../src/model/decision.js';
import type { AnomalyEvent } from '../../src/model/detect.js';
import { Window, type WindowRow } from '../../src/store/window.js';
import { TEST_PG_URL, postgresSkipReason, uniqueSchema } from '../helpers/postgres.js';

function row(target: string, start: number, over: Partial<WindowRow> = {}): WindowRow {
  const w = new Window(start, 60);
  w.addRequest(start + 1000, 12.5, Math.ceil(Math.log(12.5) / Math.log(1.01 / 0.99)), 100, 2, false, 2, 0.5);
  return { ...w.toRow(target, 'table', 'orders', true), ...over };
}

const target = (name: string): TargetRecord => ({ name, kind: 'database', labels: { team: 'a' }, samplingRate: 0.25, scrape: { url: 'http://127.0.0.1:9/metrics', interval: '15s' }, source: 'api', createdAt: 1, updatedAt: 2 });

function storeSuite(name: string, open: () => Promise<ShadowStore | string>, cleanup: (store: ShadowStore) => Promise<void>) {
  describe(`Shadow Store on ${name}`, () => {
    let store: ShadowStore;
    let skip: string | undefined;
    before(async () => {
      const opened = await open();
      if (typeof opened === 'string') skip = opened;
      else {
        store = opened;
        await store.init();
        await store.init(); // idempotent
      }
    });
    after(async () => {
      if (store) await cleanup(store);
    });

    test('windows round-trip exactly, NaN included, and upserts replace', async (t) => {
      if (skip) return t.skip(skip);
      const r = row('a', 60_000, { min: Number.NaN, last: Number.NaN });
      await store.writeWindows([r]);
      const [back] = await store.queryWindows({ target: 'a', granularity: 60, dim: 'table', key: 'orders', from: 0, to: 1e15 });
      assert.deepEqual({ ...back, sketch: back.sketch.toString('hex') }, { ...r, sketch: r.sketch.toString('hex') });
      await store.writeWindows([{ ...r, count: 7 }]);
      const again = await store.queryWindows({ target: 'a', granularity: 60, dim: 'table', key: 'orders', from: 0, to: 1e15 });
      assert.equal(again.length, 1);
      assert.equal(again[0].count, 7);
    });

    test('range queries are ordered, half-open, and per series', async (t) => {
      if (skip) return t.skip(skip);
      await store.writeWindows([row('b', 180_000), row('b', 60_000), row('b', 120_000), row('b', 120_000, { key: 'users' })]);
      const got = await store.queryWindows({ target: 'b', granularity: 60, dim: 'table', key: 'orders', from: 60_000, to: 180_000 });
      assert.deepEqual(got.map((w) => w.start), [60_000, 120_000]);
    });

    test('open windows are listed for recovery; final ones are not', async (t) => {
      if (skip) return t.skip(skip);
      await store.writeWindows([row('c', 60_000, { final: false }), row('c', 120_000)]);
      const open = (await store.loadOpenWindows()).filter((w) => w.target === 'c');
      assert.deepEqual(open.map((w) => w.start), [60_000]);
    });

    test('a window written open, then final, is one window: read once, no longer open', async (t) => {
      if (skip) return t.skip(skip);
      await store.writeWindows([row('c2', 60_000, { final: false, count: 1 }), row('c2', 120_000, { final: false })]);
      await store.writeWindows([row('c2', 60_000, { count: 5 })]);
      const back = await store.queryWindows({ target: 'c2', granularity: 60, dim: 'table', key: 'orders', from: 0, to: 1e15 });
      assert.deepEqual(back.map((w) => [w.start, w.final, w.count]), [[60_000, true, 5], [120_000, false, 1]]);
      const open = (await store.loadOpenWindows()).filter((w) => w.target === 'c2');
      assert.deepEqual(open.map((w) => w.start), [120_000]);
      const top = await store.topKeys({ target: 'c2', granularity: 60, dim: 'table', from: 0, to: 1e15, by: 'count', limit: 10 });
      assert.deepEqual(top.map((r) => [r.key, r.count]), [['orders', 6]]);
    });

    test('top keys sum over the range and rank by count or bytes', async (t) => {
      if (skip) return t.skip(skip);
      await store.writeWindows([
        row('d', 60_000, { key: 'orders', estCount: 10, estBytes: 1 }),
        row('d', 120_000, { key: 'orders', estCount: 10, estBytes: 1 }),
        row('d', 60_000, { key: 'users', estCount: 15, estBytes: 100 }),
      ]);
      const byCount = await store.topKeys({ target: 'd', granularity: 60, dim: 'table', from: 0, to: 1e15, by: 'count', limit: 10 });
      assert.deepEqual(byCount.map((r) => [r.key, r.estCount]), [['orders', 20], ['users', 15]]);
      const byBytes = await store.topKeys({ target: 'd', granularity: 60, dim: 'table', from: 0, to: 1e15, by: 'bytes', limit: 1 });
      assert.deepEqual(byBytes.map((r) => r.key), ['users']);
    });

    test('compaction deletes only final windows older than the cut', async (t) => {
      if (skip) return t.skip(skip);
      await store.writeWindows([row('e', 60_000), row('e', 120_000, { final: false }), row('e', 600_000)]);
      const deleted = await store.deleteWindowsBefore(60, 300_000);
      assert.ok(deleted >= 1);
      const left = await store.queryWindows({ target: 'e', granularity: 60, dim: 'table', key: 'orders', from: 0, to: 1e15 });
      assert.deepEqual(left.map((w) => w.start), [120_000, 600_000]);
    });

    test('compaction cuts one granularity across every series and leaves the others', async (t) => {
      if (skip) return t.skip(skip);
      const coarse = (target: string, start: number) => ({ ...row(target, start), granularity: 300 });
      await store.writeWindows([row('e1', 60_000), row('e2', 60_000, { key: 'users' }), row('e2', 900_000), coarse('e1', 0), coarse('e2', 0)]);
      assert.ok((await store.deleteWindowsBefore(60, 300_000)) >= 2);
      const left = async (target: string, granularity: number, key = 'orders') =>
        (await store.queryWindows({ target, granularity, dim: 'table', key, from: 0, to: 1e15 })).map((w) => w.start);
      assert.deepEqual(await left('e1', 60), []);
      assert.deepEqual(await left('e2', 60, 'users'), []);
      assert.deepEqual(await left('e2', 60), [900_000]);
      assert.deepEqual(await left('e1', 300), [0]);
      assert.deepEqual(await left('e2', 300), [0]);
    });

    test('a large batch over many series is written whole; a row given twice keeps the last', async (t) => {
      if (skip) return t.skip(skip);
      const rows: WindowRow[] = [];
      for (let k = 0; k < 60; k++) for (let m = 1; m <= 100; m++) rows.push(row('big', m * 60_000, { key: `t${k}`, estCount: k * 1000 + m }));
      rows.push(row('big', 60_000, { key: 't0', estCount: -1 }));
      const series = await store.seriesCount();
      await store.writeWindows(rows);
      assert.equal(await store.seriesCount(), series + 60);
      const t7 = await store.queryWindows({ target: 'big', granularity: 60, dim: 'table', key: 't7', from: 0, to: 1e15 });
      assert.deepEqual(t7.map((w) => w.estCount), Array.from({ length: 100 }, (_, i) => 7001 + i));
      const [first] = await store.queryWindows({ target: 'big', granularity: 60, dim: 'table', key: 't0', from: 0, to: 120_000 });
      assert.equal(first.estCount, -1);
      const top = await store.topKeys({ target: 'big', granularity: 60, dim: 'table', from: 0, to: 1e15, by: 'count', limit: 2 });
      assert.deepEqual(top.map((r) => r.key), ['t59', 't58']);
    });

    test('a refused batch writes nothing and the error names the refused value', async (t) => {
      if (skip) return t.skip(skip);
      // SQLite stores NaN as NULL, which the sum column refuses; PostgreSQL text cannot hold a NUL.
      const bad = store.backend === 'sqlite' ? row('bad', 120_000, { sum: Number.NaN }) : row('bad', 120_000, { key: 'a\u0000b' });
      await assert.rejects(store.writeWindows([row('bad', 60_000), bad]), (err: Error & { code?: string }) =>
        err.code === 'SHADOWPLANE_ERR_STORE_REJECTED' && (store.backend === 'sqlite' ? /windows\.sum/ : /0x00/).test(err.message));
      assert.deepEqual(await store.queryWindows({ target: 'bad', granularity: 60, dim: 'table', key: 'orders', from: 0, to: 1e15 }), []);
      await store.writeWindows([row('bad', 60_000)]);
      assert.equal((await store.queryWindows({ target: 'bad', granularity: 60, dim: 'table', key: 'orders', from: 0, to: 1e15 })).length, 1);
    });

    test('a deleted target takes its series along; written again, it is readable again', async (t) => {
      if (skip) return t.skip(skip);
      await store.writeWindows([row('again', 60_000), row('again', 60_000, { key: 'users' })]);
      const series = await store.seriesCount();
      await store.deleteTarget('again');
      assert.equal(await store.seriesCount(), series - 2);
      await store.writeWindows([row('again', 120_000)]);
      const back = await store.queryWindows({ target: 'again', granularity: 60, dim: 'table', key: 'orders', from: 0, to: 1e15 });
      assert.deepEqual(back.map((w) => w.start), [120_000]);
    });

    test('series emptied by retention are deleted; one with an open window stays; written again, a series is readable again', async (t) => {
      if (skip) return t.skip(skip);
      // A granularity of its own: the retention delete below touches no other test's windows.
      const gc = (start: number, key: string, final = true) => row('gc', start, { key, final, granularity: 7 });
      await store.deleteEmptySeries();
      await store.writeWindows([gc(60_000, 'gone'), gc(60_000, 'kept'), gc(900_000, 'kept'), gc(60_000, 'open', false)]);
      const series = await store.seriesCount();
      assert.equal(await store.deleteWindowsBefore(7, 300_000), 2);
      assert.equal(await store.seriesCount(), series - 1);
      assert.equal(await store.deleteEmptySeries(), 1);
      assert.equal(await store.deleteEmptySeries(), 0);
      const starts = async (key: string) => (await store.queryWindows({ target: 'gc', granularity: 7, dim: 'table', key, from: 0, to: 1e15 })).map((w) => w.start);
      assert.deepEqual([await starts('gone'), await starts('kept'), await starts('open')], [[], [900_000], [60_000]]);
      await store.writeWindows([gc(1_200_000, 'gone')]);
      assert.deepEqual(await starts('gone'), [1_200_000]);
      assert.equal(await store.seriesCount(), series);
    });

    test('targets persist, update and delete together with their windows', async (t) => {
      if (skip) return t.skip(skip);
      await store.putTarget(target('f'));
      assert.deepEqual(await store.getTarget('f'), target('f'));
      await store.putTarget({ ...target('f'), samplingRate: 0.5, scrape: undefined });
      const updated = await store.getTarget('f');
      assert.equal(updated?.samplingRate, 0.5);
      assert.equal(updated?.scrape, undefined);
      await store.writeWindows([row('f', 60_000)]);
      assert.equal(await store.deleteTarget('f'), true);
      assert.equal(await store.deleteTarget('f'), false);
      assert.equal(await store.getTarget('f'), undefined);
      assert.equal((await store.queryWindows({ target: 'f', granularity: 60, dim: 'table', key: 'orders', from: 0, to: 1e15 })).length, 0);
    });

    test('decisions, conditions, control state and audit round-trip; deleting a target keeps only its audit', async (t) => {
      if (skip) return t.skip(skip);
      const decision = (id: string, at: number, status: DecisionRecord['status']): DecisionRecord => ({
        id, target: 'ctl', at, inputs: { signal: 'requests', demand: 1.5, windows: 3, minWindows: 2, stepSeconds: 60, ready: 1, booting: 0, capacityPerUnit: 10, provisioningDelaySteps: 5 },
        forecast: { model: 'm', mean: [1, 2], intervals: [{ level: 90, lo: [0, 1], hi: [2, 3] }] }, scores: null, recommendation: null, steps: [], overrides: ['pin'],
        action: null, status, reason: 'WithinTolerance', message: 'keep', outcome: null, review: null,
      });
      await store.putTarget(target('ctl'));
      await store.putDecision(decision('d1', 1000, 'no-action'));
      await store.putDecision(decision('d2', 2000, 'pending-approval'));
      await store.putDecision({ ...decision('d1', 1000, 'succeeded'), outcome: { taskId: 't', state: 'succeeded', reason: 'ok', at: 1500 } });
      assert.equal((await store.getDecision('d1'))?.status, 'succeeded');
      assert.deepEqual((await store.getDecision('d2'))?.forecast, decision('d2', 2000, 'pending-approval').forecast);
      assert.equal(await store.getDecision('nope'), undefined);
      assert.deepEqual((await store.listDecisions({ target: 'ctl', limit: 10 })).map((d) => d.id), ['d2', 'd1']);
      assert.deepEqual((await store.listDecisions({ target: 'ctl', limit: 10, before: 2000 })).map((d) => d.id), ['d1']);
      assert.deepEqual((await store.listDecisions({ target: 'ctl', limit: 10, status: 'pending-approval' })).map((d) => d.id), ['d2']);
      assert.deepEqual((await store.listDecisions({ target: 'ctl', limit: 1 })).map((d) => d.id), ['d2']);
      const cond = { type: 'Paused' as const, status: 'True' as const, reason: 'PausedByOperator', message: 'm', lastTransitionTime: 5 };
      await store.putCondition('ctl', cond);
      await store.putCondition('ctl', { ...cond, status: 'False', reason: 'NotPaused' });
      assert.deepEqual(await store.listConditions('ctl'), [{ ...cond, status: 'False', reason: 'NotPaused' }]);
      const state = { target: 'ctl', settings: null, overrides: { pause: { actor: 'ann', at: 1, why: 'maintenance', until: 99 } }, units: 3, lastScaleUp: null, updatedAt: 7 };
      await store.putControlState(state);
      await store.putControlState({ ...state, units: 4 });
      assert.deepEqual(await store.getControlState('ctl'), { ...state, units: 4 });
      await store.appendAudit({ id: 'a1', target: 'ctl', at: 1, actor: 'ann', why: 'w', action: 'pause', detail: { forMs: 5 } });
      await store.appendAudit({ id: 'a2', target: 'ctl', at: 2, actor: 'bob', why: 'w', action: 'clear-pause', detail: null });
      assert.deepEqual((await store.listAudit('ctl', 10)).map((a) => a.actor), ['bob', 'ann']);
      // Same millisecond: newest written first, whatever the ids.
      for (const id of ['z', 'a', 'm']) await store.appendAudit({ id: `same-${id}`, target: 'same-ms', at: 7, actor: id, why: 'w', action: 'pause', detail: null });
      assert.deepEqual((await store.listAudit('same-ms', 10)).map((a) => a.actor), ['m', 'a', 'z']);
      await store.deleteTarget('ctl');
      assert.equal(await store.getDecision('d1'), undefined);
      assert.deepEqual(await store.listConditions('ctl'), []);
      assert.equal(await store.getControlState('ctl'), undefined);
      assert.equal((await store.listAudit('ctl', 10)).length, 2);
    });

    test('capacity runs upsert by id, list newest first per target, and go with their target', async (t) => {
      if (skip) return t.skip(skip);
      const run = (id: string, at: number, status: CapacityRun['status']): CapacityRun => ({
        id, target: 'cap', at, trigger: 'manual', actor: 'ann', status, phase: 'p', progress: ['p'], mix: [{ fingerprint: 'select 1 from t where a = $1', weight: 12.5 }],
        shadowRows: [{ table: 'public.t', rows: 10 }], steps: [], figures: null, error: null, endedAt: null,
      });
      await store.putTarget(target('cap'));
      await store.putCapacityRun(run('r1', 1000, 'running'));
      await store.putCapacityRun(run('r2', 2000, 'running'));
      await store.putCapacityRun({ ...run('r1', 1000, 'failed'), error: 'boom', endedAt: 1500 });
      assert.deepEqual(await store.getCapacityRun('r1'), { ...run('r1', 1000, 'failed'), error: 'boom', endedAt: 1500 });
      assert.equal(await store.getCapacityRun('nope'), undefined);
      assert.deepEqual((await store.listCapacityRuns('cap', 10)).map((r) => [r.id, r.status]), [['r2', 'running'], ['r1', 'failed']]);
      assert.deepEqual((await store.listCapacityRuns('cap', 1)).map((r) => r.id), ['r2']);
      assert.deepEqual(await store.listCapacityRuns('other', 10), []);
      await store.deleteTarget('cap');
      assert.deepEqual(await store.listCapacityRuns('cap', 10), []);
    });

    test('anomaly events upsert by id (deduplicated), keep operator triage, filter by state and page', async (t) => {
      if (skip) return t.skip(skip);
      const ev = (start: number, over: Partial<AnomalyEvent> = {}): AnomalyEvent => ({
        id: `an@${start}`, component: 'an', start, end: null, severity: 0.6, triageState: 'open',
        drivers: [{ signal: 'requests', score: 0.6, deviation: 7.5, kind: 'spike' }], ...over,
      });
      await store.putTarget(target('an'));
      await store.putAnomaly('an', ev(1000), 1000);
      // The tracker re-sends the same event as it grows: one row, latest values.
      await store.putAnomaly('an', ev(1000, { severity: 0.9, drivers: [...ev(1000).drivers, { signal: 'cpu', score: 0.4, deviation: 3, kind: 'level-shift' }] }), 2000);
      const one = await store.getAnomaly('an@1000');
      assert.deepEqual(one, { ...ev(1000, { severity: 0.9, drivers: [...ev(1000).drivers, { signal: 'cpu', score: 0.4, deviation: 3, kind: 'level-shift' }] }), target: 'an', kind: 'multivariate', triage: null, updatedAt: 2000 });
      assert.equal(await store.getAnomaly('nope'), undefined);
      // Compare-and-set: only from the expected state.
      assert.equal(await store.setAnomalyTriage('an@1000', 'acknowledged', 'resolved', { actor: 'ann', why: 'x', at: 2500 }), false);
      assert.equal(await store.setAnomalyTriage('an@1000', 'open', 'acknowledged', { actor: 'ann', why: 'looking', at: 2500 }), true);
      assert.equal(await store.setAnomalyTriage('missing', 'open', 'acknowledged', { actor: 'ann', why: 'x', at: 2500 }), false);
      // A later upsert from the loop (still 'open' in its memory) does not undo the acknowledgement...
      await store.putAnomaly('an', ev(1000, { severity: 0.95 }), 3000);
      let got = await store.getAnomaly('an@1000');
      assert.equal(got?.triageState, 'acknowledged');
      assert.deepEqual(got?.triage, { actor: 'ann', why: 'looking', at: 2500 });
      assert.equal(got?.kind, 'spike');
      // ...but closing resolves it, attributed to the system.
      await store.putAnomaly('an', ev(1000, { end: 4000, triageState: 'resolved' }), 5000);
      got = await store.getAnomaly('an@1000');
      assert.equal(got?.end, 4000);
      assert.equal(got?.triageState, 'resolved');
      assert.equal(got?.triage?.actor, 'system');
      // A false-positive verdict survives the close.
      await store.putAnomaly('an', ev(6000), 6000);
      assert.equal(await store.setAnomalyTriage('an@6000', 'open', 'false-positive', { actor: 'bob', why: 'load test', at: 6500 }), true);
      await store.putAnomaly('an', ev(6000, { end: 7000, triageState: 'resolved' }), 8000);
      assert.equal((await store.getAnomaly('an@6000'))?.triageState, 'false-positive');
      await store.putAnomaly('an', ev(9000), 9000);
      assert.deepEqual((await store.listAnomalies({ target: 'an', limit: 10 })).map((a) => a.id), ['an@9000', 'an@6000', 'an@1000']);
      assert.deepEqual((await store.listAnomalies({ target: 'an', limit: 10, state: 'open' })).map((a) => a.id), ['an@9000']);
      assert.deepEqual((await store.listAnomalies({ target: 'an', limit: 1, before: 9000 })).map((a) => a.id), ['an@6000']);
      assert.deepEqual(await store.listAnomalies({ target: 'other', limit: 10 }), []);
      // Open events counted per target, in one read: a target with none is absent.
      await store.putTarget(target('an2'));
      await store.putAnomaly('an2', { ...ev(1000), id: 'an2@1000' }, 1000);
      await store.putAnomaly('an2', { ...ev(2000), id: 'an2@2000' }, 2000);
      await store.putTarget(target('quiet'));
      const counts = await store.openAnomalyCounts();
      assert.deepEqual([counts.an, counts.an2, counts.quiet], [1, 2, undefined]);
      assert.deepEqual(await store.openAnomalyCounts('an2'), { an2: 2 });
      assert.deepEqual(await store.openAnomalyCounts('quiet'), {});
      await store.deleteTarget('an2');
      await store.deleteTarget('quiet');
      await store.deleteTarget('an');
      assert.equal(await store.getAnomaly('an@1000'), undefined);
    });

    test('series count and size are reported', async (t) => {
      if (skip) return t.skip(skip);
      assert.ok((await store.seriesCount()) > 0);
      assert.ok((await store.sizeBytes()) > 0);
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'sp-store-'));
storeSuite('SQLite', async () => new SqliteStore(join(dir, 'shadow.db')), async (store) => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

storeSuite(
  'PostgreSQL',
  async () => (await postgresSkipReason()) ?? new PostgresStore({ url: TEST_PG_URL, schema: uniqueSchema('sp_store') }),
  async (store) => {
    await (store as PostgresStore).dropSchema();
    await store.close();
  },
);

test('an unreachable PostgreSQL is a coded store error, not a crash', async () => {
  const store = new PostgresStore({ url: 'postgres://127.0.0.1:1/none', schema: 'x' });
  await assert.rejects(store.init(), (err: Error & { code?: string }) => err.code === 'SHADOWPLANE_ERR_STORE_UNAVAILABLE');
  await store.close();
});
