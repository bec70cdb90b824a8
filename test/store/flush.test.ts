/**
 * The service's flushes on a real SQLite store (writer thread): requests made together share one
 * flush, and one made while a flush runs gets a flush of its own after it, with what arrived since.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { ShadowStore } from '../../src/store/store.js';
import type { WindowRow } from '../../src/store/window.js';
import { T0, testService } from '../helpers/service.js';
import { until } from '../helpers/wait.js';

/**
 * A real SQLite store that records each writeWindows batch; while `held` is set, a write waits for
 * it before it reaches the store (so a test can look at a flush in the middle of its write).
 */
function recording(path: string): { store: ShadowStore; batches: WindowRow[][]; hold: { held?: Promise<void> } } {
  const batches: WindowRow[][] = [];
  const hold: { held?: Promise<void> } = {};
  const real = new SqliteStore(path);
  const store = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'writeWindows') {
        return async (rows: WindowRow[]) => {
          batches.push([...rows]);
          await hold.held;
          return target.writeWindows(rows);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { store, batches, hold };
}

const key = (r: WindowRow) => `${r.target}/${r.granularity}/${r.dim}/${r.key}/${r.start}`;

test('flushes asked for together are one flush; one asked for during a flush runs after it and writes what came since', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-flush-'));
  const { store, batches } = recording(join(dir, 'windows.db'));
  const h = await testService({}, store);
  try {
    const before = batches.length;
    for (let i = 0; i < 10; i++) h.service.engine.addEvent('orders-db', { op: 'read', table: `t${i}`, bytes: 10, latencyMs: 2, at: T0 + i }, 1);
    const together = [h.service.flush(), h.service.flush(), h.service.flush()];
    assert.ok(together.every((p) => p === together[0]), 'the three requests share one flush');
    await Promise.all(together);
    assert.equal(batches.length, before + 1);
    const first = batches.at(-1)!;
    assert.equal(new Set(first.map(key)).size, first.length, 'each window is written once');
    assert.equal(first.find((r) => r.dim === 'total' && r.granularity === 60)?.count, 10);

    h.service.engine.addEvent('orders-db', { op: 'read', bytes: 10, latencyMs: 2, at: T0 + 100 }, 1);
    const running = h.service.flush();
    await new Promise((resolve) => setImmediate(resolve)); // it has taken its rows and is writing them
    h.service.engine.addEvent('orders-db', { op: 'write', bytes: 10, latencyMs: 2, at: T0 + 200 }, 1);
    const later = [h.service.flush(), h.service.flush()];
    assert.notEqual(later[0], running, 'a flush already writing cannot take what came after it began');
    assert.equal(later[0], later[1]);
    await Promise.all([running, ...later]);
    assert.equal(batches.length, before + 3);
    const totals = batches.slice(-2).map((b) => b.find((r) => r.dim === 'total' && r.granularity === 60)?.count);
    assert.deepEqual(totals, [11, 12]);
    const stored = await h.service.store.queryWindows({ target: 'orders-db', granularity: 60, dim: 'op', key: 'write', from: T0, to: T0 + 60_000 });
    assert.equal(stored[0]?.count, 1, 'the event that came during the first flush is in the store');
  } finally {
    await h.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a flush since a time is skipped when a flush that took its rows at or after it has written them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-flush-'));
  const { store, batches, hold } = recording(join(dir, 'windows.db'));
  const h = await testService({}, store);
  try {
    h.clock.advance(5000);
    h.service.engine.addEvent('orders-db', { op: 'read', bytes: 10, latencyMs: 2, at: h.clock.now() }, 1);
    await h.service.flush();
    const before = batches.length;
    const boundary = h.clock.now();
    h.clock.advance(1000);
    h.service.engine.addEvent('orders-db', { op: 'read', bytes: 10, latencyMs: 2, at: h.clock.now() }, 1);
    await h.service.flushSince(boundary);
    assert.equal(batches.length, before, 'everything before the boundary was written already');
    await h.service.flushSince(h.clock.now());
    assert.equal(batches.length, before + 1, 'what came after the last flush took its rows needs a flush');
    assert.equal(batches.at(-1)!.find((r) => r.dim === 'total' && r.granularity === 60)?.count, 2);

    h.clock.advance(1000);
    h.service.engine.addEvent('orders-db', { op: 'read', bytes: 10, latencyMs: 2, at: h.clock.now() }, 1);
    let release!: () => void;
    hold.held = new Promise((resolve) => (release = resolve));
    const running = h.service.flush();
    await until('the flush has taken its rows and is writing them', () => batches.length === before + 2);
    assert.equal(h.service.flushSince(h.clock.now()), running, 'a flush writing rows taken late enough is joined');
    release();
    await running;
    assert.equal(batches.length, before + 2);
  } finally {
    await h.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
