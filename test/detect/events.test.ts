import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventTracker, withTriage } from '../../src/detect/events.js';
import type { AnomalyEventSink } from '../../src/detect/events.js';
import type { AnomalyEvent, ComponentScore, Driver } from '../../src/model/detect.js';
import { isCoded } from '../../src/core/errors.js';
import { MIN, T0 } from './synth.js';

function score(value: number, drivers: Driver[] = []): ComponentScore {
  return { value, ready: true, reason: { signal: drivers[0]?.signal ?? '', expected: 0, observed: 0, deviation: 0, kind: 'spike' }, drivers };
}
const d = (signal: string, s: number): Driver => ({ signal, score: s, deviation: 8, kind: 'spike' });

class MemorySink implements AnomalyEventSink {
  readonly byId = new Map<string, AnomalyEvent>();
  upsert(e: AnomalyEvent): void {
    this.byId.set(e.id, e);
  }
}

test('one event per episode, drivers of all signals merged, closed after the quiet time', () => {
  const sink = new MemorySink();
  const tr = new EventTracker(sink, { quietMs: 5 * MIN });
  const seq: [number, Driver[]][] = [
    [0.1, []],
    [0.7, [d('cpu', 0.7)]],
    [0.9, [d('latency', 0.9), d('cpu', 0.6)]],
    [0.4, [d('cpu', 0.4)]], // between close and open threshold: still the same event
    [0.2, []],
    [0.1, []],
    [0.6, [d('errors', 0.6)]], // back within the quiet time: same event
    [0.1, []],
    [0.1, []],
    [0.1, []],
    [0.1, []],
    [0.1, []],
    [0.1, []],
  ];
  seq.forEach(([v, ds], i) => tr.observe('db-1', T0 + i * MIN, score(v, ds)));
  assert.equal(sink.byId.size, 1);
  const e = [...sink.byId.values()][0];
  assert.equal(e.component, 'db-1');
  assert.equal(e.start, T0 + MIN);
  assert.equal(e.end, T0 + 6 * MIN);
  assert.equal(e.severity, 0.9);
  assert.deepEqual(e.drivers.map((x) => x.signal), ['latency', 'cpu', 'errors']);
  assert.equal(e.triageState, 'resolved');
  assert.equal(tr.openEvents().length, 0);
  // A new episode is a new event.
  tr.observe('db-1', T0 + 20 * MIN, score(0.8, [d('cpu', 0.8)]));
  assert.equal(sink.byId.size, 2);
});

test('components are tracked separately; not-ready scores are ignored', () => {
  const tr = new EventTracker();
  tr.observe('a', T0, score(0.9));
  tr.observe('b', T0, { ...score(0.9), ready: false });
  assert.deepEqual(tr.openEvents().map((e) => e.component), ['a']);
});

test('triage transitions: allowed ones apply, others are coded triage-state errors', () => {
  const sink = new MemorySink();
  const tr = new EventTracker(sink, { quietMs: MIN });
  tr.observe('a', T0, score(0.9));
  assert.equal(tr.triage('a', 'acknowledged').triageState, 'acknowledged');
  assert.throws(() => tr.triage('a', 'open'), (err) => isCoded(err, 'SHADOWPLANE_ERR_TRIAGE_STATE'));
  tr.triage('a', 'false-positive');
  tr.observe('a', T0 + 2 * MIN, score(0.1));
  tr.observe('a', T0 + 3 * MIN, score(0.1));
  const closed = [...sink.byId.values()][0];
  assert.equal(closed.triageState, 'false-positive', 'closing keeps a false-positive verdict');
  assert.throws(() => withTriage(closed, 'resolved'), (err) => isCoded(err, 'SHADOWPLANE_ERR_TRIAGE_STATE'));
  assert.throws(() => tr.triage('zzz', 'acknowledged'), (err) => isCoded(err, 'SHADOWPLANE_ERR_NOT_FOUND'));
  assert.throws(() => new EventTracker(null, { openThreshold: 0.3, closeThreshold: 0.5 }), RangeError);
});

test('restore: an open event handed over continues (same id, triage kept); a long unobserved stretch or a newer event closes it', () => {
  const first = new MemorySink();
  const before = new EventTracker(first, { quietMs: 5 * MIN });
  before.observe('db-1', T0, score(0.8, [d('cpu', 0.8)]));
  before.observe('db-1', T0 + MIN, score(0.6, [d('cpu', 0.6)]));
  const open = withTriage(before.openEvents()[0], 'acknowledged');
  assert.equal(open.lastAnomalous, T0 + MIN, 'the last anomalous point is kept current on the event');

  // Taken over right away: the anomaly goes on in the same event, with its triage state.
  const sink = new MemorySink();
  const after = new EventTracker(sink, { quietMs: 5 * MIN });
  assert.equal(after.restore(open, T0 + 2 * MIN, T0 + 2 * MIN), null);
  after.observe('db-1', T0 + 3 * MIN, score(0.9, [d('latency', 0.9)]));
  const continued = sink.byId.get(open.id)!;
  assert.equal(continued.start, T0);
  assert.equal(continued.lastAnomalous, T0 + 3 * MIN);
  assert.equal(continued.severity, 0.9);
  assert.equal(continued.triageState, 'acknowledged');
  assert.deepEqual(continued.drivers.map((x) => x.signal), ['latency', 'cpu']);
  // ...and when it ends, it closes at its last anomalous point as usual.
  for (let i = 4; i <= 9; i++) after.observe('db-1', T0 + i * MIN, score(0.1));
  assert.equal(sink.byId.get(open.id)!.end, T0 + 3 * MIN);
  assert.equal(sink.byId.get(open.id)!.triageState, 'resolved');
  assert.equal(sink.byId.size, 1);

  // Unobserved for longer than the quiet time: closed at its last anomalous point, a new anomaly is a new event.
  const late = new MemorySink();
  const down = new EventTracker(late, { quietMs: 5 * MIN });
  const closed = down.restore(open, T0 + 2 * MIN, T0 + 2 * MIN + 5 * MIN + 1)!;
  assert.equal(closed.end, T0 + MIN);
  assert.equal(closed.triageState, 'resolved');
  down.observe('db-1', T0 + 8 * MIN, score(0.9));
  assert.deepEqual([...late.byId.keys()], [open.id, `db-1@${T0 + 8 * MIN}`]);

  // Two events of one component still open (an earlier duplicate): the later one is kept, the other closed.
  const dup = new EventTracker(null, { quietMs: 5 * MIN });
  const older = { ...open, id: 'db-1@0', start: T0 - 60 * MIN, lastAnomalous: T0 - 59 * MIN };
  assert.equal(dup.restore(older, T0 + 2 * MIN, T0 + 2 * MIN), null);
  assert.equal(dup.restore(open, T0 + 2 * MIN, T0 + 2 * MIN)?.id, 'db-1@0');
  assert.equal(dup.restore({ ...older, id: 'db-1@1' }, T0 + 2 * MIN, T0 + 2 * MIN)?.end, T0 - 59 * MIN);
  assert.deepEqual(dup.openEvents().map((e) => e.id), [open.id]);
  // An event that has ended is not taken back.
  assert.equal(dup.restore({ ...open, id: 'x', end: T0 }, T0, T0), null);
  assert.deepEqual(dup.openEvents().map((e) => e.id), [open.id]);
});
