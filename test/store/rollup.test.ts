import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { VirtualClock } from '../../src/core/clock.js';
import { RollupEngine, type RollupEvent } from '../../src/store/rollup.js';
import { sketchIndex } from '../../src/store/sketch.js';
import { OTHER_KEY, Window, type WindowRow } from '../../src/store/window.js';

const HOUR = 3_600_000;
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % HOUR);

function engine(clock: VirtualClock, topK = 10_000) {
  return new RollupEngine({ granularities: [60, 300, 3600], topK, openKeysPerDimension: 100_000, latenessSeconds: 60 }, clock);
}

const eventArb = fc.record({
  offset: fc.integer({ min: 0, max: HOUR - 1 }),
  op: fc.constantFrom('read', 'write'),
  table: fc.constantFrom('orders', 'users', 'items', 'logs'),
  user: fc.constantFrom('u1', 'u2', 'u3'),
  latencyMs: fc.double({ min: 0, max: 5000, noNaN: true }),
  bytes: fc.integer({ min: 0, max: 100_000 }),
  failed: fc.boolean(),
  rate: fc.constantFrom(1, 0.5, 0.1),
});

function toEvent(e: { offset: number; op: string; table: string; user: string; latencyMs: number; bytes: number; failed: boolean }): RollupEvent {
  return { op: e.op, table: e.table, user: e.user, latencyMs: e.latencyMs, bytes: e.bytes, at: T0 + e.offset, error: e.failed ? 'E1' : undefined };
}

function closeEnough(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

test('a 1 h window rolled up from 1 m and 5 m windows equals aggregating the raw events directly', () => {
  fc.assert(
    fc.property(fc.array(eventArb, { minLength: 1, maxLength: 200 }), (raw) => {
      const clock = new VirtualClock(T0);
      const rollup = engine(clock);
      const direct = new Map<string, Window>();
      const directWindow = (key: string) => {
        let w = direct.get(key);
        if (!w) direct.set(key, (w = new Window(T0, 3600)));
        return w;
      };
      for (const r of [...raw].sort((a, b) => a.offset - b.offset)) {
        const e = toEvent(r);
        clock.advance(Math.max(0, e.at - clock.now()));
        rollup.addEvent('t', e, r.rate);
        for (const key of ['total', `table:${r.table}`, `user:${r.user}`, `op:${r.op}`]) {
          directWindow(key).addRequest(e.at, e.latencyMs, sketchIndex(e.latencyMs), e.bytes, 0, r.failed, 1 / r.rate, r.rate);
        }
      }
      clock.advance(T0 + HOUR + 61_000 - clock.now());
      const rows = rollup.takeFlush().rows.filter((row) => row.granularity === 3600);
      assert.ok(rows.every((row) => row.final));
      for (const row of rows) {
        const key = row.dim === 'total' ? 'total' : `${row.dim}:${row.key}`;
        const want = direct.get(key)!.toRow('t', row.dim, row.key, true);
        assert.equal(row.count, want.count, key);
        assert.equal(row.errors, want.errors, key);
        assert.equal(row.bytes, want.bytes, key);
        assert.ok(closeEnough(row.estCount, want.estCount), `${key} estCount ${row.estCount} vs ${want.estCount}`);
        assert.ok(closeEnough(row.sum, want.sum), key);
        assert.equal(row.min, want.min, key);
        assert.equal(row.max, want.max, key);
        assert.ok(closeEnough(row.peak, want.peak), `${key} peak ${row.peak} vs ${want.peak}`);
        assert.ok(row.sketch.equals(want.sketch), `${key} sketch`);
      }
      assert.equal(rows.length, direct.size);
    }),
    { numRuns: 60 },
  );
});

test('closed windows keep the top K keys and fold the rest into __other__ without losing totals', () => {
  const clock = new VirtualClock(T0);
  const rollup = engine(clock, 3);
  for (let i = 0; i < 100; i++) rollup.addEvent('t', { op: 'read', table: `t${i % 10}`, latencyMs: 1, bytes: 10, at: T0 + i * 100 }, 0.5);
  clock.advance(2 * 60_000 + 1);
  const rows = rollup.takeFlush().rows.filter((r) => r.granularity === 60);
  const tables = rows.filter((r) => r.dim === 'table');
  assert.equal(tables.length, 3);
  assert.ok(tables.some((r) => r.key === OTHER_KEY));
  const total = rows.find((r) => r.dim === 'total')!;
  assert.equal(total.estCount, 200);
  assert.equal(tables.reduce((s, r) => s + r.estCount, 0), total.estCount);
});

test('a window accepts late events until its end plus the lateness, then refuses them', () => {
  const clock = new VirtualClock(T0 + 90_000);
  const rollup = engine(clock);
  assert.equal(rollup.accepts(T0 + 10_000), true); // window [T0, T0+60s) closes at T0+120s
  clock.advance(30_000);
  assert.equal(rollup.accepts(T0 + 10_000), false);
  assert.equal(rollup.accepts(T0 + 61_000), true);
});

test('open windows written by a flush are carried on by a new engine after a restart', () => {
  const clock = new VirtualClock(T0);
  const first = engine(clock);
  for (let i = 0; i < 10; i++) first.addEvent('t', { op: 'read', latencyMs: i, bytes: 1, at: T0 + i }, 1);
  const batch = first.takeFlush();
  batch.done();
  assert.ok(batch.rows.every((r: WindowRow) => !r.final));
  assert.equal(first.takeFlush().rows.length, 0, 'nothing changed since the last flush');

  const second = engine(clock);
  second.restore(batch.rows);
  for (let i = 0; i < 5; i++) second.addEvent('t', { op: 'read', latencyMs: i, bytes: 1, at: T0 + 1000 + i }, 1);
  clock.advance(HOUR + 61_000);
  const rows = second.takeFlush().rows;
  for (const g of [60, 300, 3600]) {
    const total = rows.find((r) => r.granularity === g && r.dim === 'total')!;
    assert.equal(total.count, 15, `granularity ${g}`);
    assert.ok(total.final);
  }
});

test('a failed flush keeps its closed windows for the next flush', () => {
  const clock = new VirtualClock(T0);
  const rollup = engine(clock);
  rollup.addEvent('t', { op: 'read', latencyMs: 1, bytes: 1, at: T0 }, 1);
  clock.advance(121_000);
  const failed = rollup.takeFlush();
  const finalRows = failed.rows.filter((r) => r.final).length;
  assert.ok(finalRows > 0);
  failed.failed();
  const retry = rollup.takeFlush();
  assert.equal(retry.rows.filter((r) => r.final).length, finalRows);
});

/** An engine holding `targets` targets' windows, each with a few keys, in the first minute after T0. */
function fleetEngine(clock: VirtualClock, targets: number): RollupEngine {
  const rollup = engine(clock);
  for (let t = 0; t < targets; t++) {
    for (let i = 0; i < 4; i++) {
      rollup.addEvent(`t${t}`, { op: 'read', table: `tab${i}`, columns: ['a', 'b'], user: `u${(t + i) % 7}`, latencyMs: 1 + i, bytes: 100, at: T0 + i * 1000 }, 1);
    }
  }
  return rollup;
}

const rowKey = (r: WindowRow) => `${r.target}/${r.granularity}/${r.dim}/${r.key}/${r.start}/${r.final}`;

test('a sliced flush lets the event loop run between slices and returns every row a whole flush would', async () => {
  const clock = new VirtualClock(T0 + 30_000);
  const whole = fleetEngine(clock, 300).takeFlush().rows;
  const sliced = fleetEngine(clock, 300);
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  const batch = await sliced.takeFlushSliced(0);
  clearInterval(ticker);
  assert.ok(turns > 0, 'timers ran while the flush was being built');
  assert.equal(batch.rows.length, whole.length);
  const byKey = new Map(whole.map((r) => [rowKey(r), r]));
  for (const row of batch.rows) assert.deepEqual(row, byKey.get(rowKey(row)));
  batch.done();
  assert.equal(sliced.takeFlush().rows.length, 0, 'nothing is left to write after done()');
});

test('a window changed while a sliced flush runs is written again by the next flush; closed windows are taken once', async () => {
  const clock = new VirtualClock(T0);
  const rollup = fleetEngine(clock, 50);
  clock.advance(2 * 60_000); // the first minute's windows are due to close
  const flushing = rollup.takeFlushSliced(0);
  // lands between slices, after t0 (the first target, built in the first slice) was taken
  await new Promise((resolve) => setImmediate(resolve));
  rollup.addEvent('t0', { op: 'write', latencyMs: 3, bytes: 1, at: clock.now() }, 1);
  const batch = await flushing;
  const finals = batch.rows.filter((r) => r.final && r.granularity === 60);
  assert.equal(new Set(finals.map(rowKey)).size, finals.length);
  assert.equal(new Set(finals.map((r) => r.target)).size, 50, 'every target closed its minute');
  batch.done();
  const next = rollup.takeFlush().rows;
  const total = next.find((r) => r.target === 't0' && r.granularity === 60 && r.dim === 'total');
  assert.equal(total?.count, 1, 'the event after the flush began is written by the next one');
  assert.ok(next.every((r) => !r.final), 'no closed window is written twice');
});

test('flushes that reuse a settled flush\'s memory each write exactly their own windows', () => {
  const clock = new VirtualClock(T0 + 30_000);
  const rollup = fleetEngine(clock, 30);
  const first = rollup.takeFlush();
  assert.ok(first.rows.length > 3);
  first.done();
  const writes: string[][] = [];
  for (let i = 0; i < 4; i++) {
    // A different, smaller batch each time: nothing of a larger one before may show through.
    rollup.addEvent(`t${i}`, { op: 'read', user: `late${i}`, latencyMs: 7, bytes: 1, at: clock.now() }, 1);
    const batch = rollup.takeFlush();
    writes.push(batch.windows.rows().map((r) => `${r.target}/${r.granularity}/${r.dim}/${r.key}/${r.count}`).sort());
    batch.done();
  }
  writes.forEach((rows, i) => {
    const total = rows.filter((r) => r.startsWith(`t${i}/60/total/`));
    assert.equal(total.length, 1, rows.join(' '));
    assert.ok(rows.includes(`t${i}/60/user/late${i}/1`), rows.join(' '));
    assert.ok(rows.every((r) => r.startsWith(`t${i}/`)), `only t${i}'s sets changed: ${rows.join(' ')}`);
  });
});

test('a failed sliced flush keeps its closed windows for the next one', async () => {
  const clock = new VirtualClock(T0);
  const rollup = fleetEngine(clock, 20);
  clock.advance(2 * 60_000);
  const failed = await rollup.takeFlushSliced(0);
  const closed = failed.rows.filter((r) => r.final).map(rowKey).sort();
  assert.ok(closed.length > 0);
  failed.failed();
  const retry = await rollup.takeFlushSliced(40);
  assert.deepEqual(retry.rows.filter((r) => r.final).map(rowKey).sort(), closed);
});

test('a window\'s peak is the most estimated requests in one second, however many seconds it saw and however it was merged', () => {
  const request = fc.record({ second: fc.integer({ min: 0, max: 59 }), ms: fc.integer({ min: 0, max: 999 }), rate: fc.constantFrom(1, 0.5, 0.3) });
  fc.assert(
    fc.property(fc.array(request, { maxLength: 120 }), fc.array(request, { maxLength: 120 }), (mine, theirs) => {
      const perSecond = new Map<number, number>();
      const fill = (requests: typeof mine) => {
        const w = new Window(T0, 60);
        for (const r of requests) {
          w.addRequest(T0 + r.second * 1000 + r.ms, 1, 0, 0, 0, false, 1 / r.rate, r.rate);
          perSecond.set(r.second, (perSecond.get(r.second) ?? 0) + 1 / r.rate);
        }
        return w;
      };
      // Per-second estimates are kept as float32s: up to 240 roundings of 2^-24 each.
      const closeToFloat32 = (x: number, y: number) => Math.abs(x - y) <= 240 * 2 ** -24 * Math.max(1, y);
      const a = fill(mine);
      const alone = Math.max(0, ...perSecond.values());
      assert.ok(closeToFloat32(a.peak, alone), `peak ${a.peak} vs ${alone}`);
      a.merge(fill(theirs));
      const merged = Math.max(0, ...perSecond.values());
      assert.ok(closeToFloat32(a.peak, merged), `merged peak ${a.peak} vs ${merged}`);
    }),
  );
});
